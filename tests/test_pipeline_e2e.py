"""The whole pipeline, end to end, through the `electra-tfx` command a user runs.

Small data, a tiny ELECTRA built with save_pretrained (no downloads), a few epochs: the pushed
SavedModel must answer correctly in a fresh process that imports only TensorFlow and TF Text.
"""
import json
import pathlib
import re

import pytest

from tests import fixtures
from tests.e2e_support import (
    PRETRAIN_ARGS, TINY_ARGS, build_tiny_checkpoint, cli, report_images, run_cli, serve)

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def tiny_checkpoint(tmp_path_factory):
    return build_tiny_checkpoint(tmp_path_factory)


# 3 bad rows among 483 (0.6%, under the 5% limit): set aside, the run trains on the rest.
BAD_ROWS = ['"never closed,pos', "too,many,fields", ",neg"]
QUARANTINE_ARGS = ["--on-bad-rows", "quarantine"]


@pytest.fixture(scope="module")
def first_run(tmp_path_factory, tiny_checkpoint):
    root = tmp_path_factory.mktemp("e2e")
    train = fixtures.write_csv(root / "data" / "train.csv", fixtures.sentiment_rows(480, seed=2))
    with open(train, "a") as f:
        f.write("\n".join(BAD_ROWS) + "\n")
    corpus = root / "corpus.txt"
    corpus.write_text("\n".join(t for t, _ in fixtures.sentiment_rows(50, seed=5)) + "\n")
    output = root / "out"
    proc = run_cli("--train", str(train), "--checkpoint", tiny_checkpoint,
                   "--output", str(output), *TINY_ARGS, *QUARANTINE_ARGS, *PRETRAIN_ARGS,
                   "--pretrain-corpus", str(corpus), "--registry", "mlflow",
                   own_process=True)  # its log is checked from the process' start
    return root, train, output, proc


def test_run_is_blessed_and_pushed(first_run, tiny_checkpoint):
    _, _, output, proc = first_run
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-5000:]
    assert "BLESSED" in proc.stdout and "NOT BLESSED" not in proc.stdout, proc.stdout[-2000:]
    versions = list((output / "serving" / "electra_classifier").iterdir())
    assert len(versions) == 1 and versions[0].name.isdigit()
    assert (versions[0] / "saved_model.pb").exists()
    # TF Serving: the version passed the op check and carries warm-up requests (eval examples)
    # for both signatures, which run against it (docs/serving.md).
    from components import serving_compat, serving_warmup
    assert serving_compat.check_saved_model(str(versions[0])).ok
    warmup = serving_warmup.read_warmup(str(versions[0]))
    assert sorted(log.predict_log.request.model_spec.signature_name for log in warmup) == \
        ["serve_text", "serve_text", "serving_default", "serving_default"]
    answers = serving_warmup.replay(str(versions[0]), warmup)
    assert [a["labels"].shape[0] for a in answers] == [1, 4, 1, 4]
    assert answers[1]["labels"].numpy().tolist() == answers[3]["labels"].numpy().tolist()
    assert (output / "metadata.sqlite").exists()
    assert f"Pushed to {versions[0]}" in proc.stdout
    # Keras progress on the console, TensorBoard logs and the history in the run's output.
    assert "Epoch 6/6" in proc.stdout
    (run_dir,) = (output / "artifacts" / "Trainer" / "model_run").iterdir()
    assert list(run_dir.rglob("events.out.tfevents.*"))
    history = json.loads((run_dir / "history.json").read_text())
    assert history["history"]["loss"][-1] < history["history"]["loss"][0]
    # The run report: metrics, decision, pushed version and the plots beside it.
    report = output / "report" / "index.html"
    assert f"Run report: {report}" in proc.stdout
    page = report.read_text()
    assert 'id="metrics"' in page and "BLESSED: every rule that applies passed." in page
    # The candidate's predictions on the eval split: examples and the reliability bins.
    (predictions,) = (output / "report" / "predictions").iterdir()
    predicted = json.loads(predictions.read_text())
    assert predicted["predicted"] == sum(b["count"] for b in predicted["reliability"]) > 0
    assert 'id="reliability"' in page and 'id="correct"' in page
    assert f"Pushed version {versions[0].name}" in page
    assert {"data_summary.png", "training_curves.png", "confusion_candidate.png",
            "calibration.png"} <= \
        report_images(report)
    assert "http://" not in page and "https://" not in page
    # The model card beside the pushed SavedModel (its requests are tried on the model below).
    card = json.loads((versions[0] / "model_card.json").read_text())
    assert card["model"]["version"] == versions[0].name
    assert sorted(card["label_set"]) == ["neg", "pos"]
    assert sum(card["training"]["examples_per_split"].values()) == 480
    assert card["checkpoint"]["requested"] == tiny_checkpoint
    assert card["checkpoint"]["architecture"].startswith("electra: 1 layers, hidden 32")
    assert "## Limitations" in (versions[0] / "model_card.md").read_text()
    # --registry mlflow (docs/registry.md): the push is version 1 of the registered model,
    # champion, leading back to this run's ML Metadata, with the model card.
    from components import mlflow_registry
    uri = f"sqlite:///{output / 'mlflow.db'}"
    registered = mlflow_registry.find_push(uri, "electra-tfx", str(versions[0]))
    assert str(registered.version) == mlflow_registry.champion_version(uri, "electra-tfx") == "1"
    assert registered.tags["mlmd.store"] == str(output / "metadata.sqlite")
    assert registered.tags["electra_tfx.checkpoint"] == tiny_checkpoint
    assert "model/model_card.md" in {a.path for a in mlflow_registry.client(uri).list_artifacts(
        registered.run_id, "model")}
    assert f"Registered: models:/electra-tfx/1 (alias champion on version 1) in {uri}" \
        in proc.stdout


