"""AnomalyGate: stops a run when ExampleValidator found anomalies.

TFX's ExampleValidator records anomalies but never fails, so a run would train on bad data.
The pipeline makes Transform depend on this gate, so an anomaly stops the run before any
preprocessing or training, with a list a person can act on.
"""
from typing import List

from tfx import v1 as tfx
from tfx.types import standard_artifact_utils

# The reader is shared with the run report (components/anomalies.py); re-exported here.
from components.anomalies import SCHEMA_DIFF_FILE, Anomaly, read_anomalies  # noqa: F401

# How many anomalies the error message lists before summarising the rest.
MAX_LISTED = 20


class AnomaliesFoundError(RuntimeError):
    """Raised by the gate; the message lists every anomaly and where the full report is."""

    def __init__(self, anomalies: List[Anomaly]):
        self.anomalies = anomalies
        lines = [f"Data validation found {len(anomalies)} anomal{'y' if len(anomalies) == 1 else 'ies'}; "
                 "the run stopped before Transform and training:"]
        lines += [f"  - {a}" for a in anomalies[:MAX_LISTED]]
        if len(anomalies) > MAX_LISTED:
            lines.append(f"  ... and {len(anomalies) - MAX_LISTED} more")
        reports = sorted({a.report for a in anomalies})
        lines.append("Full report: " + ", ".join(reports))
        lines.append("Fix the data, or curate the schema (schemas/) if the data is right.")
        super().__init__("\n".join(lines))


@tfx.dsl.components.component
def AnomalyGate(
    anomalies: tfx.dsl.components.InputArtifact[tfx.types.standard_artifacts.ExampleAnomalies],
) -> None:
    """Raises AnomaliesFoundError when any split has anomalies."""
    split_names = standard_artifact_utils.decode_split_names(anomalies.split_names)
    found = read_anomalies(anomalies.uri, split_names)
    if found:
        raise AnomaliesFoundError(found)
