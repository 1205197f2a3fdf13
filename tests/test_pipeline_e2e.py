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
# Continued ELECTRA pre-training of the checkpoint (a few steps) before fine-tuning.
PRETRAIN_ARGS = ["--pretrain-steps", "3", "--set", "pretrain.batch_size=16",
                 "--set", "pretrain.bucket_boundaries=8,12", "--set", "pretrain.log_every=1"]


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
    corpus = root / "corpus.txt"
    corpus.write_text("\n".join(t for t, _ in fixtures.sentiment_rows(50, seed=5)) + "\n")
    output = root / "out"
    proc = run_cli("--train", str(train), "--checkpoint", tiny_checkpoint,
                   "--output", str(output), *TINY_ARGS, *PRETRAIN_ARGS,
                   "--pretrain-corpus", str(corpus))
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


def test_pretrained_checkpoint_is_the_trainers_base_model(first_run, tiny_checkpoint):
    """ElectraPretrainer pre-trains the checkpoint on the training text and the corpus; the
    Trainer fine-tunes its output, and the summary says so."""
    _, _, output, proc = first_run
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "Pre-training step 3/3" in proc.stdout
    from pipeline.run_record import open_store, read_run
    record = read_run(str(output / "metadata.sqlite"))
    assert record.pretraining["steps"] == 3
    # 384 training examples (the 80% hash split of 480) + 50 corpus lines.
    assert record.pretraining["num_texts"] == record.split_counts["train"] + 50
    assert "Pre-trained here (ELECTRA replaced-token detection): 3 steps" in proc.stdout
    pretrained = pathlib.Path(record.pretraining["output_dir"])
    assert (pretrained / "tf_model.h5").exists()
    assert (pretrained / "vocab.txt").read_text() == \
        (pathlib.Path(tiny_checkpoint) / "vocab.txt").read_text()
    store = open_store(str(output / "metadata.sqlite"))
    from pipeline.run_record import _node_name
    (trainer,) = [e for e in store.get_executions() if _node_name(store, e.id) == "Trainer"]
    events = store.get_events_by_execution_ids([trainer.id])
    inputs = store.get_artifacts_by_id([ev.artifact_id for ev in events if ev.type == ev.INPUT])
    assert any(a.uri in str(pretrained) and "ElectraPretrainer" in a.uri for a in inputs)
    (state,) = (output / "checkpoints").glob("pretrain-*")
    assert list((state / "logs").glob("events.out.tfevents.*"))


def test_second_identical_run_reuses_the_cache(first_run, tiny_checkpoint):
    _, train, output, first = first_run
    assert first.returncode == 0
    proc = run_cli("--train", str(train), "--checkpoint", tiny_checkpoint,
                   "--output", str(output), *TINY_ARGS, *PRETRAIN_ARGS,
                   "--pretrain-corpus", str(first_run[0] / "corpus.txt"))
    assert proc.returncode == 0, proc.stderr[-3000:]
    from pipeline.run_record import read_run, run_ids
    from pipeline.run_record import open_store
    ids = run_ids(open_store(str(output / "metadata.sqlite")))
    assert len(ids) == 2
    second = read_run(str(output / "metadata.sqlite"), ids[-1])
    for component in ("TextExampleGen", "StatisticsGen", "SchemaGen", "ExampleValidator",
                      "Transform", "ElectraPretrainer", "Trainer"):
        assert second.state_of(component) == "cached", (component, second.components)
    # The first run's model is now the baseline the candidate is compared with.
    assert second.baseline_metrics, proc.stdout[-2000:]
    assert "Baseline (last blessed model)" in proc.stdout
    assert "Pre-trained here (ELECTRA replaced-token detection, cached from an earlier run)" \
        in proc.stdout


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