def test_pushed_model_answers_raw_text(first_run):
    _, _, output, _ = first_run
    (version,) = (output / "serving" / "electra_classifier").iterdir()
    held_out = fixtures.sentiment_rows(60, seed=99)
    result = serve(version, f"""
        import base64
        card = json.load(open(sys.argv[1] + "/model_card.json"))
        request = card["request_examples"]["serve_text"]["instances"][0]
        by_card = model.signatures["serve_text"](**{{k: tf.constant([v]) for k, v in request.items()}})
        b64 = card["request_examples"]["serving_default"]["instances"][0]["examples"]["b64"]
        by_card_example = model.signatures["serving_default"](
            examples=tf.constant([base64.b64decode(b64)]))
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
            "card_outputs": sorted(card["signatures"]["serve_text"]["outputs"]),
            "by_card_outputs": sorted(by_card),
            "card_requests_agree": by_card["labels"].numpy().tolist()
                                   == by_card_example["labels"].numpy().tolist(),
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
    # The model card's request examples work on the model they sit beside (which the extra
    # files did not stop from loading) and list its real outputs.
    assert result["card_outputs"] == result["by_card_outputs"] == ["label_ids", "labels", "probabilities"]
    assert result["card_requests_agree"]


def test_default_log_is_quiet_with_progress(first_run):
    """The default log: no line of the known third-party noise (trainer/console.py's NOISE),
    a start and a done line with its time for every component, progress lines with an ETA
    for pre-training and training, the simple baseline's epochs named as such, and the
    summary's time the command's (measured here around the subprocess; the summary counts
    from the process' start, so the slack is the rounding and the interpreter's exit)."""
    from trainer.console import NOISE
    _, _, _, proc = first_run
    assert proc.returncode == 0, proc.stderr[-3000:]
    log = (proc.stdout + proc.stderr).splitlines()
    noise = [line for line in log if any(re.search(p, line) for p in NOISE)]
    assert not noise, noise
    started = re.findall(r"^\[ ?(\d+)/(\d+)\] (\w+) \.\.\.$", proc.stdout, re.M)
    ended = re.findall(r"^\[ ?(\d+)/(\d+)\] (\w+) (?:done in|reused from an earlier run "
                       r"\(cached\),) (?:\d+ min )?\d+ s$", proc.stdout, re.M)
    total = int(started[0][1])
    assert started == ended and [int(n) for n, _, _ in started] == list(range(1, total + 1)), \
        proc.stdout[-5000:]
    assert {"TextExampleGen", "Transform", "ElectraPretrainer", "Trainer", "baseline_trainer",
            "Evaluator", "Pusher"} <= {name for _, _, name in started}
    assert re.search(r"^  Pre-training step 1/3: .*; ETA \d+", proc.stdout, re.M)
    epochs = re.findall(r"^  Training: Epoch (\d)/6: loss \S+, .*\((?:\d+ min )?\d+ s"
                        r"(?:, ETA [^)]+)?\)$", proc.stdout, re.M)
    assert epochs == [str(n) for n in range(1, 7)], proc.stdout[-5000:]
    assert re.search(r"^  Simple baseline \(TF-IDF\): 10 epochs in (?:\d+ min )?\d+ s: loss",
                     proc.stdout, re.M)
    assert not re.search(r"^Epoch \d+/\d+$", proc.stdout, re.M)  # Keras' own, unnamed
    header = re.search(r"^Run \S+ \(\S+\) finished in (\d+) s\.$", proc.stdout, re.M)
    summary = proc.stdout[header.start():]
    assert len(summary.splitlines()) < 30 and "Run report: " in summary, summary
    seconds = int(header.group(1))
    assert proc.seconds - 1.5 <= seconds <= proc.seconds + 0.5, (seconds, proc.seconds)


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
                   "--output", str(output), *TINY_ARGS, *QUARANTINE_ARGS, *PRETRAIN_ARGS,
                   "--pretrain-corpus", str(first_run[0] / "corpus.txt"))


def test_second_identical_run_reuses_the_cache(first_run, second_run, tiny_checkpoint):
    _, train, output, _ = first_run
    proc = second_run
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
    assert "Last blessed model: accuracy" in proc.stdout
    assert "Pre-trained here (ELECTRA replaced-token detection, cached from an earlier run)" \
        in proc.stdout

    # `runs` lists both runs from ML Metadata, with status, data, checkpoint and metrics.
    listing = cli("runs", "--output", str(output))
    assert listing.returncode == 0, listing.stderr[-3000:]
    lines = [line for line in listing.stdout.splitlines() if line.strip()]
    assert lines[0].split()[:2] == ["run", "started"] and len(lines) == 3, listing.stdout
    for run_id, line in zip(ids, lines[1:]):
        assert line.startswith(run_id) and str(train) in line and tiny_checkpoint in line, line
        assert "accuracy" in line and "  blessed  " in line, line
    first_version = pathlib.Path(read_run(str(output / "metadata.sqlite"), ids[0]).pushed_path).name
    assert first_version in lines[1]
    # Each run keeps its own report; the latest compares with the last blessed model.
    assert len(list((output / "report" / "runs").iterdir())) == 2
    latest = (output / "report" / "index.html").read_text()
    assert "last blessed" in latest and "candidate − last blessed" in latest
    # `report --run` on the first run: its summary, lineage back to data and checkpoint.
    shown = cli("report", "--output", str(output), "--run", ids[0])
    assert shown.returncode == 0, shown.stderr[-3000:]
    text = shown.stdout
    assert f"Run {ids[0]}" in text and "BLESSED" in text and "Lineage:" in text
    lineage = text[text.index("Lineage:"):]
    order = [lineage.index(kind) for kind in
             ("PushedModel", "produced by Pusher", "← Model ", "produced by Trainer",
              "produced by Transform", "produced by TextExampleGen")]
    assert order == sorted(order), lineage
    assert f"checkpoint dir: {tiny_checkpoint}" in lineage and f"input files: {train.parent}" in lineage
    report_path = pathlib.Path(text.strip().splitlines()[-1].removeprefix("Report: "))
    assert report_path.exists() and report_path.parent.parent == output / "report" / "runs"
    assert cli("report", "--output", str(output), "--run", "no-such-run").returncode == 2
    for component in ("baseline_trainer", "baseline_evaluator"):
        assert second.state_of(component) == "cached", (component, second.components)
    rules = {rule["rule"]: rule for rule in second.blessing_rules}
    assert rules["no regression vs the last blessed model"]["applied"], second.blessing_rules


def test_quarantined_rows_are_listed_and_counted(first_run):
    _, train, output, proc = first_run
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert (f"Quarantined 3 bad rows (input 3 of 483), trained on the rest; they are listed "
            f"with their problems in {output / 'quarantine'}.") in proc.stdout
    listed = [json.loads(line) for line in (output / "quarantine" / "input.jsonl").read_text()
              .splitlines()]
    assert sorted((r["row"], r["raw"]) for r in listed) == [
        (482, '"never closed,pos\n'), (483, "too,many,fields\n"), (484, ",neg\n")]
    assert {r["file"] for r in listed} == {str(train)}
    assert "a quoted field is never closed" in listed[0]["problem"]
    from pipeline.run_record import read_run
    record = read_run(str(output / "metadata.sqlite"))
    assert record.bad_rows == {"single_split": {"rows": 483, "bad": 3}}
    assert record.quarantined_rows == 3
    assert sum(record.split_counts.values()) == 480


def test_a_candidate_worse_than_the_baseline_is_not_pushed(first_run, second_run,
                                                           tiny_checkpoint):
    """A negligible learning rate: the candidate keeps its random head. The absolute bar and
    the regression limit are opened wide; the chance rule and the baseline still refuse it,
    the run exits 3 and the serving folder keeps only the earlier versions."""
    _, train, output, _ = first_run
    versions = sorted((output / "serving" / "electra_classifier").iterdir())
    proc = run_cli("--train", str(train), "--checkpoint", tiny_checkpoint,
                   "--output", str(output), *TINY_ARGS, *QUARANTINE_ARGS, *PRETRAIN_ARGS,
                   "--pretrain-corpus", str(first_run[0] / "corpus.txt"),
                   "--learning-rate", "1e-9", "--epochs", "1",
                   "--set", "train.steps_per_epoch=1", "--set", "eval.min_accuracy=0",
                   "--set", "eval.max_accuracy_drop=1")
    assert proc.returncode == 3, proc.stdout[-3000:] + proc.stderr[-5000:]
    assert "NOT BLESSED: decided by the rule 'above chance'" in proc.stdout, proc.stdout[-3000:]
    assert "  beat the simple baseline: FAILED" in proc.stdout, proc.stdout[-3000:]
    assert "Nothing pushed." in proc.stdout
    assert sorted((output / "serving" / "electra_classifier").iterdir()) == versions
    from components import blessing_gate
    from pipeline.run_record import read_run
    record = read_run(str(output / "metadata.sqlite"))
    assert record.decided_by == blessing_gate.CHANCE and record.blessed is False
    beat = [r for r in record.blessing_rules if r["rule"] == blessing_gate.BEAT_BASELINE]
    assert beat and beat[0]["applied"] and not beat[0]["passed"]
    assert record.pushed_path is None
    assert (record.candidate_metrics["sparse_categorical_accuracy"]
            < record.simple_baseline_metrics["sparse_categorical_accuracy"])
    # Only the candidate's training changed: the baseline was not retrained.
    assert record.state_of("baseline_trainer") == "cached"
    assert record.state_of("Trainer") == "ran"
