"""Lineage from ML Metadata events: from a pushed model back to the data and the checkpoint.

    PushedModel ← Pusher ← Model ← Trainer ← Examples (transformed) ← Transform
    ← Examples ← TextExampleGen (input files and their fingerprint)

Each hop follows an artifact to the execution that produced it (an OUTPUT event; the
original execution, not a later cache hit) and then that execution's main input.
"""
import json
from typing import Dict, List, Optional

from ml_metadata.proto import metadata_store_pb2

from pipeline.report.model import LineageStep

# The input followed upstream, by preference: the model a Pusher or Evaluator got, the
# examples a Trainer or Transform read.
_UPSTREAM_KEYS = ("model", "examples")
_OUTPUT_EVENTS = (metadata_store_pb2.Event.OUTPUT, metadata_store_pb2.Event.DECLARED_OUTPUT)
_MAX_HOPS = 12


def _event_keys(event) -> List[str]:
    """The input/output keys of an event: one artifact used under two keys (e.g. the same
    model as an Evaluator's `model` and `baseline_model`) is one event with both in its path."""
    return [step.key for step in event.path.steps if step.HasField("key")] or [""]


def context_names(store, execution_id: int) -> Dict[str, str]:
    """Context type name -> context name for an execution (e.g. node, pipeline_run)."""
    contexts = store.get_contexts_by_execution(execution_id)
    types = {t.id: t.name for t in store.get_context_types_by_id(list({c.type_id for c in contexts}))}
    return {types.get(c.type_id, "?"): c.name for c in contexts}


def node_name(store, execution_id: int) -> str:
    return context_names(store, execution_id).get("node", str(execution_id)).split(".", 1)[-1]


def producer(store, artifact_id: int) -> Optional[metadata_store_pb2.Execution]:
    """The execution that produced the artifact; the one that computed it rather than a
    cached re-run when both recorded it as output."""
    events = [e for e in store.get_events_by_artifact_ids([artifact_id]) if e.type in _OUTPUT_EVENTS]
    if not events:
        return None
    executions = store.get_executions_by_id(list({e.execution_id for e in events}))
    complete = [e for e in executions if e.last_known_state == metadata_store_pb2.Execution.COMPLETE]
    return min(complete or executions, key=lambda e: e.id)


def inputs_by_key(store, execution_id: int) -> Dict[str, List[metadata_store_pb2.Artifact]]:
    events = [e for e in store.get_events_by_execution_ids([execution_id])
              if e.type == metadata_store_pb2.Event.INPUT]
    artifacts = {a.id: a for a in store.get_artifacts_by_id([e.artifact_id for e in events])}
    by_key: Dict[str, List[metadata_store_pb2.Artifact]] = {}
    for event in events:
        if event.artifact_id in artifacts:
            for key in _event_keys(event):
                by_key.setdefault(key, []).append(artifacts[event.artifact_id])
    return by_key


def property_value(props, name: str):
    value = props.get(name)
    if value is None:
        return None
    which = value.WhichOneof("value")
    return getattr(value, which) if which else None


def trainer_config(store, execution) -> Dict:
    """The RunContext a Trainer got through custom_config (config, checkpoint_dir, ...)."""
    raw = property_value(execution.custom_properties, "custom_config") or \
        property_value(execution.properties, "custom_config")
    try:
        return json.loads(raw) if raw else {}
    except (TypeError, ValueError):
        return {}


def _details(store, artifact, execution) -> Dict[str, str]:
    details: Dict[str, str] = {}
    name = node_name(store, execution.id)
    if name == "Trainer":
        context = trainer_config(store, execution)
        if context:
            details["checkpoint"] = str(context.get("config", {}).get("model", {}).get("checkpoint"))
            details["checkpoint dir"] = str(context.get("checkpoint_dir"))
    input_base = property_value(execution.custom_properties, "input_base") or \
        property_value(execution.properties, "input_base")
    if input_base:
        details["input files"] = str(input_base)
        config = property_value(execution.custom_properties, "input_config")
        if config:
            try:
                details["splits"] = ", ".join(f"{s['name']}: {s['pattern']}"
                                              for s in json.loads(config).get("splits", []))
            except (ValueError, KeyError, TypeError):
                pass
    for key in ("input_fingerprint", "pushed_destination", "span"):
        value = property_value(artifact.custom_properties, key)
        if value not in (None, ""):
            details[key.replace("_", " ")] = str(value)
    return details


def trace(store, artifact_id: int) -> List[LineageStep]:
    """The chain of artifacts upstream of `artifact_id`, starting with it."""
    type_names = {t.id: t.name for t in store.get_artifact_types()}
    steps: List[LineageStep] = []
    seen = set()
    current = store.get_artifacts_by_id([artifact_id])
    while current and len(steps) < _MAX_HOPS:
        artifact = current[0]
        if artifact.id in seen:
            break
        seen.add(artifact.id)
        execution = producer(store, artifact.id)
        if execution is None:
            steps.append(LineageStep(type_names.get(artifact.type_id, "?"), artifact.uri, "?", "?"))
            break
        contexts = context_names(store, execution.id)
        steps.append(LineageStep(
            artifact_type=type_names.get(artifact.type_id, "?"), uri=artifact.uri,
            producer=contexts.get("node", "?").split(".", 1)[-1],
            run_id=contexts.get("pipeline_run", "?"),
            details=_details(store, artifact, execution)))
        upstream = inputs_by_key(store, execution.id)
        current = next((upstream[k] for k in _UPSTREAM_KEYS if upstream.get(k)), None)
    return steps


def format_lineage(steps: List[LineageStep]) -> str:
    lines = []
    for i, step in enumerate(steps):
        arrow = "" if i == 0 else "  ← "
        lines.append(f"{arrow}{step.artifact_type} {step.uri}")
        lines.append(f"      produced by {step.producer} in run {step.run_id}")
        for key, value in step.details.items():
            lines.append(f"      {key}: {value}")
    return "\n".join(lines)
