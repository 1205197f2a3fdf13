"""One `--quick` pipeline run on the packaged encoder with `--tune` and `--predict`: the Tuner
runs before the Trainer and the Trainer takes the best trial's epochs; the blessed model then
scores a folder of new files with TFX's BulkInferrer. (One run for both: each is a whole
pipeline run, the slowest kind of test.)"""
import gzip
import json
import re

import pytest

from tests import fixtures
from tests.e2e_support import run_cli

pytestmark = pytest.mark.slow


def _jsonl(path, rows):
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))


@pytest.fixture(scope="module")
def run(shared_checkpoint, tmp_path_factory):
    root = tmp_path_factory.mktemp("tune_predict")
    train = fixtures.write_csv(root / "train.csv", fixtures.sentiment_rows(300, seed=3))
    (root / "new").mkdir()
    # 30 rows and a blank one: under the 5% of bad rows that quarantine allows.
    texts = [text for text, _ in fixtures.sentiment_rows(30, seed=11)]
    _jsonl(root / "new" / "a.jsonl", [{"text": t, "id": i} for i, t in enumerate(texts[:20])]
           + [{"text": "", "id": 99}])
    with gzip.open(root / "new" / "b.jsonl.gz", "wt") as f:
        for i, text in enumerate(texts[20:], 20):
            f.write(json.dumps({"text": text, "id": i}) + "\n")
    output = root / "out"
    # Two short trials in ranges where either trial's values train the encoder past the
    # absolute and chance bars. On these easy sentences the TF-IDF baseline can score 1.0, which
    # no candidate beats: the rule is waived (what is tested here is the path, not the margin).
    proc = run_cli("--quick", "--train", str(train), "--checkpoint", str(shared_checkpoint),
                   "--tune", "--tune-trials", "2", "--set", "tune.steps_per_trial=2",
                   "--set", "tune.learning_rate_range=5e-4,1e-3",
                   "--set", "tune.layer_decay_range=0.9,1.0",
                   "--set", "tune.epochs_values=2,3", "--set", "tune.batch_size_values=16",
                   "--no-require-beat-baseline",
                   "--predict", str(root / "new"), "--on-bad-rows", "quarantine",
                   "--output", str(output))
    return proc, output


def test_the_tuner_runs_before_the_trainer_which_takes_the_best_trial(run):
    proc, output = run
    log = proc.stdout + proc.stderr
    assert proc.returncode == 0, log[-4000:]
    assert re.search(r"\[\s*\d+/\d+\] Tuner done", proc.stdout), proc.stdout[-3000:]
    assert proc.stdout.index("Tuner done") < proc.stdout.index("] Trainer ...")
    assert "Tuning: trial 2/2: accuracy" in proc.stdout
    summary = " ".join(proc.stdout[proc.stdout.index("Tuned (--tune"):].split())
    assert summary.startswith("Tuned (--tune): 2 trials of random search, at most 2 training "
                              "steps each, scored by accuracy on 20% of the training split")
    epochs = int(re.search(r"the Trainer used .*?epochs (\d)", summary).group(1))
    assert epochs in (2, 3)
    assert f"Training: Epoch {epochs}/{epochs}" in proc.stdout
    assert f"Training: Epoch {epochs + 1}/" not in proc.stdout
    report = (output / "quick" / "report" / "index.html").read_text()
    assert "Tuning (--tune)" in report and "tuning_trials.png" in report


def test_the_blessed_model_writes_prediction_logs_and_a_readable_copy(run):
    from tensorflow_serving.apis import prediction_log_pb2
    import tensorflow as tf
    proc, output = run
    log = proc.stdout + proc.stderr
    assert proc.returncode == 0, log[-4000:]
    assert "BulkInferrer done" in proc.stdout and "PredictionsExport done" in proc.stdout
    assert proc.stdout.index("blessing_gate done") < proc.stdout.index("BulkInferrer ...")
    predictions = output / "quick" / "predictions"
    rows = sorted((json.loads(line) for line in open(predictions / "predictions.jsonl")),
                  key=lambda r: r["id"])
    assert [r["id"] for r in rows] == list(range(30))  # the blank row was set aside
    assert all(r["labels"] in ("neg", "pos") and len(r["probabilities"]) == 2 for r in rows)
    # A blessed model on easy sentences: its labels follow the sentiment words.
    expected = [label for _, label in fixtures.sentiment_rows(30, seed=11)]
    assert sum(r["labels"] == e for r, e in zip(rows, expected)) >= 20
    logs = list(predictions.glob("prediction_logs-*.gz"))
    records = [prediction_log_pb2.PredictionLog.FromString(r.numpy())
               for path in logs for r in tf.data.TFRecordDataset(str(path), "GZIP")]
    assert len(records) == 30
    assert {r.predict_log.request.model_spec.signature_name for r in records} == {"bulk_inference"}
    # serving_default's [batch] string outputs, with the trailing axis tfx_bsl needs.
    assert all(list(r.predict_log.response.outputs["labels"].tensor_shape.dim[i].size
                    for i in range(2)) == [1, 1] for r in records)
