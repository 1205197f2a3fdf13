"""The gate's worst cases through the `electra-tfx` command: a model that did not learn is never
blessed, whatever the checkpoint, and the run says so with exit code 3 and pushes nothing.

Seen before the gate was fixed: an untrained model predicting one class was blessed on a split
whose majority was higher than the training split's, and scratch checkpoints were excused from
beating the simple baseline.
"""
import random

import pytest

from tests import fixtures
from tests.e2e_support import TINY_ARGS, build_tiny_checkpoint, run_cli

pytestmark = pytest.mark.slow

# A model that does not move from its initialisation: one step at a negligible rate.
UNTRAINED = ["--epochs", "1", "--set", "train.steps_per_epoch=1", "--learning-rate", "1e-9"]


@pytest.fixture(scope="module")
def tiny_checkpoint(tmp_path_factory):
    return build_tiny_checkpoint(tmp_path_factory)


def _imbalanced_eval(root):
    """90/10 labels in the eval file; balanced training."""
    rows = fixtures.sentiment_rows(200, seed=11)
    neg = [r for r in rows if r[1] == "neg"][:54]
    pos = [r for r in rows if r[1] == "pos"][:6]
    return fixtures.write_csv(root / "eval.csv", neg + pos)


def _assert_refused(proc, output, *rules):
    assert proc.returncode == 3, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "NOT BLESSED" in proc.stdout, proc.stdout[-3000:]
    assert any(f"decided by the rule '{rule}'" in proc.stdout for rule in rules), proc.stdout[-3000:]
    assert "Nothing pushed." in proc.stdout
    assert not (output / "serving").exists() or not any((output / "serving").rglob("saved_model.pb"))


def test_untrained_scratch_model_on_a_90_10_eval_split_is_not_blessed(tmp_path, tiny_checkpoint):
    train = fixtures.write_csv(tmp_path / "train.csv", fixtures.sentiment_rows(240, seed=2))
    output = tmp_path / "out"
    # The simple baseline off: the trivial model must fail on the absolute and chance rules
    # alone, not only because TF-IDF beats it.
    proc = run_cli("--train", str(train), "--eval", str(_imbalanced_eval(tmp_path)),
                   "--checkpoint", tiny_checkpoint, "--output", str(output), *TINY_ARGS,
                   *UNTRAINED, "--set", "eval.simple_baseline=false")
    _assert_refused(proc, output, "absolute bar", "above chance")
    # The bar is the eval split's majority rate (54 of 60), shown with what it was measured on.
    assert "must be above 0.9 (the eval split's majority-class rate: 'neg' in 54 of 60 rows)" \
        in proc.stdout, proc.stdout[-3000:]
    assert "above chance: FAILED" in proc.stdout


def test_shuffled_labels_are_not_blessed(tmp_path, tiny_checkpoint):
    rows = fixtures.sentiment_rows(480, seed=2)
    labels = [label for _, label in rows]
    random.Random(7).shuffle(labels)
    train = fixtures.write_csv(tmp_path / "train.csv",
                               [(text, label) for (text, _), label in zip(rows, labels)])
    output = tmp_path / "out"
    # Trained as usual; the baseline off: the bars alone must refuse what learned only noise.
    proc = run_cli("--train", str(train), "--checkpoint", tiny_checkpoint, "--output",
                   str(output), *TINY_ARGS, "--set", "eval.simple_baseline=false")
    _assert_refused(proc, output, "absolute bar", "above chance")


def test_untrained_pretrained_model_is_not_blessed(tmp_path, shared_checkpoint):
    """A real pretrained encoder with an untrained head ranks no better than chance."""
    train = fixtures.write_csv(tmp_path / "train.csv", fixtures.sentiment_rows(160, seed=4))
    output = tmp_path / "out"
    proc = run_cli("--train", str(train), "--checkpoint", str(shared_checkpoint), "--output",
                   str(output), "--max-seq-length", "24", "--batch-size", "16", *UNTRAINED,
                   "--set", "train.bucket_boundaries=8,12", "--set", "eval.simple_baseline=false")
    _assert_refused(proc, output, "absolute bar", "above chance")
