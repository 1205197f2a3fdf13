"""The whole pipeline, end to end, through the `electra-tfx` command a user runs.

Small data, a tiny ELECTRA built with save_pretrained (no downloads), a few epochs: the pushed
SavedModel must answer correctly in a fresh process that imports only TensorFlow and TF Text.
"""
import json
import pathlib
import subprocess
import sys
import textwrap

import pytest

from tests import fixtures

pytestmark = pytest.mark.slow

CLI = str(pathlib.Path(sys.executable).parent / "electra-tfx")
# A 1-layer random-init ELECTRA needs a high learning rate and ~200 steps to leave its plateau.
TINY_ARGS = ["--epochs", "6", "--batch-size", "16", "--learning-rate", "1e-2",
             "--max-seq-length", "24", "--set", "train.layer_decay=1.0",
             "--set", "train.bucket_boundaries=8,12"]


def run_cli(*args, timeout=900):
    proc = subprocess.run([CLI, "run", *args], capture_output=True, text=True, timeout=timeout)
    return proc


@pytest.fixture(scope="module")
def tiny_checkpoint(tmp_path_factory):
    """A 1-layer ELECTRA with a WordPiece vocabulary learned from the fixture sentences."""
    from pipeline_config import ModelConfig
    from trainer.checkpoint import build_scratch_checkpoint
    out = tmp_path_factory.mktemp("ckpt") / "tiny"
    texts = [t for t, _ in fixtures.sentiment_rows(400, seed=1)]
    config = ModelConfig(scratch_vocab_size=400, scratch_hidden_size=32, scratch_num_layers=1,
                         scratch_num_heads=2, scratch_intermediate_size=64)
    return build_scratch_checkpoint(texts, str(out), config)


@pytest.fixture(scope="module")
def first_run(tmp_path_factory, tiny_checkpoint):
    root = tmp_path_factory.mktemp("e2e")
    train = fixtures.write_csv(root / "data" / "train.csv", fixtures.sentiment_rows(480, seed=2))
    output = root / "out"
    proc = run_cli("--train", str(train), "--checkpoint", tiny_checkpoint,
                   "--output", str(output), *TINY_ARGS)
    return root, train, output, proc


def _serve(model_dir, code):
    """Runs `code` against the SavedModel in a fresh interpreter: TensorFlow and TF Text only."""
    script = textwrap.dedent("""
        import json, sys
        import tensorflow as tf
        import tensorflow_text  # noqa: F401
        assert "transformers" not in sys.modules
        model = tf.saved_model.load(sys.argv[1])
    """) + textwrap.dedent(code) + textwrap.dedent("""
        assert not any(m.split(".")[0] in ("transformers", "trainer", "pipeline", "components")
                       for m in sys.modules), "the served model needed project code"
    """)
    proc = subprocess.run([sys.executable, "-c", script, str(model_dir)], capture_output=True,
                          text=True, timeout=300, env={"TF_CPP_MIN_LOG_LEVEL": "2", "PATH": "/usr/bin:/bin"})
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_run_is_blessed_and_pushed(first_run):
    _, _, output, proc = first_run
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-5000:]
    assert "BLESSED" in proc.stdout and "NOT BLESSED" not in proc.stdout, proc.stdout[-2000:]
    versions = list((output / "serving" / "electra_classifier").iterdir())
    assert len(versions) == 1 and versions[0].name.isdigit()
    assert (versions[0] / "saved_model.pb").exists()
    assert (output / "metadata.sqlite").exists()
    assert f"Pushed to {versions[0]}" in proc.stdout
    # Keras progress on the console, TensorBoard logs and the history in the run's output.
    assert "Epoch 6/6" in proc.stdout
    (run_dir,) = (output / "artifacts" / "Trainer" / "model_run").iterdir()
    assert list(run_dir.rglob("events.out.tfevents.*"))
    history = json.loads((run_dir / "history.json").read_text())
    assert history["history"]["loss"][-1] < history["history"]["loss"][0]


