"""Builds a run's ReportData from ML Metadata and the artifacts it points at: StatisticsGen's
statistics, ExampleValidator's anomalies, the Trainer's history.json, TFMA's metrics and plots
of every ModelEvaluation, the blessing and the push, and the lineage of the result.

Every reader is forgiving: a report describes whatever part of the run exists (a run stopped
by the anomaly gate has data and anomalies but no model).
"""
import dataclasses
import datetime
import glob
import gzip
import json
import logging
import os
from typing import Dict, Iterator, List, Optional

import tensorflow as tf

import pipeline_config

from components import small_data
from pipeline import run_record
from pipeline.report import lineage
from pipeline.report.model import (BASELINE, CANDIDATE, LAST_BLESSED, OVERALL, Anomaly,
                                   CalibrationBin, ComponentTime, ConfusionMatrix,
                                   ExamplePrediction, ExamplePredictions, ReliabilityBin,
                                   ReportData, SliceMetrics, predictions_file)
from trainer.tasks.outcomes import ExampleView

# Enough examples for a length histogram; larger splits are sampled from their first files.
MAX_EXAMPLES_SCANNED = 50_000
# The Evaluator's input key for each TFMA model name (TFX names them candidate/baseline).
_EVALUATOR_INPUT_KEY = {"candidate": "model", "": "model", "baseline": "baseline_model"}
_TRAINER_NODE = "Trainer"


def collect(metadata_path: str, run_id: Optional[str] = None, output_dir: Optional[str] = None,
            checkpoint=None, config=None) -> ReportData:
    """Reads run `run_id` (default: the latest). The running pipeline passes what only it
    knew: `checkpoint` (a trainer.checkpoint.ResolvedCheckpoint: e.g. that `auto` fell back
    to a scratch model) and `config` (its PipelineConfig, for a run stopped before the
    Trainer recorded it)."""
    record = run_record.read_run(metadata_path, run_id)
    store = run_record.open_store(metadata_path)
    context = store.get_context_by_type_and_name("pipeline_run", record.run_id)
    data = ReportData(run_id=record.run_id,
                      output_dir=output_dir or os.path.dirname(os.path.abspath(metadata_path)))
    data.started = datetime.datetime.fromtimestamp(
        context.create_time_since_epoch / 1000).isoformat(sep=" ", timespec="seconds")
    data.split_counts = dict(record.split_counts)
    small = small_data.small_data_warning(data.split_counts.get("train", 0),
                                          data.split_counts.get("eval"))
    if small and data.split_counts:
        data.warnings.append(small)
    data.blessed = record.blessed
    data.failed_checks = list(record.failed_checks)
    data.pushed_path = record.pushed_path
    data.not_pushed_reason = record.not_pushed_reason
    data.components = [ComponentTime(c.name, c.state, c.seconds) for c in record.components]
    # Set by a blessing gate that weighs several rules (absolute bar, no regression against
    # the last blessed model, beating the in-pipeline baseline), when the pipeline has one.
    data.deciding_rule = getattr(record, "decided_by", None)
    data.blessing_rules = list(getattr(record, "blessing_rules", None) or [])
    data.require_beat_baseline = record.require_beat_baseline
    data.baseline_gap = record.baseline_gap

    executions = sorted(store.get_executions_by_context(context.id),
                        key=lambda e: (e.create_time_since_epoch, e.id))
    type_names = {t.id: t.name for t in store.get_artifact_types()}
    outputs = {}  # (node, artifact type) -> artifact
    evaluations = []  # (evaluator execution, ModelEvaluation artifact)
    by_node = {}
    for execution in executions:
        node = lineage.node_name(store, execution.id)
        by_node[node] = execution
        for artifact in run_record._outputs(store, execution.id):
            kind = type_names.get(artifact.type_id)
            outputs[(node, kind)] = artifact
            if kind == "ModelEvaluation":
                evaluations.append((execution, artifact))

    run_config = _run_config(store, by_node)
    if run_config is None and config is not None:
        run_config = (config, {})
    if run_config is not None:
        _describe_config(data, run_config)
    elif "TextExampleGen" in by_node:
        base = lineage.property_value(by_node["TextExampleGen"].custom_properties, "input_base")
        if base:
            data.data_sources["input"] = str(base)
    _describe_checkpoint(data, run_config, checkpoint)

    statistics = outputs.get(("StatisticsGen", "ExampleStatistics"))
    label_column, text_columns = _columns(run_config)
    examples = outputs.get(("TextExampleGen", "Examples"))
    if examples is not None and text_columns:
        data.text_lengths, data.label_counts = _scan_examples(examples.uri, text_columns,
                                                              label_column)
        data.example_features = _first_example(examples.uri, text_columns)
    if statistics is not None and label_column:
        # StatisticsGen's counts cover every example (string labels only).
        data.label_counts.update(_label_counts(statistics.uri, label_column))
    anomalies = outputs.get(("ExampleValidator", "ExampleAnomalies"))
    if anomalies is not None:
        data.anomalies = _anomalies(anomalies.uri)
    if record.state_of("AnomalyGate") == "failed":
        data.stopped_at = "the anomaly gate (ExampleValidator found anomalies)"

    model_run = outputs.get((_TRAINER_NODE, "ModelRun"))
    if model_run is not None:
        data.history = _history(model_run.uri)
        data.steps_per_epoch = _steps_per_epoch(model_run.uri)
    if getattr(record, "pretraining", None):
        data.pretraining_steps = int(record.pretraining.get("steps", 0))
    if getattr(record, "tuning", None):
        _describe_tuning(data, record.tuning, store, by_node)
    transform_graph = outputs.get(("Transform", "TransformGraph"))
    if transform_graph is not None:
        data.label_names = _label_names(transform_graph.uri)

    candidate_model = outputs.get((_TRAINER_NODE, "Model"))
    for execution, evaluation in evaluations:
        _read_evaluation(store, data, execution, evaluation, candidate_model)
    if getattr(record, "simple_baseline", None) and BASELINE in data.model_descriptions:
        data.model_descriptions[BASELINE] = (f"{record.simple_baseline}, "
                                             f"{data.model_descriptions[BASELINE]}")

    data.predictions = read_predictions(predictions_file(
        os.path.dirname(os.path.abspath(metadata_path)), record.run_id))

    head = outputs.get(("Pusher", "PushedModel")) if record.pushed_path else None
    head = head or candidate_model
    if head is not None:
        data.lineage = lineage.trace(store, head.id)
    return data


