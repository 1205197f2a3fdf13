"""Reads what a run did back from ML Metadata: component states and times, data counts,
anomalies, evaluation metrics, the blessing decision and the pushed version."""
import dataclasses
import os
from typing import Dict, List, Optional

from ml_metadata.metadata_store import metadata_store
from ml_metadata.proto import metadata_store_pb2

from components.metric_names import metric_name, overall_metrics

# The node id of components/pretrainer.py (not imported: it pulls in TFX's component API).
PRETRAINER = "ElectraPretrainer"

_STATES = {
    metadata_store_pb2.Execution.COMPLETE: "ran",
    metadata_store_pb2.Execution.CACHED: "cached",
    metadata_store_pb2.Execution.FAILED: "failed",
    metadata_store_pb2.Execution.RUNNING: "running",
    metadata_store_pb2.Execution.NEW: "new",
    metadata_store_pb2.Execution.CANCELED: "canceled",
}


@dataclasses.dataclass
class ComponentRun:
    name: str
    state: str
    seconds: float


@dataclasses.dataclass
class RunRecord:
    run_id: str
    components: List[ComponentRun]
    split_counts: Dict[str, int]
    anomalies_found: int
    # metric name -> value, for the candidate and for the baseline it was compared with.
    candidate_metrics: Dict[str, float]
    baseline_metrics: Dict[str, float]
    blessed: Optional[bool]
    failed_checks: List[str]
    pushed_path: Optional[str]
    evaluation_uri: Optional[str] = None
    model_uri: Optional[str] = None
    # Why a blessed model was not pushed (the Pusher's TF Serving check), e.g. "the model uses
    # op TFText>RoundRobinTrim, which TF Serving 2.16 (...) does not have: ...".
    not_pushed_reason: Optional[str] = None
    # Rows read and bad rows per input split of the ExampleGen ({"train": {"rows": 480,
    # "bad": 3}}; "single_split" before a hash split), and where the bad rows were written.
    bad_rows: Dict[str, Dict[str, int]] = dataclasses.field(default_factory=dict)
    quarantine_dir: Optional[str] = None
    on_bad_rows: Optional[str] = None

    @property
    def quarantined_rows(self) -> int:
        """Rows set aside by --on-bad-rows quarantine (0 under "fail": that run stopped)."""
        return sum(s["bad"] for s in self.bad_rows.values()) if self.on_bad_rows == "quarantine" else 0
    # pretraining.json of the checkpoint ElectraPretrainer made (None: no pre-training), and
    # whether this run reused it from the cache.
    pretraining: Optional[dict] = None
    pretraining_cached: bool = False
    # ---- The simple baseline and the blessing decision (README, "Baselines, slices and
    # calibration"). `baseline_metrics` above stays the last blessed model's.
    # What the simple baseline trained in this run is, e.g. "TF-IDF logistic regression ...".
    simple_baseline: Optional[str] = None
    # Its overall metrics, from the baseline_evaluator (same eval split, metrics and slices).
    simple_baseline_metrics: Dict[str, float] = dataclasses.field(default_factory=dict)
    # The rule that decided the blessing: one of components.blessing_gate.RULES (the first that
    # failed) or blessing_gate.ALL_PASSED; None when the gate did not run.
    decided_by: Optional[str] = None
    # Every rule in order: {"rule": str, "applied": bool, "passed": bool, "detail": str}.
    blessing_rules: List[Dict] = dataclasses.field(default_factory=list)
    require_beat_baseline: Optional[bool] = None
    baseline_margin: Optional[float] = None
    # Candidate minus simple baseline on the headline metric (negative: the candidate is worse).
    baseline_gap: Optional[float] = None
    # model ("candidate", "simple_baseline", "last_blessed") -> slice ("Overall",
    # "label:pos", "words(text):9-16", ...) -> metric -> value.
    slice_metrics: Dict[str, Dict[str, Dict[str, float]]] = dataclasses.field(
        default_factory=dict)
    # The baseline_evaluator's output (TFMA: metrics, plots such as the confusion matrix and
    # validations of candidate vs simple baseline), the baseline's SavedModel, and the last
    # blessed model the candidate was compared with.
    baseline_evaluation_uri: Optional[str] = None
    simple_baseline_model_uri: Optional[str] = None
    last_blessed_model_uri: Optional[str] = None

    # --tune (trainer/tuning.py): {"objective": {"metric", "direction", "label"}, "trials":
    # [{"trial": 1, "score": 0.9, values...}, ...] in the order they ran, "best": the values
    # the Trainer took, "cached": reused from an earlier run}; None without --tune.
    tuning: Optional[dict] = None

    def state_of(self, component: str) -> Optional[str]:
        for c in self.components:
            if c.name == component:
                return c.state
        return None


