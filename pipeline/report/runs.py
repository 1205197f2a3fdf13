"""`electra-tfx runs` and `electra-tfx report`: past runs of an output directory, read from
its ML Metadata store, and one run's summary, lineage and report path.

Neither loads TensorFlow: `runs` reads ML Metadata and each run's report data
(OUTPUT/report/runs/<run>/report.json); `report` reads that file, and only a run without one
is collected from its artifacts (collect.py, through TensorFlow and TFMA)."""
import dataclasses
import datetime
import json
import os
import shutil
import tempfile
import typing
from typing import Any, List, Optional

from pipeline import run_record
from pipeline.report import lineage
from pipeline.report.model import ReportData


class NoRunsError(LookupError):
    """The output directory has no metadata store or no such run (a user error)."""


@dataclasses.dataclass
class RunRow:
    run_id: str
    started: str
    data: str
    checkpoint: str
    metrics: str
    # blessed | not blessed: RULE | stopped: WHY | failed at COMPONENT | running or interrupted
    status: str
    pushed_version: str


# Why a run stopped, by the component that stopped it (its checks raise a user error).
_STOPPED_BY = {
    "TextExampleGen": "bad input rows or files", "TfdsExampleGen": "bad input data",
    "AnomalyGate": "data anomalies", "DriftSkewGate": "data drift or skew",
}


def _metadata_path(output_dir: str) -> str:
    path = os.path.join(os.path.abspath(output_dir), "metadata.sqlite")
    if not os.path.exists(path):
        raise NoRunsError(f"no runs in {output_dir}: {path} does not exist "
                          "(pass the --output of `electra-tfx run`)")
    return path


def _headline(metrics) -> str:
    shown = []
    for name, label in (("sparse_categorical_accuracy", "accuracy"), ("auc/class_1", "AUC")):
        if name in metrics:
            shown.append(f"{label} {metrics[name]:.4f}")
    if not shown:
        shown = [f"{k} {v:.4g}" for k, v in sorted(metrics.items())
                 if "/" not in k and k != "example_count"][:2]
    return ", ".join(shown) or "–"


def _input_files(execution) -> Optional[str]:
    """The data an ExampleGen read: its folder joined with its first split's pattern (the
    file itself when --train named one file)."""
    base = lineage.property_value(execution.custom_properties, "input_base") or \
        lineage.property_value(execution.properties, "input_base")
    raw = lineage.property_value(execution.custom_properties, "input_config") or \
        lineage.property_value(execution.properties, "input_config")
    try:
        splits = json.loads(raw).get("splits", []) if raw else []
    except (TypeError, ValueError, AttributeError):
        splits = []
    pattern = splits[0].get("pattern", "") if splits else ""
    if not base:
        return None
    # Glob characters in a file name are escaped as [*]: show the name as written.
    pattern = pattern.replace("[*]", "*").replace("[?]", "?").replace("[[]", "[")
    return os.path.join(str(base), pattern) if pattern and pattern != "*" else str(base)


def saved_report(output_dir: str, run_id: str) -> Optional[ReportData]:
    """The ReportData a run's report was written from (report.json), None when it has none."""
    from pipeline.report import html_report  # matplotlib: not for a folder without runs
    path = os.path.join(html_report.run_report_dir(os.path.abspath(output_dir), run_id),
                        html_report.DATA_FILE)
    try:
        with open(path, encoding="utf-8") as f:
            return _from_dict(ReportData, json.load(f))
    except (OSError, ValueError, TypeError):
        return None


def _from_dict(cls: Any, value: Any) -> Any:
    """A dataclass (nested dataclasses, lists and dicts of them) from dataclasses.asdict."""
    if dataclasses.is_dataclass(cls) and isinstance(value, dict):
        hints = typing.get_type_hints(cls)
        names = {f.name for f in dataclasses.fields(cls) if f.init}
        return cls(**{k: _from_dict(hints[k], v) for k, v in value.items() if k in names})
    origin, args = typing.get_origin(cls), typing.get_args(cls)
    if origin in (list, List) and args and isinstance(value, list):
        return [_from_dict(args[0], v) for v in value]
    if origin is dict and len(args) == 2 and isinstance(value, dict):
        return {k: _from_dict(args[1], v) for k, v in value.items()}
    if origin is typing.Union:
        inner = [a for a in args if a is not type(None)]
        return _from_dict(inner[0], value) if len(inner) == 1 and value is not None else value
    return value


def _status(record, saved: Optional[ReportData], running: bool) -> str:
    """blessed, not blessed (and the rule), stopped (and why), failed at a component."""
    failed = [c.name for c in record.components if c.state == "failed"]
    if saved is not None and saved.stopped_at:
        return f"stopped at {saved.stopped_at}"
    if failed:
        why = _STOPPED_BY.get(failed[0])
        return f"stopped: {why} ({failed[0]})" if why else f"failed at {failed[0]}"
    if record.blessed is True:
        return "blessed"
    if record.blessed is False:
        rule = record.decided_by or (saved.deciding_rule if saved else None)
        return f"not blessed: {rule}" if rule else "not blessed"
    unfinished = [c.name for c in record.components if c.state in ("running", "new")]
    if unfinished or not record.components:
        where = f" at {unfinished[0]}" if unfinished else " before its first component"
        return ("running" if running else "interrupted") + where
    return "ended before evaluation"


def _candidate_metrics(record, saved: Optional[ReportData]) -> dict:
    """The candidate's metrics: the report's, else the values the blessing gate checked."""
    if saved is not None and saved.models.get("candidate"):
        return saved.models["candidate"]
    values = {}
    for rule in record.blessing_rules:
        for check in rule.get("checks", []):
            if isinstance(check.get("value"), (int, float)) and check.get("metric"):
                values.setdefault(check["metric"], check["value"])
    return values