# ---- configuration -------------------------------------------------------------------

def _run_config(store, by_node):
    """The PipelineConfig the run's Trainer (or Transform) got through custom_config."""
    import pipeline_config
    for node in (_TRAINER_NODE, "Tuner", "Transform"):  # the Tuner's: the whole config too
        if node in by_node:
            context = lineage.trainer_config(store, by_node[node])
            if context.get("config"):
                config = dict(context["config"])
                if node == "Transform":  # a cut-down copy (records before VIEW_KEY too)
                    config.setdefault(pipeline_config.VIEW_KEY, node)
                try:
                    return pipeline_config.from_dict(config), context
                except Exception:  # noqa: BLE001 — a newer or older config shape
                    logging.warning("report: cannot read the run's config", exc_info=True)
    return None


# The report's names of the train fields --tune searches.
_TUNED_NAMES = {"epochs": "epochs", "batch_size": "batch size",
                "learning_rate": "peak learning rate", "layer_decay": "layer-wise decay",
                "warmup_ratio": "warmup ratio"}


def _describe_tuning(data: ReportData, tuning: Dict, store, by_node) -> None:
    """The trials, and the tuned values in place of the config's (the Trainer trained with
    them); the search's settings from the Tuner's custom_config."""
    data.tuning = dict(tuning)
    if "Tuner" in by_node:
        tuner_config = lineage.trainer_config(store, by_node["Tuner"])
        data.tuning["settings"] = dict(tuner_config.get("tune") or {})
    for name, value in (tuning.get("best") or {}).items():
        if name in _TUNED_NAMES and data.hyperparameters:
            data.hyperparameters[_TUNED_NAMES[name]] = f"{value:.3g} (tuned)" \
                if isinstance(value, float) else f"{value} (tuned)"


