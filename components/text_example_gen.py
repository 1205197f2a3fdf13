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

In the pipeline the component gets `row_checks` (components/bad_rows.py: the task's text and
label columns, the bad-row policy): a bad row then goes to a side output instead of failing
the file; after the Beam job the executor writes them to the quarantine folder, counts them
per split, and stops the run when the policy says so (`--on-bad-rows fail`, or too many).
Problems of a whole file (binary data, empty, header only, a missing column) always fail.
"""
from __future__ import annotations

import csv
import dataclasses
import gzip
import heapq
import itertools
import json
import os
import posixpath
import shutil
import uuid
import zlib
from typing import Any, Dict, Iterable, Iterator, List, NamedTuple, Optional, Sequence, Tuple, Union

import apache_beam as beam
import tensorflow as tf
from absl import logging
from google.protobuf import message as protobuf_message
from tfx.components.example_gen import base_example_gen_executor
from tfx import types
from tfx.components.example_gen import component
from tfx.components.example_gen import utils as example_gen_utils
from tfx.dsl.components.base import executor_spec
from tfx.orchestration import data_types
from tfx.proto import example_gen_pb2
from tfx.proto import range_config_pb2
from tfx.types import artifact_utils, component_spec, standard_artifacts
from tfx.types import standard_component_specs
from tfx.utils import proto_utils

from components import bad_rows, conll_reader, squad_reader
from components.bad_rows import MAX_RAW_CHARS, BadRow, RowChecks
from components.input_files import (  # noqa: F401  (re-exported: the module's API)
    InputError,
    InputSpec,
    file_kind,
    list_input_files,
    resolve_inputs,
)

__all__ = [
    "BadInputError", "BadRow", "Executor", "InputError", "InputSpec", "RowChecks",
    "TextExampleGen", "read_csv", "read_file", "read_jsonl", "read_rows", "read_tfrecord",
    "resolve_inputs",
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


class _Row(NamedTuple):
    """A parsed row with where it came from and its text as read (for the quarantine)."""

    example: tf.train.Example
    line: int
    unit: str
    raw: Union[str, bytes]


def read_file(path: str) -> Iterator[tf.train.Example]:
    """The tf.train.Examples in one input file, read by the format its extension names.

    Raises BadInputError at the first bad row (see `read_rows` to get past them)."""
    count = 0
    for item in read_rows(path):
        if isinstance(item, BadRow):
            raise _error(item)
        count += 1
        yield item
    logging.info("Read %d examples from %s.", count, path)


def read_rows(path: str, checks: Optional[RowChecks] = None, split: str = ""
              ) -> Iterator[Union[tf.train.Example, BadRow]]:
    """The rows of one input file: a tf.train.Example per good row, a BadRow per bad one.

    `checks` adds the task's needs (text and label columns). Problems of the whole file
    (binary data, an empty or header-only file, a missing column, corrupt TFRecord data)
    raise BadInputError: no row of such a file can be trusted.
    """
    kind = file_kind(path)
    if kind is None:
        raise BadInputError(path, None, "unrecognised extension")
    required = checks.required_columns if checks else []
    if kind.format != "tfrecord":
        _check_text_file(path, kind.compressed)
    if kind.format in ("csv", "tsv"):
        items = _csv_items(path, "\t" if kind.format == "tsv" else ",", kind.compressed, required)
    elif kind.format == "jsonl" and squad_reader.is_squad_file(path, kind.compressed):
        items = _numbered(squad_reader.read_squad(path, compressed=kind.compressed))
    elif kind.format == "jsonl":
        items = _jsonl_items(path, kind.compressed)
    elif kind.format == "conll":
        items = _numbered(conll_reader.read_conll(path, compressed=kind.compressed))
    else:
        items = _tfrecord_items(path, kind.compressed)

    rows = 0
    columns: set = set()
    found = {column: False for column in required}
    for item in items:
        rows += 1
        if isinstance(item, BadRow):
            yield dataclasses.replace(item, split=split)
            continue
        features = item.example.features.feature
        columns.update(features)
        for column in required:
            found[column] = found[column] or column in features
        problem = checks.problem(item.example, split) if checks else None
        if problem:
            yield BadRow(path, item.line, problem, item.unit, item.raw, split)
        else:
            yield item.example
    if rows == 0 and kind.format in ("csv", "tsv"):
        return  # _csv_items raised already for an empty or header-only file
    if rows == 0:
        raise BadInputError(path, None, "holds no records (it is empty)")
    missing = [column for column, seen in found.items() if not seen]
    if missing and columns:
        raise BadInputError(
            path, None, f"no record has {_either(missing)}; the records have "
            f"{', '.join(repr(c) for c in sorted(columns))}. Name the columns with "
            "--text-column/--label-column.")


def read_csv(path: str, delimiter: str = ",", compressed: bool = False
             ) -> Iterator[tf.train.Example]:
    """Examples from a CSV file with a header row; every non-empty cell a bytes feature."""
    return _strict(_csv_items(path, delimiter, compressed))


def read_jsonl(path: str, compressed: bool = False) -> Iterator[tf.train.Example]:
    """Examples from a JSON Lines file: one JSON object per line, blank lines skipped."""
    return _strict(_jsonl_items(path, compressed))


def read_tfrecord(path: str, compressed: bool = False) -> Iterator[tf.train.Example]:
    """The tf.train.Example records of a TFRecord file."""
    return _strict(_tfrecord_items(path, compressed))


def _strict(items: Iterable[Union[_Row, BadRow]]) -> Iterator[tf.train.Example]:
    for item in items:
        if isinstance(item, BadRow):
            raise _error(item)
        yield item.example


def _error(row: BadRow) -> "BadInputError":
    return BadInputError(row.file, row.line, row.problem, unit=row.unit)


def _numbered(examples: Iterable[tf.train.Example]) -> Iterator[_Row]:
    for number, example in enumerate(examples, 1):
        yield _Row(example, number, "record", "")


def _either(columns: List[str]) -> str:
    return " or ".join(repr(c) for c in columns)


def _csv_items(path: str, delimiter: str, compressed: bool, required: Sequence[str] = ()
               ) -> Iterator[Union[_Row, BadRow]]:
    # Text cells can be long; the default limit (128 KiB per field) is for tabular data.
    csv.field_size_limit(2 ** 31 - 1)
    header = None
    row = 0  # CSV rows: the header is row 1; a row may span lines (quoted newlines)
    data_rows = 0
    skip = 0  # lines already read (after an unclosed quote, reading restarts past its line)
    while skip is not None:
        lines = _CountingLines(_text_lines(path, compressed, errors="surrogateescape"), skip)
        reader = csv.reader(lines, delimiter=delimiter, strict=True)
        skip = None
        while True:
            lines.start_record()
            start_line = lines.count + 1
            try:
                fields = next(reader)
            except StopIteration:
                break
            except csv.Error as e:
                row += 1
                if header is None:
                    raise BadInputError(path, 1, f"the header row is malformed CSV ({e})",
                                        unit="row") from None
                data_rows += 1
                if "unexpected end of data" in str(e):
                    # The quote swallowed the rest of the file: set aside the line it opened
                    # on and read the lines after it again as rows of their own.
                    yield BadRow(path, row, _csv_problem(str(e), start_line, row)
                                 + "; the lines after it were read again as rows", "row",
                                 lines.first_line)
                    skip = start_line
                    break
                yield BadRow(path, row, _csv_problem(str(e), start_line, row), "row", lines.record)
                continue
            row += 1
            raw = lines.record
            if header is None:
                if _undecodable(raw):
                    raise BadInputError(path, 1, "the header row is not UTF-8 text", unit="row")
                header = _check_header(path, fields)
                missing = [c for c in required if c not in header]
                if missing:
                    raise BadInputError(
                        path, 1, f"no column {_either(missing)}; the header has "
                        f"{', '.join(repr(c) for c in header)}. Name the columns with "
                        "--text-column/--label-column.", unit="row")
                continue
            if not fields:
                continue  # a blank line
            data_rows += 1
            where = f" (the row starts at line {start_line})" if start_line != row else ""
            bad_bytes = _undecodable(raw, start_line)
            if bad_bytes:
                yield BadRow(path, bad_bytes[0], bad_bytes[1], "line", raw)
            elif "\x00" in raw:
                yield BadRow(path, row, f"the row holds a NUL byte{where}", "row", raw)
            elif fields == header:
                yield BadRow(path, row, "the header row again (files joined with their "
                             f"headers?){where}", "row", raw)
            elif len(fields) != len(header):
                yield BadRow(
                    path, row,
                    f"{len(fields)} field{'s' if len(fields) != 1 else ''} but the header has "
                    f"{len(header)}{where}: {_snippet(repr(fields))}", "row", raw)
            else:
                example = tf.train.Example()
                features = example.features.feature
                for name, value in zip(header, fields):
                    if value:
                        features[name].bytes_list.value.append(value.encode("utf-8"))
                yield _Row(example, row, "row", raw)
    if header is None:
        raise BadInputError(path, None, "is empty (not even a header row)")
    if not data_rows:
        raise BadInputError(path, None, f"holds only the header row ({_snippet(','.join(header))})"
                            " and no data rows")


def _jsonl_items(path: str, compressed: bool) -> Iterator[Union[_Row, BadRow]]:
    seen_object = False
    for number, line in enumerate(_text_lines(path, compressed, errors="surrogateescape"), 1):
        if not line.strip():
            continue
        bad_bytes = _undecodable(line, number)
        if bad_bytes:
            yield BadRow(path, number, bad_bytes[1], "line", line)
            continue
        try:
            value = json.loads(line)
        except json.JSONDecodeError as e:
            if not seen_object and line.strip() in ("[", "{"):
                raise BadInputError(
                    path, number, f"invalid JSON ({e.msg} at column {e.colno}): "
                    f"{_snippet(line)} (JSON Lines files must hold one complete JSON object "
                    "per line, not one pretty-printed document)") from None
            # json's messages end in " at" before the position it would append.
            message = e.msg[:-3] if e.msg.endswith(" at") else e.msg
            yield BadRow(path, number, f"invalid JSON ({message} at column {e.colno}): "
                         f"{_snippet(line)}", "line", line)
            continue
        if not isinstance(value, dict):
            yield BadRow(path, number, f"not a JSON object: {_snippet(line)}", "line", line)
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
        yield _Row(example, number, "line", line)


def _tfrecord_items(path: str, compressed: bool) -> Iterator[Union[_Row, BadRow]]:
    options = tf.io.TFRecordOptions(compression_type="GZIP" if compressed else "")
    number = 0
    try:
        for number, record in enumerate(tf.compat.v1.io.tf_record_iterator(path, options), 1):
            try:
                yield _Row(tf.train.Example.FromString(record), number, "record", record)
            except protobuf_message.DecodeError as e:
                yield BadRow(path, number, f"not a serialized tf.train.Example ({e})",
                             "record", record)
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
    if "NUL" in error:
        return f"the row holds a NUL byte{where}"
    return f"malformed CSV ({error}){where}"


class _CountingLines:
    """An iterator over lines that counts how many were consumed (csv.reader's line_num
    counts the same, but is lost when the reader raises) and keeps the current record's
    lines (the row as read, for the quarantine)."""

    def __init__(self, lines: Iterable[str], skip: int = 0):
        self._lines = iter(lines)
        self.count = 0
        self._record: List[str] = []
        self._record_chars = 0
        for _ in range(skip):
            if next(self._lines, None) is None:
                break
            self.count += 1

    def __iter__(self) -> "_CountingLines":
        return self

    def __next__(self) -> str:
        line = next(self._lines)
        self.count += 1
        if self._record_chars < MAX_RAW_CHARS:  # an unclosed quote may run to the end of file
            self._record.append(line)
            self._record_chars += len(line)
        return line

    def start_record(self) -> None:
        self._record, self._record_chars = [], 0

    @property
    def record(self) -> str:
        return "".join(self._record)

    @property
    def first_line(self) -> str:
        return self._record[0] if self._record else ""


def _text_lines(path: str, compressed: bool, errors: str = "strict") -> Iterator[str]:
    """The lines of a UTF-8 text file, line endings kept, a leading BOM dropped.

    errors="surrogateescape" keeps bytes that are not UTF-8 as lone surrogates, so a reader
    can set the row aside (see `_undecodable`) instead of failing the file."""
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
                line = data.decode("utf-8", errors)
            except UnicodeDecodeError as e:
                raise BadInputError(path, number, _not_utf8(data, e)) from None
            if number == 1 and line.startswith("\ufeff"):
                line = line[1:]
            yield line


def _not_utf8(data: bytes, e: UnicodeDecodeError) -> str:
    return (f"not UTF-8 text (byte {data[e.start:e.start + 1]!r} at column {e.start + 1}): "
            f"{_snippet(data.decode('utf-8', 'replace'))}")


def _undecodable(text: str, first_line: int = 1) -> Optional[Tuple[int, str]]:
    """(line number, problem) of the first line of `text` holding bytes that are not UTF-8
    (read with errors="surrogateescape"), or None."""
    for offset, line in enumerate(text.splitlines(keepends=True)):
        data = line.encode("utf-8", "surrogateescape")
        try:
            data.decode("utf-8")
        except UnicodeDecodeError as e:
            return first_line + offset, _not_utf8(data, e)
    return None


# Bytes that do not occur in text: NUL and the C0 controls other than \t \n \v \f \r, and DEL.
_CONTROL_BYTES = frozenset(range(0x00, 0x09)) | frozenset(range(0x0E, 0x20)) | {0x7F}
_SNIFF_BYTES = 8192


def _check_text_file(path: str, compressed: bool) -> None:
    """Raises BadInputError when a text-format file holds binary data (a misnamed file)."""
    with _open_binary(path) as raw:
        stream = gzip.GzipFile(fileobj=raw, mode="rb") if compressed else raw
        try:
            head = stream.read(_SNIFF_BYTES)
        except (OSError, EOFError, zlib.error) as e:
            raise BadInputError(path, None, f"cannot decompress the gzip data ({e})") from None
    if not head:
        return
    name = posixpath.basename(path)
    if head.startswith(b"\x1f\x8b"):
        raise BadInputError(path, None, f"holds gzip-compressed data; name it {name}.gz")
    if head.startswith(b"PK\x03\x04"):
        raise BadInputError(path, None, "is a ZIP archive (an Excel workbook?), not text; "
                            "export it as CSV")
    control = sum(b in _CONTROL_BYTES for b in head)
    replaced = head.decode("utf-8", "replace").count("\ufffd")
    if control > 0.05 * len(head) or replaced > 0.1 * len(head):
        raise BadInputError(
            path, None, f"does not look like text: {control + replaced} of its first "
            f"{len(head):,} bytes are control bytes or not UTF-8 (binary data?)")


def _open_binary(path: str):
    if "://" in path:
        return tf.io.gfile.GFile(path, "rb")
    return open(path, "rb")


def _snippet(text: str) -> str:
    text = text.rstrip("\r\n")
    return text if len(text) <= _SNIPPET else text[:_SNIPPET] + "..."


# ---------------------------------------------------------------------------- executor

ROW_CHECKS_KEY = "row_checks"
# Set by the executor for the Beam job: where the side outputs (bad rows, counts) go.
_WORK_DIR_KEY = "_bad_rows_work_dir"
_EXAMPLES, _BAD, _COUNTS = "examples", "bad_rows", "counts"


class _ReadFile(beam.DoFn):
    """One input file: good rows to the main output, bad rows and the file's counts to the
    side outputs (a bad row must not fail the Beam job: the policy is decided on all of them)."""

    def __init__(self, checks: Optional[RowChecks], split: str):
        self._checks = checks
        self._split = split

    def process(self, path: str):
        rows = bad = 0
        for item in read_rows(path, self._checks, self._split):
            rows += 1
            if isinstance(item, BadRow):
                bad += 1
                yield beam.pvalue.TaggedOutput(_BAD, item.to_json())
            else:
                yield item
        yield beam.pvalue.TaggedOutput(
            _COUNTS, json.dumps({"split": self._split, "file": path, "rows": rows, "bad": bad}))


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
    checks = RowChecks.from_json(exec_properties.get(ROW_CHECKS_KEY))
    work_dir = exec_properties.get(_WORK_DIR_KEY)
    if checks is None or work_dir is None:
        return (pipeline
                | "ListFiles" >> beam.Create(files)
                | "ReadFiles" >> beam.FlatMap(read_file))
    split = _split_name(exec_properties, split_pattern)
    outputs = (pipeline
               | "ListFiles" >> beam.Create(files)
               | "ReadFiles" >> beam.ParDo(_ReadFile(checks, split)).with_outputs(
                   _BAD, _COUNTS, main=_EXAMPLES))
    for tag in (_BAD, _COUNTS):
        _ = outputs[tag] | f"Write[{tag}]" >> beam.io.WriteToText(
            os.path.join(work_dir, split, tag), file_name_suffix=".jsonl")
    return outputs[_EXAMPLES]


def _split_name(exec_properties: Dict[str, Any], pattern: str) -> str:
    input_config = example_gen_pb2.Input()
    proto_utils.json_to_proto(exec_properties[standard_component_specs.INPUT_CONFIG_KEY],
                              input_config)
    return next(s.name for s in input_config.splits if s.pattern == pattern)


class Executor(base_example_gen_executor.BaseExampleGenExecutor):
    """Turns CSV, JSON Lines and TFRecord files into tf.train.Examples."""

    def GetInputSourceToExamplePTransform(self) -> beam.PTransform:
        return _TextToExample

    def Do(self, input_dict, output_dict, exec_properties) -> None:
        checks = RowChecks.from_json(exec_properties.get(ROW_CHECKS_KEY))
        if checks is None:
            return super().Do(input_dict, output_dict, exec_properties)
        examples = artifact_utils.get_single_instance(
            output_dict[standard_component_specs.EXAMPLES_KEY])
        quarantine = checks.quarantine_dir or examples.uri.rstrip("/") + "-quarantine"
        work_dir = os.path.join(quarantine, f".incoming-{uuid.uuid4().hex}")
        try:
            super().Do(input_dict, output_dict, dict(exec_properties, **{_WORK_DIR_KEY: work_dir}))
            counts, first_rows = _collect(work_dir, quarantine)
        finally:
            if tf.io.gfile.exists(work_dir):
                tf.io.gfile.rmtree(work_dir)
        total = sum(c.bad for c in counts.values())
        if total:
            bad_rows.write_summary(quarantine, counts, checks, examples.uri)
        examples.set_json_value_custom_property(
            "bad_rows", {s: {"rows": c.rows, "bad": c.bad} for s, c in counts.items()})
        examples.set_string_custom_property("quarantine_dir", quarantine if total else "")
        examples.set_string_custom_property("on_bad_rows", checks.on_bad_rows)
        listing = os.path.join(quarantine, "*.jsonl") if total else None
        bad_rows.decide(counts, first_rows, checks, listing)


def _collect(work_dir: str, quarantine: str):
    """Moves the Beam job's bad rows into the quarantine folder (one file per split, the
    previous run's removed) and returns the counts per split and the first bad rows."""
    for old in tf.io.gfile.glob(os.path.join(quarantine, "*.jsonl")) + tf.io.gfile.glob(
            os.path.join(quarantine, bad_rows.SUMMARY_FILE)):
        tf.io.gfile.remove(old)
    counts: Dict[str, bad_rows.SplitCounts] = {}
    for path in tf.io.gfile.glob(os.path.join(work_dir, "*", _COUNTS + "*")):
        with tf.io.gfile.GFile(path) as f:
            for line in f:
                record = json.loads(line)
                split = counts.setdefault(record["split"], bad_rows.SplitCounts())
                split.rows += record["rows"]
                split.bad += record["bad"]
    first = []
    for split, split_counts in sorted(counts.items()):
        if not split_counts.bad:
            continue
        shards = sorted(tf.io.gfile.glob(os.path.join(work_dir, split, _BAD + "*")))
        name = bad_rows.split_label(split)
        with tf.io.gfile.GFile(os.path.join(quarantine, f"{name}.jsonl"), "w") as out:
            for shard in shards:
                with tf.io.gfile.GFile(shard) as f:
                    shutil.copyfileobj(f, out)
        # The first offenders by file and line, without holding every bad row in memory.
        first = heapq.nsmallest(bad_rows.MAX_LISTED, itertools.chain(
            first, bad_rows.read_bad_rows(shards)), key=BadRow.sort_key)
    return counts, first


