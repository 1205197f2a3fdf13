"""Reads the anomalies TFDV recorded (ExampleValidator's and the drift/skew check's
``Split-*/SchemaDiff.pb``) into one plain record type, and writes each as text
(``SchemaDiff.pbtxt`` beside it) for a person to read.

Kept free of TFX imports: the anomaly gate raises on them inside a run, and the run report reads
them afterwards (``pipeline/report/collect.py``), both through :func:`read_anomalies`.
"""
import dataclasses
import os
from typing import List, Optional, Sequence

import tensorflow as tf
from google.protobuf import text_format
from tensorflow_metadata.proto.v0 import anomalies_pb2

SCHEMA_DIFF_FILE = "SchemaDiff.pb"
# The same anomalies in protobuf text format, beside the binary file: what error messages name.
SCHEMA_DIFF_TEXT_FILE = "SchemaDiff.pbtxt"


@dataclasses.dataclass
class Anomaly:
    split: str
    feature: str
    problem: str   # TFDV's short description, e.g. "New column"
    detail: str    # its long description
    report: str    # the SchemaDiff.pbtxt beside the SchemaDiff.pb it came from (if written)
    severity: str = "ERROR"  # AnomalyInfo.Severity name: ERROR, WARNING, UNKNOWN

    @property
    def description(self) -> str:
        """"problem: detail", or whichever of the two says something."""
        if self.detail and self.detail != self.problem:
            return f"{self.problem}: {self.detail}" if self.problem else self.detail
        return self.problem

    def __str__(self) -> str:
        return f"[{self.split}] feature '{self.feature}': {self.problem} — {self.detail}"


def _split_names(anomalies_uri: str, split_names: Optional[Sequence[str]]) -> List[str]:
    if split_names is not None:
        return list(split_names)
    return [os.path.basename(d)[len("Split-"):]
            for d in sorted(tf.io.gfile.glob(os.path.join(anomalies_uri, "Split-*")))]


def _read(path: str) -> anomalies_pb2.Anomalies:
    proto = anomalies_pb2.Anomalies()
    proto.ParseFromString(tf.io.gfile.GFile(path, "rb").read())
    return proto


def write_text_reports(anomalies_uri: str,
                       split_names: Optional[Sequence[str]] = None) -> List[str]:
    """Writes every split's SchemaDiff.pb again as SchemaDiff.pbtxt beside it (text format);
    returns the paths written."""
    written = []
    for split in _split_names(anomalies_uri, split_names):
        path = os.path.join(anomalies_uri, f"Split-{split}", SCHEMA_DIFF_FILE)
        if tf.io.gfile.exists(path):
            text_path = os.path.join(os.path.dirname(path), SCHEMA_DIFF_TEXT_FILE)
            with tf.io.gfile.GFile(text_path, "w") as f:
                f.write(text_format.MessageToString(_read(path), as_utf8=True))
            written.append(text_path)
    return written


def read_anomalies(anomalies_uri: str,
                   split_names: Optional[Sequence[str]] = None) -> List[Anomaly]:
    """Every anomaly of an ExampleAnomalies artifact, split by split (`split_names`, or every
    Split-* folder in name order), features in name order, the dataset-level one last."""
    found = []
    for split in _split_names(anomalies_uri, split_names):
        path = os.path.join(anomalies_uri, f"Split-{split}", SCHEMA_DIFF_FILE)
        if not tf.io.gfile.exists(path):
            continue
        proto = _read(path)
        text_path = os.path.join(os.path.dirname(path), SCHEMA_DIFF_TEXT_FILE)
        report = text_path if tf.io.gfile.exists(text_path) else path
        for feature, info in sorted(proto.anomaly_info.items()):
            found.append(_to_anomaly(split, feature, info, report))
        if proto.HasField("dataset_anomaly_info"):
            found.append(_to_anomaly(split, "(dataset)", proto.dataset_anomaly_info, report))
    return found


def _to_anomaly(split: str, feature: str, info, path: str) -> Anomaly:
    problem = info.short_description or (info.reason[0].short_description if info.reason else "anomaly")
    detail = info.description or "; ".join(r.description for r in info.reason)
    return Anomaly(split=split, feature=feature, problem=problem, detail=detail, report=path,
                   severity=anomalies_pb2.AnomalyInfo.Severity.Name(info.severity))
