"""TextExampleGen: an ExampleGen for CSV, JSON Lines and TFRecord files.

    spec = resolve_inputs(train="data/", eval=None, eval_percent=20)
    example_gen = TextExampleGen(input_base=spec.input_base,
                                 input_config=spec.input_config,
                                 output_config=spec.output_config)

Each split's pattern may match files of different formats; the reader is chosen per file
by its extension (see components/input_files.py):

* CSV/TSV: read with Python's `csv` module, so quoted commas and quoted multi-line fields
  work (TFX's CsvExampleGen handles neither). The header row names the features; every
  value becomes a UTF-8 bytes feature and an empty cell a missing feature.
* JSON Lines: one object per line; str -> bytes, int and bool -> int64, float -> float,
  a list of str/int/float -> a list feature of that kind, null or [] -> missing feature.
  Blank lines are skipped.
* TFRecord: tf.train.Example records, passed through.

Malformed input raises BadInputError, whose message names the file, the line (row,
record) and the problem, e.g. `data/x.jsonl line 17: not a JSON object: [1, 2]`.
"""
from __future__ import annotations

import csv
import gzip
import json
import os
import zlib
from typing import Any, Dict, Iterable, Iterator, Optional, Union

import apache_beam as beam
import tensorflow as tf
from absl import logging
from google.protobuf import message as protobuf_message
from tfx.components.example_gen import base_example_gen_executor
from tfx.components.example_gen import component
from tfx.dsl.components.base import executor_spec
from tfx.orchestration import data_types
from tfx.proto import example_gen_pb2
from tfx.proto import range_config_pb2
from tfx.types import standard_component_specs

from components import conll_reader
from components import squad_reader
from components.input_files import (  # noqa: F401  (re-exported: the module's API)
    InputError,
    InputSpec,
    file_kind,
    list_input_files,
    resolve_inputs,
)

__all__ = [
    "BadInputError", "Executor", "InputError", "InputSpec", "TextExampleGen", "read_csv",
    "read_file", "read_jsonl", "read_tfrecord", "resolve_inputs",
]

_INT64_MIN, _INT64_MAX = -(2 ** 63), 2 ** 63 - 1
_SNIPPET = 80


class BadInputError(ValueError):
    """Malformed input data: `str()` is "FILE line N: PROBLEM".

    `line` is 1-based (None when the problem concerns the whole file); `unit` says what it
    counts: "line" for JSON Lines, "row" for CSV (the header is row 1), "record" for
    TFRecord.
    """

    # Beam re-raises a DoFn's exception as a new one of the same type, built from
    # `args[0] + " [while running ...]"`; that would corrupt `file`. This flag (Beam's own)
    # makes it re-raise ours unchanged.
    _tagged_with_step = True

    def __init__(self, file: str, line: Optional[int], problem: str, unit: str = "line"):
        super().__init__(file, line, problem, unit)  # args round-trip through pickle
        self.file = file
        self.line = line
        self.problem = problem
        self.unit = unit

    def __str__(self) -> str:
        where = self.file if self.line is None else f"{self.file} {self.unit} {self.line}"
        return f"{where}: {self.problem}"


# ----------------------------------------------------------------------------- readers


def read_file(path: str) -> Iterator[tf.train.Example]:
    """The tf.train.Examples in one input file, read by the format its extension names."""
    kind = file_kind(path)
    if kind is None:
        raise BadInputError(path, None, "unrecognised extension")
    if kind.format in ("csv", "tsv"):
        examples = read_csv(path, delimiter="\t" if kind.format == "tsv" else ",",
                            compressed=kind.compressed)
    elif kind.format == "jsonl" and squad_reader.is_squad_file(path, kind.compressed):
        examples = squad_reader.read_squad(path, compressed=kind.compressed)
    elif kind.format == "jsonl":
        examples = read_jsonl(path, compressed=kind.compressed)
    elif kind.format == "conll":
        examples = conll_reader.read_conll(path, compressed=kind.compressed)
    else:
        examples = read_tfrecord(path, compressed=kind.compressed)
    count = 0
    for count, example in enumerate(examples, 1):
        yield example
    logging.info("Read %d examples from %s.", count, path)


