"""`electra-tfx runs` and `electra-tfx report`: past runs of an output directory, read from
its ML Metadata store, and one run's summary, lineage and report path."""
import dataclasses
import datetime
import os
from typing import List, Optional

from pipeline import run_record
from pipeline.report import collect, html_report, lineage
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
    blessed: str
    pushed_version: str


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


def list_runs(output_dir: str) -> List[RunRow]:
    """Every pipeline run in the store, oldest first."""
    metadata_path = _metadata_path(output_dir)
    store = run_record.open_store(metadata_path)
    rows = []
    for run_id in run_record.run_ids(store):
        record = run_record.read_run(metadata_path, run_id)
        context = store.get_context_by_type_and_name("pipeline_run", run_id)
        started = datetime.datetime.fromtimestamp(context.create_time_since_epoch / 1000)
        data, checkpoint = "–", "–"
        for execution in sorted(store.get_executions_by_context(context.id), key=lambda e: e.id):
            node = lineage.node_name(store, execution.id)
            if node == "TextExampleGen":
                base = lineage.property_value(execution.custom_properties, "input_base")
                data = str(base) if base else data
            elif node == "Trainer":
                config = lineage.trainer_config(store, execution).get("config", {})
                checkpoint = str(config.get("model", {}).get("checkpoint", "–"))
                # What the user passed as --train (ExampleGen records its folder).
                data = str(config.get("data", {}).get("train") or data)
        counts = ", ".join(f"{n} {split}" for split, n in sorted(record.split_counts.items()))
        blessed = {None: "–", True: "yes", False: "no"}[record.blessed]
        if record.state_of("AnomalyGate") == "failed":
            blessed = "stopped (anomalies)"
        rows.append(RunRow(
            run_id=run_id, started=started.isoformat(sep=" ", timespec="seconds"),
            data=f"{data} ({counts})" if counts else data, checkpoint=checkpoint,
            metrics=_headline(record.candidate_metrics), blessed=blessed,
            pushed_version=os.path.basename(record.pushed_path) if record.pushed_path else "–"))
    return rows


def format_runs(rows: List[RunRow]) -> str:
    header = ["run", "started", "data", "checkpoint", "candidate", "blessed", "pushed"]
    table = [header] + [[r.run_id, r.started, r.data, r.checkpoint, r.metrics, r.blessed,
                         r.pushed_version] for r in rows]
    widths = [max(len(row[i]) for row in table) for i in range(len(header))]
    return "\n".join("  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip()
                     for row in table)


def run_report(output_dir: str, run_id: Optional[str] = None):
    """(ReportData, path of the run's report), writing the report if it is missing."""
    metadata_path = _metadata_path(output_dir)
    try:
        data = collect.collect(metadata_path, run_id, output_dir=os.path.abspath(output_dir))
    except LookupError as e:
        raise NoRunsError(str(e)) from None
    path = os.path.join(html_report.run_report_dir(os.path.abspath(output_dir), data.run_id),
                        html_report.INDEX)
    if not os.path.exists(path):
        is_latest = data.run_id == run_record.run_ids(run_record.open_store(metadata_path))[-1]
        path = html_report.write_report(data, os.path.abspath(output_dir), latest=is_latest)
    return data, path


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