def open_store(metadata_path) -> metadata_store.MetadataStore:
    """The store of a SQLite file (read-only), or of a ConnectionConfig (e.g. MySQL)."""
    if isinstance(metadata_path, metadata_store_pb2.ConnectionConfig):
        return metadata_store.MetadataStore(metadata_path)
    config = metadata_store_pb2.ConnectionConfig()
    config.sqlite.filename_uri = metadata_path
    config.sqlite.connection_mode = metadata_store_pb2.SqliteMetadataSourceConfig.READONLY
    return metadata_store.MetadataStore(config)


def run_ids(store) -> List[str]:
    """Pipeline run ids, oldest first."""
    runs = store.get_contexts_by_type("pipeline_run")
    return [c.name for c in sorted(runs, key=lambda c: (c.create_time_since_epoch, c.name))]


def _node_name(store, execution_id: int) -> str:
    for ctx in store.get_contexts_by_execution(execution_id):
        if ctx.type == "node" or store.get_context_types_by_id([ctx.type_id])[0].name == "node":
            return ctx.name.split(".", 1)[-1]
    return str(execution_id)


def _outputs(store, execution_id: int) -> List[metadata_store_pb2.Artifact]:
    events = store.get_events_by_execution_ids([execution_id])
    ids = [e.artifact_id for e in events if e.type in (metadata_store_pb2.Event.OUTPUT,
                                                       metadata_store_pb2.Event.DECLARED_OUTPUT)]
    return store.get_artifacts_by_id(ids) if ids else []


def _inputs(store, execution_id: int) -> List[metadata_store_pb2.Artifact]:
    events = store.get_events_by_execution_ids([execution_id])
    ids = [e.artifact_id for e in events if e.type == metadata_store_pb2.Event.INPUT]
    return store.get_artifacts_by_id(ids) if ids else []


def read_run(metadata_path: str, run_id: Optional[str] = None, files: bool = True) -> RunRecord:
    """What run `run_id` (default: the latest) did. `files=False` reads ML Metadata only, not
    the artifacts' files (statistics, anomalies, TFMA metrics): quick, and no TensorFlow
    (`electra-tfx runs`)."""
    store = open_store(metadata_path)
    ids = run_ids(store)
    if not ids:
        raise LookupError(f"no runs recorded in {metadata_path}")
    run_id = run_id or ids[-1]
    ctx = store.get_context_by_type_and_name("pipeline_run", run_id)
    if ctx is None:
        raise LookupError(f"no run {run_id!r} in {metadata_path}; runs: {', '.join(ids)}")
    executions = sorted(store.get_executions_by_context(ctx.id),
                        key=lambda e: (e.create_time_since_epoch, e.id))
    type_names = {t.id: t.name for t in store.get_artifact_types()}

    record = RunRecord(run_id=run_id, components=[], split_counts={}, anomalies_found=0,
                       candidate_metrics={}, baseline_metrics={}, blessed=None,
                       failed_checks=[], pushed_path=None)
    for execution in executions:
        name = _node_name(store, execution.id)
        seconds = (execution.last_update_time_since_epoch - execution.create_time_since_epoch) / 1000
        record.components.append(ComponentRun(name, _STATES.get(execution.last_known_state, "?"),
                                              seconds))
        for artifact in _outputs(store, execution.id):
            kind = type_names.get(artifact.type_id)
            if not files and kind in _FILE_KINDS:
                continue
            if kind == "ExampleStatistics":
                record.split_counts.update(_split_counts(artifact.uri))
            elif kind == "ExampleAnomalies":
                record.anomalies_found += _count_anomalies(artifact.uri)
            elif kind == "ModelEvaluation" and name == BASELINE_EVALUATOR:
                record.baseline_evaluation_uri = artifact.uri
                candidate, record.simple_baseline_metrics = _metrics(artifact.uri)
                # A quick run has no Evaluator against the last blessed model: the candidate's
                # metrics are this one's (pipeline/evaluation.py).
                record.candidate_metrics = record.candidate_metrics or candidate
                _add_slice_metrics(record.slice_metrics, artifact.uri,
                                   {"baseline": "simple_baseline", "candidate": "candidate"})
            elif kind == "ModelEvaluation":
                record.evaluation_uri = artifact.uri
                record.candidate_metrics, record.baseline_metrics = _metrics(artifact.uri)
                record.failed_checks = _failed_checks(artifact.uri)
                _add_slice_metrics(record.slice_metrics, artifact.uri,
                                   {"candidate": "candidate", "baseline": "last_blessed",
                                    "": "candidate"})
            elif kind == "ModelBlessing" and name == GATE:
                _read_gate(record, artifact)
            elif kind == "ModelBlessing" and record.decided_by is None:
                blessed = artifact.custom_properties.get("blessed")
                if blessed is not None:
                    record.blessed = bool(blessed.int_value)
            elif kind == "PushedModel":
                pushed = artifact.custom_properties.get("pushed")
                if pushed is not None and pushed.int_value:
                    record.pushed_path = artifact.custom_properties["pushed_destination"].string_value
                elif "not_pushed_reason" in artifact.custom_properties:
                    record.not_pushed_reason = \
                        artifact.custom_properties["not_pushed_reason"].string_value
            elif kind == "Model" and name == PRETRAINER:
                record.pretraining = _pretraining_report(artifact.uri) if files else None
                record.pretraining_cached = record.components[-1].state == "cached"
            elif kind == "Model" and name == BASELINE_TRAINER:
                record.simple_baseline_model_uri = artifact.uri
            elif kind == "Model":
                record.model_uri = artifact.uri
            elif kind in ("TunerResults", "HyperParameters") and name == TUNER:
                _read_tuning(record, store, execution, kind, artifact.uri, files)
            elif kind == "Examples" and "bad_rows" in artifact.custom_properties:
                _read_bad_rows(record, artifact)
    return record