def test_pushed_model_answers_raw_text(first_run):
    _, _, output, _ = first_run
    (version,) = (output / "serving" / "electra_classifier").iterdir()
    held_out = fixtures.sentiment_rows(60, seed=99)
    result = _serve(version, f"""
        texts = {[t for t, _ in held_out]!r}
        fn = model.signatures["serve_text"]
        out = fn(text=tf.constant(texts))
        example = tf.train.Example()
        example.features.feature["text"].bytes_list.value.append(texts[0].encode())
        by_example = model.signatures["serving_default"](
            examples=tf.constant([example.SerializeToString()]))
        print(json.dumps({{
            "labels": [l.decode() for l in out["labels"].numpy()],
            "label_ids": out["label_ids"].numpy().tolist(),
            "probabilities": out["probabilities"].numpy().tolist(),
            "example_probabilities": by_example["probabilities"].numpy().tolist(),
            "signatures": sorted(model.signatures.keys()),
            "text_inputs": list(fn.structured_input_signature[1].keys()),
            "dtypes": {{k: v.dtype.name for k, v in out.items()}},
        }}))
    """)
    assert {"serving_default", "serve_text"} <= set(result["signatures"])
    assert result["text_inputs"] == ["text"]
    assert result["dtypes"] == {"labels": "string", "label_ids": "int64", "probabilities": "float32"}
    accuracy = sum(p == y for p, (_, y) in zip(result["labels"], held_out)) / len(held_out)
    assert accuracy >= 0.9, (accuracy, result["labels"][:10])
    for probs, label_id in zip(result["probabilities"], result["label_ids"]):
        assert abs(sum(probs) - 1) < 1e-4 and probs.index(max(probs)) == label_id
    assert result["example_probabilities"][0] == pytest.approx(result["probabilities"][0], abs=1e-5)


def _signature_names(saved_model_dir) -> list:
    from tensorflow.core.protobuf import saved_model_pb2
    proto = saved_model_pb2.SavedModel()
    proto.ParseFromString((saved_model_dir / "saved_model.pb").read_bytes())
    return sorted(proto.meta_graphs[0].signature_def)


def test_baseline_is_trained_and_evaluated_beside_the_candidate(first_run):
    _, _, output, proc = first_run
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-5000:]
    from components import blessing_gate
    from pipeline.run_record import read_run
    record = read_run(str(output / "metadata.sqlite"))
    for component in ("baseline_trainer", "baseline_evaluator", "blessing_gate"):
        assert record.state_of(component) == "ran", (component, record.components)
    # Same signatures as the candidate, so TFMA evaluated both on the same eval split.
    baseline_dir = pathlib.Path(record.simple_baseline_model_uri) / "Format-Serving"
    candidate_dir = pathlib.Path(record.model_uri) / "Format-Serving"
    assert _signature_names(baseline_dir) == _signature_names(candidate_dir)
    assert {"serving_default", "serve_text"} <= set(_signature_names(baseline_dir))
    baseline, candidate = record.simple_baseline_metrics, record.candidate_metrics
    assert baseline["example_count"] == candidate["example_count"] > 0
    # The template sentences are a bag-of-words problem: the baseline learns them.
    assert baseline["sparse_categorical_accuracy"] >= 0.9, baseline
    for metrics in (baseline, candidate):
        assert 0 <= metrics["expected_calibration_error"] < 0.5, metrics
    assert record.simple_baseline.startswith("TF-IDF logistic regression")
    assert f"Simple baseline ({record.simple_baseline}): accuracy" in proc.stdout
    # Slices: overall, by label, by text length, for both models.
    for model in ("candidate", "simple_baseline"):
        slices = record.slice_metrics[model]
        assert {"Overall", "label:neg", "label:pos"} <= set(slices), sorted(slices)
        assert any(name.startswith("words(text):") for name in slices), sorted(slices)
    # The rule that decided: on the first run there is no blessed model to regress from.
    assert record.decided_by == blessing_gate.ALL_PASSED and record.require_beat_baseline
    rules = {rule["rule"]: rule for rule in record.blessing_rules}
    assert rules[blessing_gate.BEAT_BASELINE]["applied"] and rules[blessing_gate.BEAT_BASELINE]["passed"]
    assert not rules[blessing_gate.NO_REGRESSION]["applied"]


