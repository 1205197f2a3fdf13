"""The model card: `model_card.json` and `model_card.md` beside the pushed SavedModel.

Written by hand: the `model-card-toolkit` is not in the lock (and pins old protobuf/TFMA
versions), and the card needs only a few sections. TF Serving and `tf.saved_model.load`
read `saved_model.pb`, `variables/` and `assets/` of a version directory and ignore other
files, so the card can live beside the model it describes.
"""
import base64
import json
import os
from typing import Dict, List, Optional

from pipeline.report import decision, tuning
from pipeline.report.model import OVERALL, ReportData, length_summary
from trainer.label_order import in_id_order
from trainer import packaged_checkpoint

CARD_JSON = "model_card.json"
CARD_MD = "model_card.md"
_REST_PORT = 8501
# Signatures for the pipeline's own use (TFMA feeds labelled examples through it).
INTERNAL_SIGNATURES = {"transform_features": "internal: the Evaluator's preprocessing",
                       "bulk_inference": "internal: serving_default for TFX's BulkInferrer"}



# ---- signatures ------------------------------------------------------------------------

def read_signatures(saved_model_dir: str) -> Dict[str, Dict[str, Dict[str, Dict]]]:
    """name -> {"inputs"|"outputs": {tensor name: {"dtype", "shape"}}}, read from
    saved_model.pb without loading the model (no TF Text ops needed)."""
    import tensorflow as tf
    from tensorflow.python.saved_model import loader_impl
    saved_model = loader_impl.parse_saved_model(saved_model_dir)
    signatures = {}
    for name, sig in sorted(saved_model.meta_graphs[0].signature_def.items()):
        if name.startswith("__"):
            continue
        signatures[name] = {
            side: {key: {"dtype": tf.dtypes.as_dtype(info.dtype).name,
                         "shape": [d.size for d in info.tensor_shape.dim]}
                   for key, info in sorted(getattr(sig, side).items())}
            for side in ("inputs", "outputs")}
    return signatures


def request_examples(data: ReportData, signatures: Dict) -> Dict[str, Dict]:
    """A TF Serving REST request body per signature that takes text or tf.Examples, filled
    with the first eval example of the run's data."""
    features = data.example_features
    if not features:
        return {}
    requests = {}
    for name, sig in signatures.items():
        if name in INTERNAL_SIGNATURES:
            continue
        inputs = sig["inputs"]
        if not inputs or any(spec["dtype"] != "string" for spec in inputs.values()):
            continue
        if list(inputs) == ["examples"]:
            requests[name] = {"signature_name": name, "instances": [
                {"examples": {"b64": _serialized_example(features)}}]}
            continue
        instance = {}
        for key in inputs:
            values = features.get(key) or (next(iter(features.values())) if len(features) == 1
                                           else None)
            if values is None:
                break
            instance[key] = " ".join(values)
        else:
            requests[name] = {"signature_name": name, "instances": [instance]}
    return requests


def _serialized_example(features: Dict[str, List[str]]) -> str:
    from tensorflow.core.example import example_pb2
    example = example_pb2.Example()
    for column, values in features.items():
        example.features.feature[column].bytes_list.value.extend(v.encode() for v in values)
    return base64.b64encode(example.SerializeToString()).decode("ascii")


# ---- the card --------------------------------------------------------------------------

def _task_class(data: ReportData):
    """The run's Task class (its traits: intended use, windowed inputs), None if unknown."""
    import pipeline_config
    from trainer import tasks
    if not data.task:
        return None
    config = pipeline_config.PipelineConfig()
    config.task = data.task
    config.task_options.multi_label = data.hyperparameters.get("multi-label") == "yes"
    config.task_options.regression = data.hyperparameters.get("regression") == "yes"
    try:
        return tasks.task_class(config)
    except pipeline_config.ConfigError:
        return None


def _intended_use(data: ReportData) -> str:
    cls = _task_class(data)
    return (cls.intended_use if cls is not None else "") or data.task