class TextExampleGenSpec(standard_component_specs.FileBasedExampleGenSpec):
    PARAMETERS = {
        **standard_component_specs.FileBasedExampleGenSpec.PARAMETERS,
        # RowChecks as JSON (components/bad_rows.py); absent: every bad row fails the run.
        ROW_CHECKS_KEY: component_spec.ExecutionParameter(type=str, optional=True),
    }


class TextExampleGen(component.FileBasedExampleGen):
    """ExampleGen for CSV/TSV, JSON Lines and TFRecord files (chosen per file by extension).

    Usually built from `resolve_inputs(train, eval, eval_percent)`; its `examples` output
    holds the splits "train" and "eval" as gzipped TFRecords of tf.train.Example. With
    `row_checks`, bad rows are counted, quarantined or fail the run (components/bad_rows.py);
    the counts are the `bad_rows` custom property of the examples.
    """

    SPEC_CLASS = TextExampleGenSpec
    EXECUTOR_SPEC = executor_spec.BeamExecutorSpec(Executor)

    def __init__(
            self,
            input_base: str,
            input_config: Optional[Union[example_gen_pb2.Input,
                                         data_types.RuntimeParameter]] = None,
            output_config: Optional[Union[example_gen_pb2.Output,
                                          data_types.RuntimeParameter]] = None,
            range_config: Optional[Union[range_config_pb2.RangeConfig,
                                         data_types.RuntimeParameter]] = None,
            row_checks: Optional[RowChecks] = None):
        # FileBasedExampleGen builds its own spec; this one adds `row_checks`.
        input_config = input_config or example_gen_utils.make_default_input_config()
        output_config = output_config or example_gen_utils.make_default_output_config(
            input_config)
        spec = TextExampleGenSpec(
            input_base=input_base,
            input_config=input_config,
            output_config=output_config,
            custom_config=None,
            range_config=range_config,
            output_data_format=example_gen_pb2.FORMAT_TF_EXAMPLE,
            output_file_format=example_gen_pb2.FORMAT_TFRECORDS_GZIP,
            row_checks=row_checks.to_json() if row_checks else None,
            examples=types.Channel(type=standard_artifacts.Examples))
        super(component.FileBasedExampleGen, self).__init__(spec=spec)
