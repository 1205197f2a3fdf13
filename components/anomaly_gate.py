"""AnomalyGate: stops a run when ExampleValidator found anomalies.

TFX's ExampleValidator records anomalies but never fails, so a run would train on bad data.
The pipeline makes Transform depend on this gate, so an anomaly stops the run before any
preprocessing or training, with a list a person can act on.
"""
import dataclasses
import os
from typing import List

import tensorflow as tf
from tensorflow_metadata.proto.v0 import anomalies_pb2
from tfx import v1 as tfx
from tfx.types import standard_artifact_utils

SCHEMA_DIFF_FILE = "SchemaDiff.pb"
# How many anomalies the error message lists before summarising the rest.
MAX_LISTED = 20


@dataclasses.dataclass
class Anomaly:
    split: str
    feature: str
    problem: str
    detail: str
    report: str

    def __str__(self) -> str:
        return f"[{self.split}] feature '{self.feature}': {self.problem} — {self.detail}"


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


def read_anomalies(anomalies_uri: str, split_names: List[str]) -> List[Anomaly]:
    """Every anomaly recorded by ExampleValidator, per split, in a stable order."""
    found = []
    for split in split_names:
        path = os.path.join(anomalies_uri, f"Split-{split}", SCHEMA_DIFF_FILE)
        if not tf.io.gfile.exists(path):
            continue
        proto = anomalies_pb2.Anomalies()
        proto.ParseFromString(tf.io.gfile.GFile(path, "rb").read())
        for feature, info in sorted(proto.anomaly_info.items()):
            found.append(_to_anomaly(split, feature, info, path))
        if proto.HasField("dataset_anomaly_info"):
            found.append(_to_anomaly(split, "(dataset)", proto.dataset_anomaly_info, path))
    return found


def _to_anomaly(split: str, feature: str, info, path: str) -> Anomaly:
    problem = info.short_description or (info.reason[0].short_description if info.reason else "anomaly")
    detail = info.description or "; ".join(r.description for r in info.reason)
    return Anomaly(split=split, feature=feature, problem=problem, detail=detail, report=path)


@tfx.dsl.components.component
def AnomalyGate(
    anomalies: tfx.dsl.components.InputArtifact[tfx.types.standard_artifacts.ExampleAnomalies],
) -> None:
    """Raises AnomaliesFoundError when any split has anomalies."""
    split_names = standard_artifact_utils.decode_split_names(anomalies.split_names)
    found = read_anomalies(anomalies.uri, split_names)
    if found:
        raise AnomaliesFoundError(found)