def limitations(data: ReportData) -> List[str]:
    found = [data.quick_note] if data.quick_note else []
    eval_n = data.split_counts.get("eval")
    found.append(f"Evaluated only on the eval split described here ({eval_n or '?'} examples "
                 f"from {data.data_sources.get('eval', '?')}); quality on other domains, "
                 "text styles or languages is unknown.")
    if data.checkpoint.get("source") == "scratch":
        found.append("Fine-tuned from a randomly initialised ELECTRA (no pretraining): "
                     "expect far lower quality than from a pretrained checkpoint.")
    if data.checkpoint.get("source") == "packaged":
        found.append(packaged_checkpoint.WEIGHTS_NOTE)
    train_n = data.split_counts.get("train")
    if train_n is not None and train_n < 1000:
        found.append(f"Trained on only {train_n} examples.")
    if data.max_seq_length:
        lengths = data.text_lengths.get("train", [])
        summary = length_summary(lengths)
        cls = _task_class(data)
        windowed = cls is not None and cls.traits.windowed
        found.append(f"Inputs are cut into {data.max_seq_length} WordPiece tokens "
                     f"({'windowed' if windowed else 'longer ones are truncated'}); "
                     f"training texts had up to {summary.get('max', '?')} words "
                     f"(99% at most {summary.get('p99', '?')}).")
    for role, matrix in data.confusion.items():
        if role != "candidate" or not matrix.counts:
            continue
        never = [label for j, label in enumerate(matrix.labels)
                 if sum(row[j] for row in matrix.counts if j < len(row)) == 0
                 and sum(matrix.counts[j]) > 0]
        if never:
            found.append("Never predicted on the eval split: "
                         + ", ".join(repr(label) for label in never)
                         + " (though the eval split has such rows).")
    overall = data.models.get("candidate", {})
    headline = _headline(overall)
    if headline:
        for s in data.slices:
            value = s.metrics.get("candidate", {}).get(headline)
            if value is not None and value < overall[headline] - 0.05:
                found.append(f"Weaker on the slice {s.name}: {headline} {value:.3f} against "
                             f"{overall[headline]:.3f} overall.")
    if data.anomalies:
        found.append(f"The data had {len(data.anomalies)} anomalies (see the run report).")
    found.append("The model reflects the biases of its training data and of the checkpoint's "
                 "pretraining corpus; review its outputs before using them for decisions "
                 "about people.")
    return found


def what_happened(data: ReportData) -> Dict:
    """What the run actually did, measured: pre-training and training steps, the decision
    and whether the model beat the simple baseline (and whether that was required)."""
    epochs = data.epochs_trained
    steps = epochs * data.steps_per_epoch if data.steps_per_epoch is not None else None
    if data.baseline_gap is None:
        beat = "not measured"
    elif data.baseline_gap >= 0:
        beat = f"yes, by {data.baseline_gap:.4g}"
    else:
        beat = f"no: worse by {-data.baseline_gap:.4g}"
    if data.require_beat_baseline is False:
        beat += " (beating it was waived with --no-require-beat-baseline)"
    tuned = None
    if data.tuning:  # --tune: the search in words, and the values the Trainer took
        tuned = {"text": tuning.tuning_text(data.tuning.get("settings") or {}, data.tuning),
                 "values": dict(data.tuning.get("best") or {}),
                 "trials": len(data.tuning.get("trials") or [])}
    return {"pretraining_steps": data.pretraining_steps, "epochs_trained": epochs,
            "training_steps": steps, "beat_simple_baseline": beat, "tuning": tuned,
            "blessing_rules": [
                {"rule": r["rule"], "applied": r["applied"], "passed": r["passed"],
                 "checks": [c.get("text") for c in r.get("checks") or []] or [r["detail"]]}
                for r in data.blessing_rules]}


def _headline(metrics: Dict[str, float]) -> Optional[str]:
    for name in ("sparse_categorical_accuracy", "accuracy", "f1", "micro_f1", "entity_f1",
                 "mean_squared_error"):
        if name in metrics:
            return name
    return next((n for n in metrics if n != "example_count" and "/" not in n), None)


def build_card(data: ReportData, signatures: Dict) -> Dict:
    requests = request_examples(data, signatures)
    model_path = data.pushed_path or ""
    by_name = {s.name: s for s in data.slices}
    return {
        "model": {"name": data.model_name, "version": data.pushed_version, "path": model_path,
                  "task": data.task, "run_id": data.run_id, "trained": data.started,
                  "pipeline": data.pipeline_name},
        "intended_use": _intended_use(data),
        "checkpoint": dict(data.checkpoint),
        "training": {
            "data": dict(data.data_sources),
            "examples_per_split": dict(data.split_counts),
            "labels_per_split": {k: dict(v) for k, v in data.label_counts.items()},
            "words_per_text": {split: length_summary(v) for split, v in data.text_lengths.items()},
            "anomalies": len(data.anomalies),
            "hyperparameters": dict(data.hyperparameters),
            "max_seq_length": data.max_seq_length,
            "final_epoch": {k: v[-1] for k, v in data.history.items() if v},
        },
        "label_set": list(data.label_names),
        "evaluation": {
            "models": {role: dict(m) for role, m in data.models.items()},
            "slices": [{"slice": OVERALL, "metrics": {r: dict(m) for r, m in data.models.items()}}]
            + [{"slice": name, "metrics": by_name[name].metrics}
               for name in decision.slice_order(list(by_name))],
            "decision": data.decision_text(),
        },
        "what_happened": what_happened(data),
        "limitations": limitations(data),
        "signatures": signatures,
        "request_examples": requests,
        "lineage": [{"artifact": s.artifact_type, "produced_by": s.producer, "run": s.run_id,
                     "uri": s.uri, **s.details} for s in data.lineage],
    }


def _md_table(header: List[str], rows: List[List]) -> List[str]:
    def cell(v):
        if isinstance(v, float):
            return f"{v:.4f}" if not v.is_integer() else f"{int(v)}"
        return str(v).replace("|", "\\|").replace("\n", " ")
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]
    return lines