@pytest.fixture(scope="module")
def second_run(first_run, tiny_checkpoint):
    _, train, output, first = first_run
    assert first.returncode == 0
    return run_cli("--train", str(train), "--checkpoint", tiny_checkpoint,
                   "--output", str(output), *TINY_ARGS)


def test_second_identical_run_reuses_the_cache(first_run, second_run):
    _, train, output, _ = first_run
    proc = second_run
    assert proc.returncode == 0, proc.stderr[-3000:]
    from pipeline.run_record import read_run, run_ids
    from pipeline.run_record import open_store
    ids = run_ids(open_store(str(output / "metadata.sqlite")))
    assert len(ids) == 2
    second = read_run(str(output / "metadata.sqlite"), ids[-1])
    for component in ("TextExampleGen", "StatisticsGen", "SchemaGen", "ExampleValidator",
                      "Transform", "Trainer"):
        assert second.state_of(component) == "cached", (component, second.components)
    # The first run's model is now the baseline the candidate is compared with.
    assert second.baseline_metrics, proc.stdout[-2000:]
    assert "Baseline (last blessed model)" in proc.stdout
    for component in ("baseline_trainer", "baseline_evaluator"):
        assert second.state_of(component) == "cached", (component, second.components)
    rules = {rule["rule"]: rule for rule in second.blessing_rules}
    assert rules["no regression vs the last blessed model"]["applied"], second.blessing_rules


def test_a_candidate_worse_than_the_baseline_is_not_pushed(first_run, second_run,
                                                           tiny_checkpoint):
    """Learning rate 0: the candidate keeps its random head. The absolute bar and the
    regression limit are opened wide, so only the beat-the-baseline rule can refuse it."""
    _, train, output, _ = first_run
    versions = sorted((output / "serving" / "electra_classifier").iterdir())
    proc = run_cli("--train", str(train), "--checkpoint", tiny_checkpoint,
                   "--output", str(output), *TINY_ARGS, "--learning-rate", "0", "--epochs", "1",
                   "--set", "train.steps_per_epoch=1", "--set", "eval.min_accuracy=0",
                   "--set", "eval.max_accuracy_drop=1")
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-5000:]
    assert "NOT BLESSED: decided by the rule 'beat the simple baseline'" in proc.stdout, (
        proc.stdout[-3000:])
    assert "Nothing pushed." in proc.stdout
    assert sorted((output / "serving" / "electra_classifier").iterdir()) == versions
    from components import blessing_gate
    from pipeline.run_record import read_run
    record = read_run(str(output / "metadata.sqlite"))
    assert record.decided_by == blessing_gate.BEAT_BASELINE and record.blessed is False
    assert record.pushed_path is None
    assert (record.candidate_metrics["sparse_categorical_accuracy"]
            < record.simple_baseline_metrics["sparse_categorical_accuracy"])
    # Only the candidate's training changed: the baseline was not retrained.
    assert record.state_of("baseline_trainer") == "cached"
    assert record.state_of("Trainer") == "ran"


def test_anomalies_stop_the_run_before_training(tmp_path, tiny_checkpoint):
    train = fixtures.write_csv(tmp_path / "train.csv", fixtures.sentiment_rows(60, seed=3))
    bad_rows = fixtures.sentiment_rows(20, seed=4, label_names=("neg", "maybe"))
    evaluation = fixtures.write_csv(tmp_path / "eval" / "eval.csv", bad_rows)
    proc = run_cli("--train", str(train), "--eval", str(evaluation), "--checkpoint",
                   tiny_checkpoint, "--output", str(tmp_path / "out"), *TINY_ARGS)
    assert proc.returncode == 2, proc.stdout[-2000:] + proc.stderr[-3000:]
    assert "feature 'label'" in proc.stderr and "maybe" in proc.stderr
    assert "stopped before Transform" in proc.stderr
    assert "Traceback" not in proc.stderr
    from pipeline.run_record import read_run
    record = read_run(str(tmp_path / "out" / "metadata.sqlite"))
    assert record.state_of("Transform") is None and record.state_of("Trainer") is None
    assert not (tmp_path / "out" / "serving").exists()