def _describe_config(data: ReportData, cfg_and_context) -> None:
    cfg, _ = cfg_and_context
    data.task = cfg.task
    data.pipeline_name = cfg.pipeline_name
    data.quick_note = pipeline_config.quick_note(cfg) or ""
    if data.quick_note:
        data.warnings.insert(0, data.quick_note)
    data.model_name = cfg.model_name
    data.max_seq_length = cfg.model.max_seq_length
    train = cfg.train
    # Transform's copy (the run stopped before the Trainer) has no training settings.
    data.hyperparameters = {} if isinstance(train, pipeline_config.ConfigView) else {
        "epochs": str(train.epochs), "batch size": str(train.batch_size),
        "peak learning rate": str(train.learning_rate), "layer-wise decay": str(train.layer_decay),
        "warmup ratio": str(train.warmup_ratio), "weight decay": str(train.weight_decay),
        "seed": str(train.seed)}
    if cfg.task_options.multi_label:
        data.hyperparameters["multi-label"] = "yes"
    if cfg.task_options.regression:
        data.hyperparameters["regression"] = "yes"
    # The data section is in every component's copy.
    data.data_sources["train"] = cfg.data.train
    if cfg.data.eval:
        data.data_sources["eval"] = cfg.data.eval
    else:
        data.data_sources["eval"] = f"{cfg.data.eval_percent}% hash split of the training data"


def _describe_checkpoint(data: ReportData, cfg_and_context, checkpoint) -> None:
    if cfg_and_context is not None:
        cfg, context = cfg_and_context
        data.checkpoint["requested"] = cfg.model.checkpoint
        data.checkpoint["path"] = context.get("checkpoint_dir", "")
    if checkpoint is not None:
        data.checkpoint.update(requested=checkpoint.requested, path=checkpoint.path,
                               source=checkpoint.source)
        if checkpoint.warning:
            data.checkpoint["warning"] = checkpoint.warning
    path = data.checkpoint.get("path")
    if path:
        data.checkpoint.update(checkpoint_provenance(path))


def checkpoint_provenance(path: str) -> Dict[str, str]:
    """What a checkpoint directory says about itself: its architecture, and the hub revision
    when it is a HuggingFace cache snapshot (…/models--org--name/snapshots/<sha>)."""
    info: Dict[str, str] = {}
    parts = os.path.normpath(path).split(os.sep)
    if "snapshots" in parts:
        i = parts.index("snapshots")
        if i >= 1 and parts[i - 1].startswith("models--") and i + 1 < len(parts):
            info["hub id"] = parts[i - 1][len("models--"):].replace("--", "/")
            info["hub revision"] = parts[i + 1]
    if os.path.basename(os.path.normpath(path)).startswith("scratch-"):
        info.setdefault("source", "scratch")
    from trainer.checkpoints.files import CheckpointError, CheckpointInfo
    try:
        checkpoint = CheckpointInfo.read(path)
    except (CheckpointError, ValueError, TypeError):
        return info
    shown = lambda value: "?" if value is None else value  # noqa: E731
    info["architecture"] = (f"{shown(checkpoint.model_type)}: "
                            f"{shown(checkpoint.num_hidden_layers)} layers, "
                            f"hidden {shown(checkpoint.hidden_size)}, "
                            f"vocabulary {shown(checkpoint.vocab_size)}")
    return info


def _columns(cfg_and_context):
    if cfg_and_context is None:
        return None, None
    from trainer import tasks
    cfg, _ = cfg_and_context
    try:
        task = tasks.create(cfg)
    except Exception:  # noqa: BLE001
        return cfg.data.label_column, [cfg.data.text_column]
    return task.raw_label_column(cfg), task.raw_text_columns(cfg)


# ---- data ------------------------------------------------------------------------------

def _split_dirs(uri: str) -> Dict[str, str]:
    return {os.path.basename(d)[len("Split-"):]: d
            for d in sorted(tf.io.gfile.glob(os.path.join(uri, "Split-*")))}


def _split_protos(uri: str, filename: str, proto_class):
    """(split, parsed proto) for each Split-* folder of an artifact that holds `filename`."""
    for split, directory in _split_dirs(uri).items():
        path = os.path.join(directory, filename)
        if tf.io.gfile.exists(path):
            proto = proto_class()
            proto.ParseFromString(tf.io.gfile.GFile(path, "rb").read())
            yield split, proto


def _label_counts(statistics_uri: str, label_column: str) -> Dict[str, Dict[str, int]]:
    """Label -> count per split from StatisticsGen's rank histogram of the label feature."""
    from tensorflow_metadata.proto.v0 import statistics_pb2
    counts: Dict[str, Dict[str, int]] = {}
    for split, stats in _split_protos(statistics_uri, "FeatureStats.pb",
                                      statistics_pb2.DatasetFeatureStatisticsList):
        for dataset in stats.datasets:
            for feature in dataset.features:
                name = feature.path.step[-1] if feature.path.step else feature.name
                if name != label_column or not feature.HasField("string_stats"):
                    continue
                histogram = feature.string_stats.rank_histogram.buckets
                counts[split] = {b.label: int(b.sample_count) for b in histogram}
    return counts