def read_csv(path: str, delimiter: str = ",", compressed: bool = False
             ) -> Iterator[tf.train.Example]:
    """Examples from a CSV file with a header row; every non-empty cell a bytes feature."""
    # Text cells can be long; the default limit (128 KiB per field) is for tabular data.
    csv.field_size_limit(2 ** 31 - 1)
    lines = _CountingLines(_text_lines(path, compressed))
    reader = csv.reader(lines, delimiter=delimiter, strict=True)
    row = 0
    header = None
    while True:
        start_line = lines.count + 1
        try:
            fields = next(reader)
        except StopIteration:
            break
        except csv.Error as e:
            raise BadInputError(path, row + 1, _csv_problem(str(e), start_line, row + 1),
                                unit="row") from None
        row += 1
        if header is None:
            header = _check_header(path, fields)
            continue
        if not fields:
            continue  # a blank line
        if len(fields) != len(header):
            where = f" (the row starts at line {start_line})" if start_line != row else ""
            raise BadInputError(
                path, row,
                f"{len(fields)} field{'s' if len(fields) != 1 else ''} but the header has "
                f"{len(header)}{where}: {_snippet(repr(fields))}",
                unit="row")
        example = tf.train.Example()
        features = example.features.feature
        for name, value in zip(header, fields):
            if value:
                features[name].bytes_list.value.append(value.encode("utf-8"))
        yield example
    if header is None:
        logging.warning("%s is empty (not even a header row); it holds no examples.", path)


def read_jsonl(path: str, compressed: bool = False) -> Iterator[tf.train.Example]:
    """Examples from a JSON Lines file: one JSON object per line, blank lines skipped."""
    seen_object = False
    for number, line in enumerate(_text_lines(path, compressed), 1):
        if not line.strip():
            continue
        try:
            value = json.loads(line)
        except json.JSONDecodeError as e:
            problem = f"invalid JSON ({e.msg} at column {e.colno}): {_snippet(line)}"
            if not seen_object and line.strip() in ("[", "{"):
                problem += (" (JSON Lines files must hold one complete JSON object per line, "
                            "not one pretty-printed document)")
            raise BadInputError(path, number, problem) from None
        if not isinstance(value, dict):
            raise BadInputError(path, number, f"not a JSON object: {_snippet(line)}")
        seen_object = True
        example = tf.train.Example()
        features = example.features.feature
        for key, item in value.items():
            try:
                _set_json_feature(features, key, item)
            except ValueError as e:
                raise BadInputError(path, number, f"key {key!r}: {e}") from None
        yield example


def read_tfrecord(path: str, compressed: bool = False) -> Iterator[tf.train.Example]:
    """The tf.train.Example records of a TFRecord file."""
    options = tf.io.TFRecordOptions(compression_type="GZIP" if compressed else "")
    number = 0
    try:
        for number, record in enumerate(tf.compat.v1.io.tf_record_iterator(path, options), 1):
            try:
                yield tf.train.Example.FromString(record)
            except protobuf_message.DecodeError as e:
                raise BadInputError(path, number, f"not a serialized tf.train.Example ({e})",
                                    unit="record") from None
    except tf.errors.DataLossError as e:
        raise BadInputError(
            path, number + 1,
            f"corrupt TFRecord data ({e.message}); is it a TFRecord file"
            f"{' compressed with gzip' if compressed else ''}?",
            unit="record") from None


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
        squad_reader.set_nested_feature(features, key, value)  # SQuAD-style answers only
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
                             f"{_snippet(json.dumps(item))}")
    if "str" in kinds and len(kinds) > 1:
        raise ValueError(f"a list mixes strings and numbers: {_snippet(json.dumps(values))}")
    if kinds == {"str"}:
        features[key].bytes_list.value.extend(v.encode("utf-8") for v in values)
    elif "float" in kinds:
        features[key].float_list.value.extend(float(v) for v in values)
    else:
        features[key].int64_list.value.extend(int(v) for v in values)


def _check_header(path: str, header: list) -> list:
    if not header:
        raise BadInputError(path, 1, "the header row is empty", unit="row")
    for i, name in enumerate(header, 1):
        if not name:
            raise BadInputError(path, 1, f"column {i} of the header has no name: "
                                f"{_snippet(','.join(header))}", unit="row")
    duplicates = sorted({name for name in header if header.count(name) > 1})
    if duplicates:
        raise BadInputError(path, 1, f"the header names {', '.join(map(repr, duplicates))} "
                            "more than once", unit="row")
    return header


