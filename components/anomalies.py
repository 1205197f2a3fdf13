"""Reads the anomalies TFDV recorded (ExampleValidator's and the drift/skew check's
``Split-*/SchemaDiff.pb``) into one plain record type.

Kept free of TFX imports: the anomaly gate raises on them inside a run, and the run report reads
them afterwards (``pipeline/report/collect.py``), both through :func:`read_anomalies`.
"""
import dataclasses
import os
from typing import List, Optional, Sequence

import tensorflow as tf
from tensorflow_metadata.proto.v0 import anomalies_pb2

SCHEMA_DIFF_FILE = "SchemaDiff.pb"


@dataclasses.dataclass
class Anomaly:
    split: str
    feature: str
    problem: str   # TFDV's short description, e.g. "New column"
    detail: str    # its long description
    report: str    # the SchemaDiff.pb it came from
    severity: str = "ERROR"  # AnomalyInfo.Severity name: ERROR, WARNING, UNKNOWN

    @property
    def description(self) -> str:
        """"problem: detail", or whichever of the two says something."""
        if self.detail and self.detail != self.problem:
            return f"{self.problem}: {self.detail}" if self.problem else self.detail
        return self.problem

    def __str__(self) -> str:
        return f"[{self.split}] feature '{self.feature}': {self.problem} — {self.detail}"


def read_anomalies(anomalies_uri: str,
                   split_names: Optional[Sequence[str]] = None) -> List[Anomaly]:
    """Every anomaly of an ExampleAnomalies artifact, split by split (`split_names`, or every
    Split-* folder in name order), features in name order, the dataset-level one last."""
    if split_names is None:
        split_names = [os.path.basename(d)[len("Split-"):]
                       for d in sorted(tf.io.gfile.glob(os.path.join(anomalies_uri, "Split-*")))]
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
    return Anomaly(split=split, feature=feature, problem=problem, detail=detail, report=path,
                   severity=anomalies_pb2.AnomalyInfo.Severity.Name(info.severity))