def _records(directory: str) -> Iterator[bytes]:
    for path in sorted(tf.io.gfile.glob(os.path.join(directory, "*"))):
        compression = "GZIP" if path.endswith(".gz") else ""
        for record in tf.data.TFRecordDataset(path, compression_type=compression).as_numpy_iterator():
            yield record


def _scan_examples(examples_uri: str, text_columns: List[str], label_column: Optional[str]):
    """Words per example (summed over the task's text columns; list features: their length)
    and label counts, per split, from ExampleGen's output (at most MAX_EXAMPLES_SCANNED
    examples a split).

    TFDV's statistics hold only the average length of a string and no exact counts of an
    integer label, so both are counted here.
    """
    lengths: Dict[str, List[int]] = {}
    labels: Dict[str, Dict[str, int]] = {}
    for split, directory in _split_dirs(examples_uri).items():
        values = lengths.setdefault(split, [])
        counts = labels.setdefault(split, {})
        for record in _records(directory):
            features = tf.train.Example.FromString(record).features.feature
            total = 0
            for column in text_columns:
                if column in features:
                    items = features[column].bytes_list.value
                    total += len(items[0].split()) if len(items) == 1 else len(items)
            values.append(total)
            if label_column and label_column in features:
                for label in _label_values(features[label_column]):
                    counts[label] = counts.get(label, 0) + 1
            if len(values) >= MAX_EXAMPLES_SCANNED:
                break
    return lengths, {split: c for split, c in labels.items() if c}


def _first_example(examples_uri: str, text_columns: List[str]) -> Dict[str, List[str]]:
    splits = _split_dirs(examples_uri)
    for split in ("eval", *splits):
        if split not in splits:
            continue
        for record in _records(splits[split]):
            features = tf.train.Example.FromString(record).features.feature
            return {c: [v.decode("utf-8", "replace") for v in features[c].bytes_list.value]
                    for c in text_columns if c in features}
    return {}


def _label_values(feature) -> List[str]:
    """A label cell's values as strings; none for float (regression) targets."""
    if feature.bytes_list.value:
        return [v.decode("utf-8", "replace") for v in feature.bytes_list.value]
    return [str(v) for v in feature.int64_list.value]


def _anomalies(anomalies_uri: str) -> List[Anomaly]:
    from components.anomalies import read_anomalies  # the anomaly gate's reader
    return [Anomaly(a.split, a.feature, a.description, a.severity)
            for a in read_anomalies(anomalies_uri)]


def _history(model_run_uri: str) -> Dict[str, List[float]]:
    from trainer.run_files import HISTORY_FILE
    path = os.path.join(model_run_uri, HISTORY_FILE)
    if not tf.io.gfile.exists(path):
        return {}
    with tf.io.gfile.GFile(path) as f:
        return {k: [float(x) for x in v] for k, v in json.load(f).get("history", {}).items()}


def _steps_per_epoch(model_run_uri: str) -> Optional[int]:
    from trainer.run_files import HISTORY_FILE
    path = os.path.join(model_run_uri, HISTORY_FILE)
    if not tf.io.gfile.exists(path):
        return None
    with tf.io.gfile.GFile(path) as f:
        steps = json.load(f).get("steps_per_epoch")
    return int(steps) if steps is not None else None


def _label_names(transform_graph_uri: str) -> List[str]:
    """The label (or tag) vocabulary Transform learned, in class id order (any task's
    `Task.label_vocabulary`)."""
    from trainer import tasks
    names = dict.fromkeys(cls.label_vocabulary for cls in tasks.all_variants()
                          if cls.label_vocabulary)
    for name in names:
        pattern = os.path.join(transform_graph_uri, "transform_fn", "assets", name)
        for path in tf.io.gfile.glob(pattern):
            with tf.io.gfile.GFile(path) as f:
                return [line.rstrip("\n") for line in f if line.strip()]
    return []


# ---- evaluation ------------------------------------------------------------------------