def _csv_problem(error: str, start_line: int, row: int) -> str:
    where = f" (the row starts at line {start_line})" if start_line != row else ""
    if "unexpected end of data" in error:
        return f"a quoted field is never closed{where}"
    return f"malformed CSV ({error}){where}"


class _CountingLines:
    """An iterator over lines that counts how many were consumed (csv.reader's line_num
    counts the same, but is lost when the reader raises)."""

    def __init__(self, lines: Iterable[str]):
        self._lines = iter(lines)
        self.count = 0

    def __iter__(self) -> "_CountingLines":
        return self

    def __next__(self) -> str:
        line = next(self._lines)
        self.count += 1
        return line


def _text_lines(path: str, compressed: bool) -> Iterator[str]:
    """The lines of a UTF-8 text file, line endings kept, a leading BOM dropped."""
    number = 0
    with _open_binary(path) as raw:
        stream = gzip.GzipFile(fileobj=raw, mode="rb") if compressed else raw
        lines = iter(stream)
        while True:
            try:
                data = next(lines)
            except StopIteration:
                return
            except (OSError, EOFError, zlib.error) as e:
                if not compressed:
                    raise
                raise BadInputError(path, number + 1,
                                    f"cannot decompress the gzip data ({e})") from None
            number += 1
            try:
                line = data.decode("utf-8")
            except UnicodeDecodeError as e:
                raise BadInputError(
                    path, number,
                    f"not UTF-8 text (byte {data[e.start:e.start + 1]!r} at column "
                    f"{e.start + 1}): {_snippet(data.decode('utf-8', 'replace'))}") from None
            if number == 1 and line.startswith("\ufeff"):
                line = line[1:]
            yield line


def _open_binary(path: str):
    if "://" in path:
        return tf.io.gfile.GFile(path, "rb")
    return open(path, "rb")


def _snippet(text: str) -> str:
    text = text.rstrip("\r\n")
    return text if len(text) <= _SNIPPET else text[:_SNIPPET] + "..."


# ---------------------------------------------------------------------------- executor


@beam.ptransform_fn
@beam.typehints.with_input_types(beam.Pipeline)
@beam.typehints.with_output_types(tf.train.Example)
def _TextToExample(  # pylint: disable=invalid-name
        pipeline: beam.Pipeline, exec_properties: Dict[str, Any],
        split_pattern: str) -> beam.pvalue.PCollection:
    """Reads the files matching one split's pattern into tf.train.Examples."""
    input_base = exec_properties[standard_component_specs.INPUT_BASE_KEY]
    files = list_input_files(os.path.join(input_base, split_pattern))
    logging.info("Reading %d input files for %s: %s", len(files), split_pattern, files)
    return (pipeline
            | "ListFiles" >> beam.Create(files)
            | "ReadFiles" >> beam.FlatMap(read_file))


class Executor(base_example_gen_executor.BaseExampleGenExecutor):
    """Turns CSV, JSON Lines and TFRecord files into tf.train.Examples."""

    def GetInputSourceToExamplePTransform(self) -> beam.PTransform:
        return _TextToExample


class TextExampleGen(component.FileBasedExampleGen):
    """ExampleGen for CSV/TSV, JSON Lines and TFRecord files (chosen per file by extension).

    Usually built from `resolve_inputs(train, eval, eval_percent)`; its `examples` output
    holds the splits "train" and "eval" as gzipped TFRecords of tf.train.Example.
    """

    EXECUTOR_SPEC = executor_spec.BeamExecutorSpec(Executor)

    def __init__(
            self,
            input_base: str,
            input_config: Optional[Union[example_gen_pb2.Input,
                                         data_types.RuntimeParameter]] = None,
            output_config: Optional[Union[example_gen_pb2.Output,
                                          data_types.RuntimeParameter]] = None,
            range_config: Optional[Union[range_config_pb2.RangeConfig,
                                         data_types.RuntimeParameter]] = None):
        super().__init__(
            input_base=input_base,
            input_config=input_config,
            output_config=output_config,
            range_config=range_config)