# Artifacts whose files read_run reads (through TensorFlow and TFMA).
_FILE_KINDS = ("ExampleStatistics", "ExampleAnomalies", "ModelEvaluation")


def _read_bad_rows(record: RunRecord, artifact) -> None:
    """The counts TextExampleGen recorded on its examples (components/text_example_gen.py)."""
    from google.protobuf import json_format
    props = artifact.custom_properties
    counts = json_format.MessageToDict(props["bad_rows"].struct_value)
    record.bad_rows = {split: {k: int(v) for k, v in c.items()} for split, c in counts.items()}
    record.quarantine_dir = props["quarantine_dir"].string_value if "quarantine_dir" in props else None
    record.on_bad_rows = props["on_bad_rows"].string_value if "on_bad_rows" in props else None


def _pretraining_report(model_uri: str) -> Optional[dict]:
    import json
    import tensorflow as tf
    path = os.path.join(model_uri, "Format-Serving", "pretraining.json")
    if not tf.io.gfile.exists(path):
        return None
    with tf.io.gfile.GFile(path) as f:
        return json.load(f)


# Node ids of the evaluation half (pipeline/evaluation.py).
BASELINE_TRAINER, BASELINE_EVALUATOR, GATE = "baseline_trainer", "baseline_evaluator", "blessing_gate"


TUNER = "Tuner"
# The files TFX's Tuner writes (tfx/components/tuner/executor.py).
TUNER_RESULTS_FILE, BEST_HYPERPARAMETERS_FILE = "tuner_results.json", "best_hyperparameters.txt"


def _read_json(uri: str, name: str):
    """A small JSON file of an artifact (local paths without TensorFlow; URIs through it)."""
    import json
    path = os.path.join(uri, name)
    if "://" in uri:
        import tensorflow as tf
        if not tf.io.gfile.exists(path):
            return None
        with tf.io.gfile.GFile(path) as f:
            return json.load(f)
    if not os.path.isfile(path):
        return None
    with open(path) as f:
        return json.load(f)


def _read_tuning(record: RunRecord, store, execution, kind: str, uri: str, files: bool) -> None:
    """The Tuner's trials and best values, and the objective its custom_config named."""
    import json
    if record.tuning is None:
        value = execution.custom_properties.get("custom_config")
        raw = getattr(value, value.WhichOneof("value") or "string_value") if value else ""
        try:
            objective = json.loads(raw).get("objective") if raw else None
        except (TypeError, ValueError):
            objective = None
        record.tuning = {"objective": objective or {}, "trials": [], "best": {},
                         "cached": execution.last_known_state == metadata_store_pb2.Execution.CACHED}
    if not files:
        return
    if kind == "TunerResults":
        rows = _read_json(uri, TUNER_RESULTS_FILE) or []
        # TFX lists them best first; the report shows them in the order they ran.
        rows = sorted(rows, key=lambda r: int(r.get("trial_id", 0)))
        record.tuning["trials"] = [
            {"trial": i + 1, "score": r.get("score"),
             **{k: v for k, v in r.items() if k not in ("trial_id", "score")
                and not k.startswith("tuner/")}} for i, r in enumerate(rows)]
    else:
        config = _read_json(uri, BEST_HYPERPARAMETERS_FILE) or {}
        record.tuning["best"] = {k: v for k, v in config.get("values", {}).items()
                                 if not k.startswith("tuner/")}


