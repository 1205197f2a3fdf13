"""Labels through the `electra-tfx` command: class ids in natural order, and stray labels.

* Integer labels 0, 1, 2, 10, the most frequent last: the served model's `label_ids` are the
  labels' positions in the model card's label list, which is 0, 1, 2, 10 (not the frequency
  order 10, 2, 1, 0 that Transform's vocabulary used to have).
* A label in a tiny share of rows ('7', 'positive' among 0/1) is reported before training with
  its rows and the `--labels` flag to pass; with that flag the stray rows are bad rows.
"""
import json
import random
import re
import shlex

import pytest

from tests import fixtures
from tests.e2e_support import TINY_ARGS, run_cli, serve

pytestmark = pytest.mark.slow

# Class -> keyword; the counts put the frequency order (10, 2, 1, 0) against the natural one.
KEYWORDS = {0: "apple", 1: "banana", 2: "cherry", 10: "grape"}
COUNTS = {0: 100, 1: 140, 2: 180, 10: 240}


def _keyword_rows(counts, seed):
    rng = random.Random(seed)
    rows = []
    for label, n in counts.items():
        for _ in range(n):
            words = rng.sample(fixtures.FILLER, 4) + [KEYWORDS[label]]
            rng.shuffle(words)
            rows.append((" ".join(words), label))
    rng.shuffle(rows)
    return rows


@pytest.fixture(scope="module")
def keyword_checkpoint(tmp_path_factory):
    from pipeline_config import ModelConfig
    from trainer.checkpoint import build_scratch_checkpoint
    texts = [t for t, _ in _keyword_rows(COUNTS, seed=1)]
    config = ModelConfig(scratch_vocab_size=200, scratch_hidden_size=32, scratch_num_layers=1,
                         scratch_num_heads=2, scratch_intermediate_size=64)
    return build_scratch_checkpoint(texts, str(tmp_path_factory.mktemp("ckpt") / "tiny"), config)


def test_integer_labels_are_served_with_ids_in_numeric_order(tmp_path, keyword_checkpoint):
    # JSON Lines integers: int64 labels, turned into "0", "1", ... by Transform.
    train = fixtures.write_jsonl(tmp_path / "train.jsonl", _keyword_rows(COUNTS, seed=2))
    output = tmp_path / "out"
    # A plumbing test of the ids (a tiny random model may not learn every class): the bar is
    # lowered so that the model is pushed with its card.
    proc = run_cli("--train", str(train), "--checkpoint", keyword_checkpoint,
                   "--output", str(output), *TINY_ARGS, "--epochs", "10",
                   "--set", "eval.simple_baseline=false", "--set", "eval.min_accuracy=0")
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-5000:]
    assert "Suspect labels" not in proc.stderr
    (vocabulary,) = (output / "artifacts" / "Transform").glob(
        "transform_graph/*/transform_fn/assets/label")
    assert vocabulary.read_text().splitlines() == ["0", "1", "2", "10"]
    (version,) = (output / "serving" / "electra_classifier").iterdir()
    card = json.loads((version / "model_card.json").read_text())
    assert card["label_set"] == ["0", "1", "2", "10"]
    assert "`0`, `1`, `2`, `10` (in class id order" in (version / "model_card.md").read_text()

    texts = {label: f"this was {keyword} really" for label, keyword in KEYWORDS.items()}
    result = serve(version, f"""
        texts = {list(texts.values())!r}
        out = model.signatures["serve_text"](text=tf.constant(texts))
        print(json.dumps({{"labels": [l.decode() for l in out["labels"].numpy()],
                          "label_ids": out["label_ids"].numpy().tolist(),
                          "probabilities": out["probabilities"].numpy().tolist()}}))
    """)
    confident = 0
    for truth, label, label_id, probabilities in zip(texts, result["labels"],
                                                      result["label_ids"],
                                                      result["probabilities"]):
        # Column i of `probabilities` and id i are the card's i-th label.
        assert label_id == card["label_set"].index(label)
        assert probabilities.index(max(probabilities)) == label_id
        if max(probabilities) > 0.9:  # what the model learned, it answers with the right name
            confident += 1
            assert label == str(truth), result
    assert confident >= 2, result


def _hint(stderr: str) -> list:
    """The `--labels ...` the warning tells the user to pass, as argv words."""
    match = re.search(r"If they are mistakes, declare the labels;.*\n\s+(--labels .+)\n", stderr)
    assert match, stderr[-3000:]
    return shlex.split(match.group(1))


def test_stray_labels_are_reported_and_the_hint_makes_them_bad_rows(tmp_path,
                                                                    keyword_checkpoint):
    rows = fixtures.sentiment_rows(413, seed=3, label_names=("0", "1"))
    # Two strays, and one row without text: with --on-bad-rows fail (the default) that row
    # stops each run at the ExampleGen, after the warnings and before training.
    rows = (rows[:100] + [("A stray seven", "7")] + rows[100:300] + [("Loved it", "positive")]
            + rows[300:] + [("", "1")])
    train = fixtures.write_csv(tmp_path / "reviews.csv", rows)
    common = ["--train", str(train), "--checkpoint", keyword_checkpoint, *TINY_ARGS]

    proc = run_cli(*common, "--output", str(tmp_path / "first"))
    assert proc.returncode == 2, proc.stdout[-2000:] + proc.stderr[-3000:]
    warning = proc.stderr[proc.stderr.index("Suspect labels"):]
    assert warning.startswith(f"Suspect labels in {train}: 2 label value(s) in a tiny share of "
                              "the 415 training rows")
    assert "'7': 1 row(s)" in warning and f"- {train} row 102" in warning
    assert "'positive': 1 row(s)" in warning and f"- {train} row 303" in warning
    # Printed before the run stopped on its one bad row (the strays are not bad rows yet).
    assert warning.index("Suspect labels") < warning.index("1 of 416 rows are bad")
    hint = _hint(proc.stderr)
    assert hint == ["--labels", "0,1"]

    proc = run_cli(*common, *hint, "--output", str(tmp_path / "second"))
    assert proc.returncode == 2, proc.stdout[-2000:] + proc.stderr[-3000:]
    assert "Suspect labels" not in proc.stderr
    assert "3 of 416 rows are bad; the run stopped before training" in proc.stderr
    assert (f"  - {train} row 102: the label '7' is not one of the declared labels "
            "(--labels 0,1)") in proc.stderr
    assert (f"  - {train} row 303: the label 'positive' is not one of the declared labels "
            "(--labels 0,1)") in proc.stderr
