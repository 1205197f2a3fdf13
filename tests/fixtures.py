"""Small, learnable data sets for pipeline tests (no downloads)."""
import csv
import json
import pathlib
import random
from typing import List, Tuple

POSITIVE = ["great", "excellent", "wonderful", "lovely", "fantastic", "superb", "good", "happy"]
NEGATIVE = ["awful", "terrible", "horrible", "bad", "poor", "dreadful", "sad", "boring"]
NOUNS = ["movie", "phone", "meal", "service", "book", "hotel", "battery", "screen", "song", "game"]
FILLER = ["the", "this", "was", "really", "quite", "a", "very", "and", "it", "is", "my", "our"]


def sentiment_rows(n: int, seed: int = 0, label_names=("neg", "pos")) -> List[Tuple[str, str]]:
    """Template sentences whose label is given by a sentiment word in them."""
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        label = i % 2
        word = rng.choice(POSITIVE if label else NEGATIVE)
        words = rng.sample(FILLER, 3) + [rng.choice(NOUNS), word] + rng.sample(FILLER, 2)
        rng.shuffle(words)
        rows.append((" ".join(words).capitalize() + rng.choice([".", "!", "", "?"]), label_names[label]))
    return rows


def write_csv(path: pathlib.Path, rows, header=("text", "label")) -> pathlib.Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def write_jsonl(path: pathlib.Path, rows, keys=("text", "label")) -> pathlib.Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        for row in rows:
            f.write(json.dumps(dict(zip(keys, row))) + "\n")
    return path
