"""Per-example predictions of a run's candidate on the eval split, for the report.

TFMA keeps aggregate metrics and plots, not the examples behind them. After a run, the
candidate's exported SavedModel (what the Pusher would serve) is called through its
`serving_default` signature on the eval split's examples, as the Evaluator called it, and the
task says what each prediction means (`Task.example_outcomes`, trainer/tasks/outcomes.py):
the prediction and the true label as text, whether it is right, and the score the mistakes are
ranked by. A small JSON file is written: the first mistakes by that score (the most confident
ones for classification: the label, the set of labels of --multi-label, every tag of a
sentence; the highest span scores for question answering), a few right predictions, the
reliability bins (confidence vs accuracy, the bins of the expected calibration error in
trainer/calibration_metrics.py) when the model gives the probability that a prediction is
right, and how the report names them (`ExampleView`). For --regression no prediction is
right or wrong: the file holds the largest and the smallest absolute errors and no
reliability bins. The report reads only that file, so `electra-tfx report` never loads
TensorFlow.

A task with no right answer (embedding) keeps the default hook: no file, no examples.
"""
import dataclasses
import datetime
import json
import os
import statistics
from typing import Dict, List, Optional, Tuple

import tensorflow as tf

from components import loaded_models
from pipeline import run_record
from trainer import tasks
from trainer.tasks.base import Task
from trainer.tasks.outcomes import ExampleView

# At most this many eval examples are predicted (the report says so when the split is larger).
MAX_EXAMPLES = 1000
MISTAKES_SHOWN = 10
CORRECT_SHOWN = 4
NUM_BINS = 10  # as trainer/calibration_metrics.DEFAULT_NUM_BINS
_MAX_TEXT = 600
_BATCH = 64


def applies_to(config) -> bool:
    """Whether the run's task says what its predictions mean (`Task.example_outcomes`)."""
    try:
        task = tasks.create(config)
    except Exception:  # noqa: BLE001 — an unknown task: nothing to predict
        return False
    return type(task).example_outcomes is not Task.example_outcomes


def _run_artifacts(metadata_path: str, run_id: str):
    """(the Trainer's Model uri, the ExampleGen's Examples uri) of the run, or None each."""
    store = run_record.open_store(metadata_path)
    context = store.get_context_by_type_and_name("pipeline_run", run_id)
    types = {t.id: t.name for t in store.get_artifact_types()}
    model = examples = None
    for execution in store.get_executions_by_context(context.id):
        node = run_record._node_name(store, execution.id)
        for artifact in run_record._outputs(store, execution.id):
            kind = types.get(artifact.type_id)
            if node == "Trainer" and kind == "Model":
                model = artifact.uri
            elif node.endswith("ExampleGen") and kind == "Examples":
                examples = artifact.uri
    return model, examples


def _eval_records(examples_uri: str, limit: int):
    """(the first `limit` serialized eval examples, whether the split has more)."""
    records: List[bytes] = []
    for path in sorted(tf.io.gfile.glob(os.path.join(examples_uri, "Split-eval", "*"))):
        compression = "GZIP" if path.endswith(".gz") else ""
        for record in tf.data.TFRecordDataset(path, compression_type=compression) \
                .as_numpy_iterator():
            if len(records) == limit:
                return records, True
            records.append(record)
    return records, False


def _cell(feature) -> str:
    if feature.bytes_list.value:
        return " ".join(v.decode("utf-8", "replace") for v in feature.bytes_list.value)
    values = feature.int64_list.value or feature.float_list.value
    return " ".join(str(v) for v in values)


def predict(model_dir: str, records: List[bytes], task: Task,
            text_columns: List[str]) -> Optional[Tuple[ExampleView, List[Dict]]]:
    """(how the report shows them, one row per example with an outcome: its text columns and
    the task's outcome: predicted, label, correct, score, confidence, words); None when the
    task's hook has nothing to say."""
    serve = loaded_models.load(model_dir).signatures["serving_default"]
    return predict_with(serve, records, task, text_columns)


def predict_with(serve, records: List[bytes], task: Task,
                 text_columns: List[str]) -> Optional[Tuple[ExampleView, List[Dict]]]:
    """`predict` with a loaded `serving_default` signature."""
    view, rows = None, []
    for start in range(0, len(records), _BATCH):
        batch = records[start:start + _BATCH]
        outputs = {name: value.numpy()
                   for name, value in serve(examples=tf.constant(batch)).items()}
        examples = [tf.train.Example.FromString(record) for record in batch]
        result = task.example_outcomes(outputs, examples)
        if result is None:
            return None
        view = result.view
        for example, outcome in zip(examples, result.rows):
            if outcome is None:
                continue
            features = example.features.feature
            row = {"text": {c: _cell(features[c])[:_MAX_TEXT]
                            for c in text_columns if c in features},
                   **dataclasses.asdict(outcome)}
            if row["words"] is None:
                del row["words"]
            rows.append(row)
    return (view or ExampleView()), rows