def _roles_of_models(store, execution, candidate_model) -> Dict[str, tuple]:
    """TFMA model name -> (role, description) for one Evaluator execution.

    The Evaluator's `model` input is the candidate when it is this run's Trainer's model;
    its `baseline_model` is the last blessed model when a Trainer made it. A model made by
    any other node (an in-pipeline baseline trainer) is the "baseline".
    """
    inputs = lineage.inputs_by_key(store, execution.id)
    roles = {}
    for tfma_name, key in _EVALUATOR_INPUT_KEY.items():
        models = inputs.get(key)
        if not models:
            continue
        model = models[0]
        producer = lineage.producer(store, model.id)
        node = lineage.node_name(store, producer.id) if producer is not None else "?"
        run = lineage.context_names(store, producer.id).get("pipeline_run", "?") \
            if producer is not None else "?"
        if node != _TRAINER_NODE:
            roles[tfma_name] = (BASELINE, f"{node} ({model.uri})")
        elif key == "model":
            is_this_run = candidate_model is None or candidate_model.id == model.id
            roles[tfma_name] = (CANDIDATE if is_this_run else f"model {model.id}",
                                f"the Trainer's model in this run ({model.uri})")
        else:
            roles[tfma_name] = (LAST_BLESSED, f"Trainer of run {run} ({model.uri})")
    return roles


def _slice_name(slice_key) -> str:
    if not slice_key.single_slice_keys:
        return OVERALL
    parts = []
    for key in slice_key.single_slice_keys:
        kind = key.WhichOneof("kind")
        value = getattr(key, kind) if kind else ""
        if isinstance(value, bytes):
            value = value.decode("utf-8", "replace")
        parts.append(f"{key.column}:{value}")
    return ", ".join(parts)


def _read_evaluation(store, data: ReportData, execution, evaluation, candidate_model) -> None:
    import tensorflow_model_analysis as tfma
    roles = _roles_of_models(store, execution, candidate_model)

    def role_of(model_name: str):
        return roles.get(model_name, (model_name or CANDIDATE, ""))[0]

    for name, (role, description) in roles.items():
        data.model_descriptions.setdefault(role, description)
    compared = roles.get("baseline", (None,))[0]
    if compared in (BASELINE, LAST_BLESSED):
        change = _change_threshold(evaluation.uri)
        if change is not None:
            data.change_thresholds.setdefault(compared, change)
    slices: Dict[str, Dict[str, Dict[str, float]]] = {}
    try:
        for per_slice in tfma.load_metrics(evaluation.uri):
            slice_name = _slice_name(per_slice.slice_key)
            for kv in per_slice.metric_keys_and_values:
                if kv.key.is_diff or not kv.value.HasField("double_value"):
                    continue
                role = role_of(kv.key.model_name)
                slices.setdefault(slice_name, {}).setdefault(role, {})[
                    run_record.metric_name(kv.key)] = kv.value.double_value.value
    except Exception:  # noqa: BLE001 — a report must not fail on a partial evaluation
        logging.warning("report: cannot read metrics from %s", evaluation.uri, exc_info=True)
    for role, metrics in slices.pop(OVERALL, {}).items():
        data.models.setdefault(role, metrics)
    known = {s.name: s for s in data.slices}
    for name in sorted(slices):
        if name in known:
            for role, metrics in slices[name].items():
                known[name].metrics.setdefault(role, metrics)
        else:
            data.slices.append(SliceMetrics(name, slices[name]))
    try:
        plots = list(tfma.load_plots(evaluation.uri))
    except Exception:  # noqa: BLE001
        logging.warning("report: cannot read plots from %s", evaluation.uri, exc_info=True)
        plots = []
    for per_slice in plots:
        if per_slice.slice_key.single_slice_keys:
            continue
        for kv in per_slice.plot_keys_and_values:
            role = role_of(kv.key.model_name)
            value = kv.value
            if value.HasField("multi_class_confusion_matrix_at_thresholds") and \
                    role not in data.confusion:
                matrix = _confusion(value.multi_class_confusion_matrix_at_thresholds,
                                    data.label_names)
                if matrix is not None:
                    data.confusion[role] = matrix
            # Binarized per class: class 1's (the positive class of a binary task) if any.
            class_id = kv.key.sub_key.class_id.value if kv.key.sub_key.HasField("class_id") else 0
            if value.HasField("calibration_histogram_buckets") and (
                    role not in data.calibration or (class_id == 1 and role == CANDIDATE)):
                data.calibration[role] = _calibration(value.calibration_histogram_buckets)
                if role == CANDIDATE:
                    data.calibration_label = (data.label_names[class_id]
                                              if class_id < len(data.label_names) else str(class_id))