def _read_gate(record: RunRecord, blessing) -> None:
    """The gate's decision; its failed rules replace the Evaluator's failed checks."""
    import json
    props = blessing.custom_properties
    if "blessed" not in props:
        return
    record.blessed = bool(props["blessed"].int_value)
    record.decided_by = props["decided_by"].string_value if "decided_by" in props else None
    record.blessing_rules = json.loads(props["rules"].string_value) if "rules" in props else []
    if "require_beat_baseline" in props:
        record.require_beat_baseline = bool(props["require_beat_baseline"].int_value)
    if "baseline_margin" in props:
        record.baseline_margin = props["baseline_margin"].double_value
    if "baseline_gap" in props:
        record.baseline_gap = props["baseline_gap"].double_value
    if "simple_baseline" in props:
        record.simple_baseline = props["simple_baseline"].string_value or None
    if "baseline_model" in props:
        record.last_blessed_model_uri = props["baseline_model"].string_value
    record.failed_checks = [f"{rule['rule']}: {rule['detail']}" for rule in record.blessing_rules
                            if rule["applied"] and not rule["passed"]]


def _split_counts(statistics_uri: str) -> Dict[str, int]:
    import tensorflow as tf
    from tensorflow_metadata.proto.v0 import statistics_pb2
    counts = {}
    for split_dir in tf.io.gfile.glob(os.path.join(statistics_uri, "Split-*")):
        path = os.path.join(split_dir, "FeatureStats.pb")
        if tf.io.gfile.exists(path):
            stats = statistics_pb2.DatasetFeatureStatisticsList()
            stats.ParseFromString(tf.io.gfile.GFile(path, "rb").read())
            counts[os.path.basename(split_dir)[len("Split-"):]] = sum(
                d.num_examples for d in stats.datasets)
    return counts


def _count_anomalies(anomalies_uri: str) -> int:
    import tensorflow as tf
    from tensorflow_metadata.proto.v0 import anomalies_pb2
    total = 0
    for path in tf.io.gfile.glob(os.path.join(anomalies_uri, "Split-*", "SchemaDiff.pb")):
        proto = anomalies_pb2.Anomalies()
        proto.ParseFromString(tf.io.gfile.GFile(path, "rb").read())
        total += len(proto.anomaly_info) + int(proto.HasField("dataset_anomaly_info"))
    return total


def _metrics(evaluation_uri: str):
    """Overall-slice scalar metrics of the candidate and the baseline."""
    try:
        return overall_metrics(evaluation_uri)
    except Exception:  # noqa: BLE001 — a summary must not fail the run it describes
        return {}, {}


def _slice_name(slice_key) -> str:
    return ", ".join(f"{name}:{value}" for name, value in slice_key) if slice_key else "Overall"


def _add_slice_metrics(into: Dict[str, Dict[str, Dict[str, float]]], evaluation_uri: str,
                       model_names: Dict[str, str]) -> None:
    """Every slice's scalar metrics, filed under the RunRecord's model names."""
    import tensorflow_model_analysis as tfma
    try:
        for metrics in tfma.load_metrics(evaluation_uri):
            slice_key = tfma.slicer.deserialize_slice_key(metrics.slice_key)
            for kv in metrics.metric_keys_and_values:
                model = model_names.get(kv.key.model_name)
                if model is None or kv.key.is_diff or not kv.value.HasField("double_value"):
                    continue
                into.setdefault(model, {}).setdefault(_slice_name(slice_key), {})[
                    metric_name(kv.key)] = kv.value.double_value.value
    except Exception:  # noqa: BLE001 — a summary must not fail the run it describes
        pass


def _failed_checks(evaluation_uri: str) -> List[str]:
    import tensorflow_model_analysis as tfma
    try:
        result = tfma.load_validation_result(evaluation_uri)
    except Exception:  # noqa: BLE001
        return []
    failures = []
    for per_slice in result.metric_validations_per_slice:
        for failure in per_slice.failures:
            failures.append(_describe_failure(failure))
    if result.missing_thresholds:
        failures.append("a metric with a threshold is missing from the evaluation")
    return failures


def _describe_failure(failure) -> str:
    """E.g. 'accuracy 0.4035 is below the bar 0.5' or '... dropped 0.03 (allowed 0.01)'."""
    from components.blessing_gate import describe_failure
    return describe_failure(failure)
