"""JSON Lines files: one object per line, blank lines skipped.

str -> bytes, int and bool -> int64, float -> float, a list of str/int/float -> a list feature
of that kind, null or [] -> missing feature; a nested object only as SQuAD-style answers
(components/readers/squad.py).
"""
import json
from typing import Any, Iterator

import tensorflow as tf

from components.bad_rows import BadRow
from components.readers import squad
from components.readers.errors import snippet
from components.readers.head import json_record
from components.readers.lines import text_lines
from components.readers.rows import Item, Row, strict

_INT64_MIN, _INT64_MAX = -(2 ** 63), 2 ** 63 - 1


def read_jsonl(path: str, compressed: bool = False) -> Iterator[tf.train.Example]:
    """Examples from a JSON Lines file: one JSON object per line, blank lines skipped."""
    return strict(jsonl_items(path, compressed))


def jsonl_items(path: str, compressed: bool) -> Iterator[Item]:
    seen_object = False
    for number, line in enumerate(text_lines(path, compressed, errors="surrogateescape"), 1):
        value = json_record(path, number, line, seen_object)
        if value is None:
            continue
        if isinstance(value, BadRow):
            yield value
            continue
        seen_object = True
        example = tf.train.Example()
        features = example.features.feature
        try:
            for key, item in value.items():
                try:
                    _set_json_feature(features, key, item)
                except ValueError as e:
                    raise ValueError(f"key {key!r}: {e}") from None
        except ValueError as e:
            yield BadRow(path, number, str(e), "line", line)
            continue
        yield Row(example, number, "line", line)


def _set_json_feature(features: Any, key: str, value: Any) -> None:
    if value is None:
        return
    if isinstance(value, (str, bool, int, float)):
        values = [value]
    elif isinstance(value, list):
        values = value
        if not values:
            return
    elif isinstance(value, dict):
        squad.set_nested_feature(features, key, value)  # SQuAD-style answers only
        return
    else:  # pragma: no cover - json.loads yields no other types
        raise ValueError(f"unsupported value {value!r}")

    kinds = set()
    for item in values:
        if isinstance(item, str):
            kinds.add("str")
        elif isinstance(item, (bool, int)):
            if not _INT64_MIN <= item <= _INT64_MAX:
                raise ValueError(f"{item} is outside the int64 range")
            kinds.add("int")
        elif isinstance(item, float):
            kinds.add("float")
        elif item is None:
            raise ValueError("null inside a list")
        else:
            raise ValueError("lists may hold only strings and numbers, not "
                             f"{snippet(json.dumps(item))}")
    if "str" in kinds and len(kinds) > 1:
        raise ValueError(f"a list mixes strings and numbers: {snippet(json.dumps(values))}")
    if kinds == {"str"}:
        features[key].bytes_list.value.extend(v.encode("utf-8") for v in values)
    elif "float" in kinds:
        features[key].float_list.value.extend(float(v) for v in values)
    else:
        features[key].int64_list.value.extend(int(v) for v in values)