def _confusion(at_thresholds, label_names: List[str]) -> Optional[ConfusionMatrix]:
    if not at_thresholds.matrices:
        return None
    # The matrix at the smallest threshold: every example counts for its argmax class.
    matrix = min(at_thresholds.matrices, key=lambda m: m.threshold)
    ids = sorted({e.actual_class_id for e in matrix.entries} |
                 {e.predicted_class_id for e in matrix.entries if e.predicted_class_id >= 0})
    n = max(ids + [len(label_names) - 1]) + 1
    counts = [[0.0] * n for _ in range(n)]
    for entry in matrix.entries:
        if 0 <= entry.actual_class_id < n and 0 <= entry.predicted_class_id < n:
            counts[entry.actual_class_id][entry.predicted_class_id] += entry.num_weighted_examples
    labels = [label_names[i] if i < len(label_names) else str(i) for i in range(n)]
    # Class ids follow Transform's vocabulary (by frequency); show the labels sorted.
    order = sorted(range(n), key=lambda i: labels[i])
    return ConfusionMatrix(labels=[labels[i] for i in order],
                           counts=[[counts[a][p] for p in order] for a in order])


def _calibration(buckets) -> List[CalibrationBin]:
    bins = []
    for b in buckets.buckets:
        count = b.num_weighted_examples.value
        if count <= 0:
            continue
        bins.append(CalibrationBin(
            lower=b.lower_threshold_inclusive, upper=b.upper_threshold_exclusive, count=count,
            mean_label=b.total_weighted_label.value / count,
            mean_prediction=b.total_weighted_refined_prediction.value / count))
    return bins


def _change_threshold(evaluation_uri: str) -> Optional[Dict]:
    """The change threshold on the overall slice in the Evaluator's eval_config.json (TFMA
    writes it beside the metrics): {"metric", "change", "higher_is_better"}."""
    path = os.path.join(evaluation_uri, "eval_config.json")
    try:
        with open(path, encoding="utf-8") as f:
            config = json.load(f).get("evalConfig", {})
    except (OSError, ValueError):
        return None
    for spec in config.get("metricsSpecs", []):
        if spec.get("binarize"):
            continue
        for metric in spec.get("metrics", []):
            thresholds = [t.get("threshold", {}) for t in metric.get("perSliceThresholds", [])]
            thresholds.append(metric.get("threshold", {}))
            for threshold in thresholds:
                change = threshold.get("changeThreshold")
                if change and "absolute" in change:
                    return {"metric": _metric_name(metric),
                            "change": float(change["absolute"]),
                            "higher_is_better": change.get("direction") != "LOWER_IS_BETTER"}
    return None


def _metric_name(metric_config: Dict) -> str:
    """TFMA's name of a metric: its config's "name", else its class name in snake case."""
    import re
    named = re.search(r'"name"\s*:\s*"([^"]+)"', metric_config.get("config", ""))
    if named:
        return named.group(1)
    return re.sub(r"(?<!^)(?=[A-Z])", "_", metric_config.get("className", "")).lower()


def read_predictions(path: str) -> Optional[ExamplePredictions]:
    """The run's per-example predictions file (pipeline/example_predictions.py), if any."""
    try:
        with open(path, encoding="utf-8") as f:
            raw = json.load(f)
    except (OSError, ValueError):
        return None

    def number(value, kind=float):
        return None if value is None else kind(value)

    def examples(rows):
        return [ExamplePrediction(
            text=dict(r.get("text", {})), label=str(r.get("label", "")),
            predicted=str(r.get("predicted", "")), confidence=number(r.get("confidence")),
            correct=number(r.get("correct"), bool), score=number(r.get("score")),
            words=[[str(part) for part in w] for w in r.get("words") or []]) for r in rows]
    try:
        views = {f.name for f in dataclasses.fields(ExampleView)}
        return ExamplePredictions(
            predicted=int(raw["predicted"]), mistakes=number(raw["mistakes"], int),
            first_examples_only=bool(raw.get("first_examples_only")),
            confident_mistakes=examples(raw.get("confident_mistakes", [])),
            correct_examples=examples(raw.get("correct_examples", [])),
            reliability=[ReliabilityBin(float(b["lower"]), float(b["upper"]), int(b["count"]),
                                        float(b["confidence"]), float(b["accuracy"]))
                         for b in raw.get("reliability", [])],
            text_columns=list(raw.get("text_columns", [])),
            view=ExampleView(**{k: v for k, v in (raw.get("view") or {}).items()
                                if k in views}),
            mean_score=number(raw.get("mean_score")))
    except (KeyError, TypeError, ValueError):
        logging.warning("report: cannot read the predictions in %s", path, exc_info=True)
        return None