def summarize(rows: List[Dict], num_bins: int = NUM_BINS,
              view: Optional[ExampleView] = None) -> Dict:
    """The report's part of the predictions: counts, the first mistakes by score (the most
    confident first), a few right predictions spread over the score range, and the
    reliability bins (when the rows have a confidence). A view without right or wrong
    (regression) ranks every row by score: the largest first, and the smallest as the
    well-predicted ones."""
    view = view or ExampleView()
    for row in rows:  # rows of a label and a confidence only: single-label classification
        row.setdefault("score", row.get("confidence"))
        row.setdefault("correct", row["predicted"] == row["label"])
    if view.right_or_wrong:
        mistakes = sorted((r for r in rows if not r["correct"]), key=lambda r: -r["score"])
        correct = sorted((r for r in rows if r["correct"]), key=lambda r: -r["score"])
        if len(correct) > CORRECT_SHOWN:
            step = (len(correct) - 1) / (CORRECT_SHOWN - 1)
            correct = [correct[round(i * step)] for i in range(CORRECT_SHOWN)]
        count: Optional[int] = len(mistakes)
    else:
        mistakes = sorted(rows, key=lambda r: -r["score"])
        correct = sorted(rows, key=lambda r: r["score"])[:CORRECT_SHOWN]
        count = None
    bins = []
    confident = [r for r in rows if r.get("confidence") is not None and r["correct"] is not None]
    if view.confidence is not None and confident:
        bins = [{"lower": i / num_bins, "upper": (i + 1) / num_bins, "count": 0,
                 "confidence": 0.0, "accuracy": 0.0} for i in range(num_bins)]
        for row in confident:
            b = bins[min(int(row["confidence"] * num_bins), num_bins - 1)]
            b["count"] += 1
            b["confidence"] += row["confidence"]
            b["accuracy"] += row["correct"]
        for b in bins:
            if b["count"]:
                b["confidence"] /= b["count"]
                b["accuracy"] /= b["count"]
    return {"predicted": len(rows), "mistakes": count,
            "confident_mistakes": mistakes[:MISTAKES_SHOWN], "correct_examples": correct,
            "reliability": bins, "view": dataclasses.asdict(view),
            "mean_score": statistics.fmean(r["score"] for r in rows) if rows else None}


def write_predictions(metadata_path: str, run_id: str, config, path: str,
                      limit: int = MAX_EXAMPLES) -> Optional[str]:
    """Writes the run's predictions file at `path`; None (nothing written) when the task has
    no right answer (`Task.example_outcomes`) or the run has no trained model or eval split."""
    if not applies_to(config):
        return None
    model_uri, examples_uri = _run_artifacts(metadata_path, run_id)
    if model_uri is None or examples_uri is None:
        return None
    model_dir = os.path.join(model_uri, "Format-Serving")
    if not tf.io.gfile.exists(os.path.join(model_dir, "saved_model.pb")):
        return None
    if _reuse(path, model_dir, examples_uri, run_id):
        return path  # the same model on the same examples: a cached Trainer
    records, truncated = _eval_records(examples_uri, limit)
    if not records:
        return None
    task = tasks.create(config)
    label_column = task.raw_label_column(config)
    text_columns = list(task.raw_text_columns(config))
    predicted = predict(model_dir, records, task, text_columns)
    if predicted is None or not predicted[1]:
        return None
    view, rows = predicted
    result = {"run_id": run_id, "model": model_dir, "examples": examples_uri, "split": "eval",
              "written": datetime.datetime.now().isoformat(sep=" ", timespec="seconds"),
              "label_column": label_column, "text_columns": text_columns,
              "first_examples_only": truncated, **summarize(rows, view=view)}
    _write(path, result)
    return path


def _write(path: str, result: Dict) -> None:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path + ".tmp", "w", encoding="utf-8") as f:
        json.dump(result, f, indent=1)
    os.replace(path + ".tmp", path)


def _reuse(path: str, model_dir: str, examples_uri: str, run_id: str) -> bool:
    """Copies an earlier run's predictions of the same model on the same examples to `path`."""
    folder = os.path.dirname(path)
    for name in sorted(os.listdir(folder)) if os.path.isdir(folder) else []:
        try:
            with open(os.path.join(folder, name), encoding="utf-8") as f:
                earlier = json.load(f)
        except (OSError, ValueError):
            continue
        if earlier.get("model") == model_dir and earlier.get("examples") == examples_uri:
            _write(path, {**earlier, "run_id": run_id,
                          "predicted_in_run": earlier.get("predicted_in_run", earlier.get("run_id"))})
            return True
    return False
