"""Per-example predictions of a run's candidate on the eval split, for the report.

TFMA keeps aggregate metrics and plots, not the examples behind them. After a run, the
candidate's exported SavedModel (what the Pusher would serve) is called through its
`serving_default` signature on the eval split's examples, as the Evaluator called it, and a
small JSON file is written: the most confident mistakes, a few correct examples across the
range of confidence, and the top-label reliability bins (confidence vs accuracy, the bins of
the expected calibration error in trainer/calibration_metrics.py). The report reads only that
file, so `electra-tfx report` never loads TensorFlow.

Single-label classification only (text and text-pair classification, not --multi-label or
--regression): the other tasks have no one predicted label with a confidence.
"""
import datetime
import json
import os
from typing import Dict, List, Optional

import tensorflow as tf

from pipeline import run_record
from trainer import tasks

# At most this many eval examples are predicted (the report says so when the split is larger).
MAX_EXAMPLES = 1000
MISTAKES_SHOWN = 10
CORRECT_SHOWN = 4
NUM_BINS = 10  # as trainer/calibration_metrics.DEFAULT_NUM_BINS
_MAX_TEXT = 600
_BATCH = 64


def applies_to(config) -> bool:
    """Whether the run's task has one predicted label with a confidence."""
    try:
        task = tasks.create(config)
    except Exception:  # noqa: BLE001 — an unknown task: nothing to predict
        return False
    return bool(task.has_classes and task.single_label and task.calibrated)


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


def predict(model_dir: str, records: List[bytes], label_column: str,
            text_columns: List[str]) -> List[Dict]:
    """One row per example: its text columns, true label, predicted label and confidence."""
    model = tf.saved_model.load(model_dir)
    serve = model.signatures["serving_default"]
    rows = []
    for start in range(0, len(records), _BATCH):
        batch = records[start:start + _BATCH]
        outputs = serve(examples=tf.constant(batch))
        probabilities = outputs["probabilities"].numpy()
        labels = outputs["labels"].numpy()
        for record, p, predicted in zip(batch, probabilities, labels):
            features = tf.train.Example.FromString(record).features.feature
            rows.append({
                "text": {c: _cell(features[c])[:_MAX_TEXT] for c in text_columns if c in features},
                "label": _cell(features[label_column]).strip() if label_column in features else "",
                "predicted": predicted.decode("utf-8", "replace"),
                "confidence": float(p.max())})
    return rows


def summarize(rows: List[Dict], num_bins: int = NUM_BINS) -> Dict:
    """The report's part of the predictions: counts, the most confident mistakes, a few
    correct examples spread over the confidence range, and the reliability bins."""
    for row in rows:
        row["correct"] = row["predicted"] == row["label"]
    mistakes = sorted((r for r in rows if not r["correct"]), key=lambda r: -r["confidence"])
    correct = sorted((r for r in rows if r["correct"]), key=lambda r: -r["confidence"])
    if len(correct) > CORRECT_SHOWN:
        step = (len(correct) - 1) / (CORRECT_SHOWN - 1)
        correct = [correct[round(i * step)] for i in range(CORRECT_SHOWN)]
    bins = [{"lower": i / num_bins, "upper": (i + 1) / num_bins, "count": 0,
             "confidence": 0.0, "accuracy": 0.0} for i in range(num_bins)]
    for row in rows:
        b = bins[min(int(row["confidence"] * num_bins), num_bins - 1)]
        b["count"] += 1
        b["confidence"] += row["confidence"]
        b["accuracy"] += row["correct"]
    for b in bins:
        if b["count"]:
            b["confidence"] /= b["count"]
            b["accuracy"] /= b["count"]
    return {"predicted": len(rows), "mistakes": sum(not r["correct"] for r in rows),
            "confident_mistakes": mistakes[:MISTAKES_SHOWN], "correct_examples": correct,
            "reliability": bins}


def write_predictions(metadata_path: str, run_id: str, config, path: str,
                      limit: int = MAX_EXAMPLES) -> Optional[str]:
    """Writes the run's predictions file at `path`; None (nothing written) when the task has
    no single predicted label or the run has no trained model or eval split."""
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
    result = {"run_id": run_id, "model": model_dir, "examples": examples_uri, "split": "eval",
              "written": datetime.datetime.now().isoformat(sep=" ", timespec="seconds"),
              "label_column": label_column, "text_columns": text_columns,
              "first_examples_only": truncated,
              **summarize(predict(model_dir, records, label_column, text_columns))}
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