def render_markdown(card: Dict, data: ReportData) -> str:
    model = card["model"]
    out = [f"# Model card: {model['name']} version {model['version']}", "",
           f"Task `{model['task']}`, trained in run `{model['run_id']}` ({model['trained']}) "
           f"of the `{model['pipeline']}` pipeline. Path: `{model['path']}`.", "",
           "## Intended use", "", card["intended_use"], "",
           "## Checkpoint provenance", ""]
    out += _md_table(["", ""], [[k, v] for k, v in card["checkpoint"].items()])
    training = card["training"]
    out += ["", "## Training data", ""]
    out += _md_table(["", ""], [[f"data ({k})", v] for k, v in training["data"].items()])
    labels = in_id_order({l for c in training["labels_per_split"].values() for l in c},
                         card["label_set"])
    out += [""] + _md_table(["split", "examples"] + labels, [
        [split, n] + [training["labels_per_split"].get(split, {}).get(l, 0) for l in labels]
        for split, n in sorted(training["examples_per_split"].items())])
    words = training["words_per_text"]
    if words:
        out += ["", "Words per text:", ""]
        out += _md_table(["split", "min", "median", "p90", "p99", "max", "mean"], [
            [split] + [s.get(k, "") for k in ("min", "median", "p90", "p99", "max", "mean")]
            for split, s in sorted(words.items()) if s])
    out += ["", f"Anomalies found: {training['anomalies']}. Hyperparameters: "
            + ", ".join(f"{k} {v}" for k, v in training["hyperparameters"].items())
            + f", max sequence length {training['max_seq_length']}."]
    happened = card["what_happened"]
    steps = happened["training_steps"]
    out += ["", "## What happened in this run", "",
            f"- Pre-training steps run: {happened['pretraining_steps']:,}",
            f"- Trained: {happened['epochs_trained']} epochs"
            + (f", {steps:,} steps" if steps is not None else ""),
            f"- Beat the simple baseline: {happened['beat_simple_baseline']}"]
    if happened.get("tuning"):
        out.append(f"- {happened['tuning']['text']}")
    for rule in happened["blessing_rules"]:
        state = ("passed" if rule["passed"] else "FAILED") if rule["applied"] else "not applied"
        out.append(f"- Rule '{rule['rule']}': {state}; " + "; ".join(filter(None, rule["checks"])))
    out += ["", "## Label set", "",
            (", ".join(f"`{l}`" for l in card["label_set"]) + " (in class id order: id i is "
             "the i-th label, `label_ids` answer these ids and column i of `probabilities` "
             "is the i-th label's probability)")
            if card["label_set"] else "(none: not a single-label task)"]
    out += ["", "## Metrics (eval split)", ""]
    roles = data.roles()
    names = sorted({n for m in data.models.values() for n in m},
                   key=lambda n: (n == "example_count", "/class_" in n, n))
    slices = card["evaluation"]["slices"]
    rows = []
    for s in slices:
        for role in roles:
            metrics = s["metrics"].get(role)
            if metrics:
                rows.append([s["slice"], role] + [metrics.get(n, "") for n in names])
    out += _md_table(["slice", "model"] + [data.metric_label(n) for n in names], rows)
    out += ["", card["evaluation"]["decision"], "", "## Limitations", ""]
    out += [f"- {item}" for item in card["limitations"]]
    out += ["", "## Signatures", ""]
    for name, sig in card["signatures"].items():
        ins = ", ".join(f"`{k}` {v['dtype']}{v['shape']}" for k, v in sig["inputs"].items())
        outs = ", ".join(f"`{k}` {v['dtype']}{v['shape']}" for k, v in sig["outputs"].items())
        note = f" ({INTERNAL_SIGNATURES[name]})" if name in INTERNAL_SIGNATURES else ""
        out.append(f"- `{name}`{note}: inputs {ins}; outputs {outs}")
    for name, body in card["request_examples"].items():
        out += ["", f"Request to `{name}` (TF Serving REST):", "", "```sh",
                f"curl -d '{json.dumps(body)}' \\",
                f"    localhost:{_REST_PORT}/v1/models/{model['name']}:predict", "```"]
    if card["lineage"]:
        out += ["", "## Lineage", ""]
        out += [f"- {s['artifact']} `{s['uri']}` ← {s['produced_by']} (run {s['run']})"
                for s in card["lineage"]]
    return "\n".join(out) + "\n"


def write_model_card(data: ReportData, saved_model_dir: str,
                     signatures: Optional[Dict] = None) -> Dict[str, str]:
    """Writes model_card.json and model_card.md into `saved_model_dir`; returns their paths."""
    if signatures is None:
        signatures = read_signatures(saved_model_dir)
    card = build_card(data, signatures)
    paths = {"json": os.path.join(saved_model_dir, CARD_JSON),
             "md": os.path.join(saved_model_dir, CARD_MD)}
    with open(paths["json"], "w", encoding="utf-8") as f:
        json.dump(card, f, indent=1)
    with open(paths["md"], "w", encoding="utf-8") as f:
        f.write(render_markdown(card, data))
    return paths
