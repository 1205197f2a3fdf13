"""A scored row as it is written: the row's own columns, then the signature's outputs.

Shared by `electra-tfx predict` (pipeline/batch_predict.py) and the pipeline's readable copy of
BulkInferrer's PredictionLogs (components/predictions_export.py), so both write the same rows:

    {"text": "a gripping film", "label": "1", "probabilities": [0.1, 0.9], "label_ids": 1,
     "labels": "1"}

A column holding one value is written as that value, several as a list; bytes as UTF-8 text.
An output whose name is also a column of the row is written as `predicted_<name>`.
Per-word outputs (token classification: `words`, `tags`, `scores`, padded to the batch's
longest sentence) are cut to the row's own words: the signature pads `words` with "".
"""
import json
from typing import Any, Dict, List, Mapping

import numpy as np

PREFIX = "predicted_"
# The output that marks per-word outputs and their padding (trainer/tasks/token_classification.py).
WORDS_OUTPUT = "words"


def _plain(value: Any) -> Any:
    """A JSON-ready value: bytes as text, arrays as lists, numpy scalars as Python's."""
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if isinstance(value, np.ndarray):
        return [_plain(v) for v in value.tolist()] if value.dtype == object else \
            _plain_list(value.tolist())
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, (np.floating, float)):
        return _float32(float(value))
    if isinstance(value, np.generic):
        return value.item()
    return value


def _plain_list(values):
    if isinstance(values, list):
        return [_plain_list(v) for v in values]
    if isinstance(values, float):
        return _float32(values)
    return _plain(values)


def _float32(value: float):
    """A float32 output as its shortest decimal (0.5074932, not 0.5074931979179382); NaN as
    null (JSON has no NaN)."""
    return float(str(np.float32(value))) if value == value else None


def example_columns(example) -> Dict[str, Any]:
    """A tf.train.Example's features: one value as itself, several as a list."""
    columns: Dict[str, Any] = {}
    for name, feature in example.features.feature.items():
        kind = feature.WhichOneof("kind")
        values = [_plain(v) for v in getattr(feature, kind).value] if kind else []
        if kind == "float_list":
            values = [_float32(v) for v in values]
        columns[name] = values[0] if len(values) == 1 else values
    return columns


def trim_per_word(outputs: Mapping[str, np.ndarray]) -> Dict[str, np.ndarray]:
    """One row's outputs with the per-word ones cut to its words (padding dropped)."""
    words = outputs.get(WORDS_OUTPUT)
    if words is None or np.ndim(words) != 1:
        return dict(outputs)
    count = int(sum(1 for w in words if w not in (b"", "")))
    width = len(words)
    return {name: (value[:count] if np.ndim(value) >= 1 and len(value) == width else value)
            for name, value in outputs.items()}


def scored_row(columns: Mapping[str, Any], outputs: Mapping[str, Any]) -> Dict[str, Any]:
    """The row's columns followed by its outputs (renamed when a column has the name)."""
    row = dict(columns)
    for name, value in trim_per_word(outputs).items():
        row[PREFIX + name if name in columns else name] = _plain(value)
    return row


def csv_cell(value: Any) -> str:
    """A CSV cell: text as is, numbers as Python prints them, lists as JSON."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, (list, dict)):
        return json.dumps(value, ensure_ascii=False)
    return str(value)


def header(rows: List[Mapping[str, Any]]) -> List[str]:
    """The columns of `rows` in the order they first appear."""
    seen: Dict[str, None] = {}
    for row in rows:
        for name in row:
            seen.setdefault(name, None)
    return list(seen)