def list_runs(output_dir: str) -> List[RunRow]:
    """Every pipeline run in the store, oldest first (ML Metadata and each run's report data;
    no TensorFlow)."""
    metadata_path = _metadata_path(output_dir)
    store = run_record.open_store(metadata_path)
    ids = run_record.run_ids(store)
    running = os.path.exists(os.path.join(os.path.abspath(output_dir), ".lock"))
    rows = []
    for run_id in ids:
        record = run_record.read_run(metadata_path, run_id, files=False)
        saved = saved_report(output_dir, run_id)
        context = store.get_context_by_type_and_name("pipeline_run", run_id)
        started = datetime.datetime.fromtimestamp(context.create_time_since_epoch / 1000)
        data, checkpoint = "–", "–"
        for execution in sorted(store.get_executions_by_context(context.id), key=lambda e: e.id):
            node = lineage.node_name(store, execution.id)
            if node in ("TextExampleGen", "TfdsExampleGen"):
                data = _input_files(execution) or data
            elif node == "Trainer":
                config = lineage.trainer_config(store, execution).get("config", {})
                checkpoint = str(config.get("model", {}).get("checkpoint", "–"))
                # What the user passed as --train (ExampleGen records its folder).
                data = str(config.get("data", {}).get("train") or data)
        if saved is not None and saved.data_sources.get("train"):
            data = saved.data_sources["train"]
        if saved is not None and saved.checkpoint.get("requested"):
            checkpoint = saved.checkpoint["requested"]
        counts = saved.split_counts if saved is not None else {}
        counts_text = ", ".join(f"{n} {split}" for split, n in sorted(counts.items()))
        rows.append(RunRow(
            run_id=run_id, started=started.isoformat(sep=" ", timespec="seconds"),
            data=f"{data} ({counts_text})" if counts_text else data, checkpoint=checkpoint,
            metrics=_headline(_candidate_metrics(record, saved)),
            status=_status(record, saved, running and run_id == ids[-1]),
            pushed_version=os.path.basename(record.pushed_path) if record.pushed_path else "–"))
    return rows


def format_runs(rows: List[RunRow]) -> str:
    header = ["run", "started", "status", "data", "checkpoint", "candidate", "pushed"]
    table = [header] + [[r.run_id, r.started, r.status, r.data, r.checkpoint, r.metrics,
                         r.pushed_version] for r in rows]
    widths = [max(len(row[i]) for row in table) for i in range(len(header))]
    return "\n".join("  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip()
                     for row in table)


def run_report(output_dir: str, run_id: Optional[str] = None, out: Optional[str] = None):
    """(ReportData, path of the run's report). The report the run wrote is read back
    (report.json); a run without one is collected from its artifacts and its report written.
    `out`: the report and the files it links are written to that folder instead of the
    run's (which is then left as it is)."""
    metadata_path = _metadata_path(output_dir)
    output_dir = os.path.abspath(output_dir)
    from pipeline.report import html_report
    ids = run_record.run_ids(run_record.open_store(metadata_path))
    if not ids:
        raise NoRunsError(f"no runs recorded in {metadata_path}")
    run_id = run_id or ids[-1]
    if run_id not in ids:
        raise NoRunsError(f"no run {run_id!r} in {metadata_path}; runs: {', '.join(ids)} "
                          "(see `electra-tfx runs`)")
    run_dir = html_report.run_report_dir(output_dir, run_id)
    data = saved_report(output_dir, run_id)
    if data is not None and os.path.exists(os.path.join(run_dir, html_report.INDEX)):
        return data, _copy_report(run_dir, out) if out else os.path.join(run_dir, html_report.INDEX)
    from pipeline.report import collect  # TensorFlow and TFMA: only for a run without a report
    try:
        data = collect.collect(metadata_path, run_id, output_dir=output_dir)
    except LookupError as e:
        raise NoRunsError(str(e)) from None
    if not out:
        return data, html_report.write_report(data, output_dir, latest=run_id == ids[-1])
    with tempfile.TemporaryDirectory() as scratch:
        html_report.write_report(data, scratch, latest=False)
        return data, _copy_report(html_report.run_report_dir(scratch, run_id), out)


def _copy_report(run_dir: str, out: str) -> str:
    """Copies a run's report folder (index.html, the images it shows, report.json) into
    `out`; returns the copy's index.html."""
    from pipeline.report import html_report
    os.makedirs(out, exist_ok=True)
    for name in os.listdir(run_dir):
        source = os.path.join(run_dir, name)
        if os.path.isfile(source):
            shutil.copy2(source, os.path.join(out, name))
    return os.path.join(os.path.abspath(out), html_report.INDEX)


def format_report(data: ReportData, report_path: str) -> str:
    lines = [f"Run {data.run_id} ({data.task or '?'}), started {data.started}."]
    counts = ", ".join(f"{n:,} {split}" for split, n in sorted(data.split_counts.items()))
    lines.append(f"Data: {', '.join(f'{k}: {v}' for k, v in data.data_sources.items()) or '?'}"
                 f" ({counts or 'no statistics'}); {len(data.anomalies)} anomalies.")
    if data.checkpoint:
        lines.append("Checkpoint: " + ", ".join(f"{k} {v}" for k, v in data.checkpoint.items()
                                                 if k != "warning") + ".")
    for role in data.roles():
        lines.append(f"{role.capitalize()}: {_headline(data.models[role])}.")
    lines.append(data.decision_text())
    lines.append(data.push_text())
    if data.lineage:
        lines.append("Lineage:")
        lines.append(lineage.format_lineage(data.lineage))
    lines.append(f"Report: {report_path}")
    return "\n".join(lines)
