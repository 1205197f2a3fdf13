"""The head of an input file, read without TensorFlow: the CSV header, the first JSON Lines
records, the feature names of the first TFRecord records. The readers use the same checks on the
whole file (csv.py, jsonl.py, dispatch.py); `check_head` lets the CLI refuse an unreadable file
or a missing column in a second, before TensorFlow loads (pipeline/precheck.py).
"""
import csv
import json
import struct
from typing import Collection, Iterable, List, Optional, Sequence, Set, Union

from google.protobuf import empty_pb2
from google.protobuf.message import DecodeError

from components.bad_rows import BadRow
from components.input_files import file_kind
from components.readers import squad
from components.readers.errors import BadInputError, snippet
from components.readers.lines import GZIP_ERRORS, open_bytes, text_lines, undecodable
from components.readers.sniff import check_text_file

# Records of a JSON Lines file whose keys `check_head` reads (a whole small file).
HEAD_RECORDS = 1000


def either(columns: Iterable[str]) -> str:
    """'a' or 'b': the columns of a message."""
    return " or ".join(repr(c) for c in columns)


def check_header(path: str, header: list) -> list:
    """A CSV header row: not empty, every column named, no name twice."""
    if not header:
        raise BadInputError(path, 1, "the header row is empty", unit="row")
    for i, name in enumerate(header, 1):
        if not name:
            raise BadInputError(path, 1, f"column {i} of the header has no name: "
                                f"{snippet(','.join(header))}", unit="row")
    duplicates = sorted({name for name in header if header.count(name) > 1})
    if duplicates:
        raise BadInputError(path, 1, f"the header names {', '.join(map(repr, duplicates))} "
                            "more than once", unit="row")
    return header


def missing_columns(path: str, required: Sequence[str], columns: Collection[str],
                    header: bool, read: Optional[int] = None) -> Optional[BadInputError]:
    """The error for the required columns that `columns` lacks (None: it has them all).
    `header`: `columns` is a CSV header (in its order), else the keys of the records; `read`:
    only the first `read` records were looked at."""
    missing = [c for c in required if c not in columns]
    if not missing:
        return None
    hint = "Name the columns with --text-column/--label-column."
    if header:
        return BadInputError(path, 1, f"no column {either(missing)}; the header has "
                             f"{', '.join(repr(c) for c in columns)}. {hint}", unit="row")
    which = "no record has" if read is None else f"none of the first {read:,} records has"
    return BadInputError(path, None, f"{which} {either(missing)}; the records have "
                         f"{', '.join(repr(c) for c in sorted(columns))}. {hint}")


def json_record(path: str, number: int, line: str, seen_object: bool
                ) -> Union[dict, BadRow, None]:
    """Line `number` of a JSON Lines file: its object, a BadRow, or None for a blank line.
    Raises BadInputError when the first object's line shows a pretty-printed document."""
    if not line.strip():
        return None
    bad_bytes = undecodable(line, number)
    if bad_bytes:
        return BadRow(path, number, bad_bytes[1], "line", line)
    try:
        value = json.loads(line)
    except json.JSONDecodeError as e:
        if not seen_object and line.strip() in ("[", "{"):
            raise BadInputError(
                path, number, f"invalid JSON ({e.msg} at column {e.colno}): "
                f"{snippet(line)} (JSON Lines files must hold one complete JSON object "
                "per line, not one pretty-printed document)") from None
        # json's messages end in " at" before the position it would append.
        message = e.msg[:-3] if e.msg.endswith(" at") else e.msg
        return BadRow(path, number, f"invalid JSON ({message} at column {e.colno}): "
                      f"{snippet(line)}", "line", line)
    if not isinstance(value, dict):
        return BadRow(path, number, f"not a JSON object: {snippet(line)}", "line", line)
    return value


def csv_header(path: str, delimiter: str, compressed: bool) -> List[str]:
    """The header row of a CSV file, checked, once a data row is known to follow it."""
    csv.field_size_limit(2 ** 31 - 1)
    reader = csv.reader(text_lines(path, compressed, errors="surrogateescape"),
                        delimiter=delimiter, strict=True)
    header = None
    try:
        for fields in reader:
            if header is None:
                if undecodable("\n".join(fields)):
                    raise BadInputError(path, 1, "the header row is not UTF-8 text", unit="row")
                header = check_header(path, fields)
            elif fields:
                return header
    except csv.Error as e:
        if header is None:
            raise BadInputError(path, 1, f"the header row is malformed CSV ({e})",
                                unit="row") from None
        return header  # a malformed row: a bad row, for the reader's policy
    if header is None:
        raise BadInputError(path, None, "is empty (not even a header row)")
    raise BadInputError(path, None, f"holds only the header row ({snippet(','.join(header))})"
                        " and no data rows")


def jsonl_keys(path: str, compressed: bool, limit: int = HEAD_RECORDS):
    """(keys with a value in the first `limit` objects, objects read, whole file read)."""
    keys: Set[str] = set()
    objects = 0
    for number, line in enumerate(text_lines(path, compressed, errors="surrogateescape"), 1):
        value = json_record(path, number, line, objects > 0)
        if not isinstance(value, dict):
            continue
        objects += 1
        keys.update(k for k, v in value.items() if v is not None and v != [])
        if objects >= limit:
            return keys, objects, False
    if not objects:
        raise BadInputError(path, None, "holds no records (it is empty)")
    return keys, objects, True


def tfrecord_head(path: str, compressed: bool, limit: int):
    """The data of the first `limit` records (TFRecord: 8-byte length, 4-byte CRC, data, 4-byte
    CRC), and whether that was the whole file. The first record must fit in the file: text or
    another binary format fails this. A later record that does not fit ends the head (the
    pipeline's reader reports it with the bad-rows policy)."""
    def corrupt():
        return BadInputError(
            path, 1, f"corrupt TFRecord data (the first record's length does not fit the "
            f"file); is it a TFRecord file{' compressed with gzip' if compressed else ''}?",
            unit="record")

    records: List[bytes] = []
    with open_bytes(path, compressed) as stream:
        try:
            while len(records) < limit:
                head = stream.read(12)
                if not head and not records:
                    raise BadInputError(path, None, "holds no records (it is empty)")
                if not head:
                    return records, True
                try:
                    (length,) = struct.unpack("<Q", head[:8]) if len(head) == 12 else (None,)
                    body = stream.read(length + 4) if length is not None else b""
                except (MemoryError, OverflowError):
                    length, body = None, b""
                if length is None or len(body) != length + 4:
                    if not records:
                        raise corrupt()
                    return records, True
                records.append(body[:length])
        except GZIP_ERRORS as e:
            raise BadInputError(path, None, f"cannot decompress the gzip data ({e})") from None
    return records, False


def _fields(data: bytes):
    """(field number, bytes) of a serialized message's length-delimited fields, read with
    protobuf's own parser as unknown fields of an empty message: tf.train.Example's classes
    live in the tensorflow package, whose import this module exists to avoid."""
    message = empty_pb2.Empty()
    message.ParseFromString(data)
    return [(f.field_number, f.data) for f in message.UnknownFields() if f.wire_type == 2]


def example_keys(data: bytes) -> Set[str]:
    """The names of a serialized tf.train.Example's features that hold a value
    (Example.features = 1; Features.feature = 1, map entries: key = 1, Feature = 2, whose one
    field is a BytesList/FloatList/Int64List)."""
    keys = set()
    for number, features in _fields(data):
        if number != 1:
            continue
        for entry_number, entry in _fields(features):
            parts = dict(_fields(entry)) if entry_number == 1 else {}
            if 1 in parts and any(value for _, value in _fields(parts.get(2, b""))):
                keys.add(parts[1].decode("utf-8", "replace"))
    return keys


def tfrecord_keys(path: str, compressed: bool, limit: int = HEAD_RECORDS):
    """(feature names with a value in the first `limit` tf.train.Examples, records read,
    whole file read)."""
    records, whole = tfrecord_head(path, compressed, limit)
    keys: Set[str] = set()
    for number, data in enumerate(records, 1):
        try:
            keys |= example_keys(data)
        except (DecodeError, RuntimeError):
            raise BadInputError(path, number, "is not a tf.train.Example", unit="record") from None
    return keys, len(records), whole


def check_head(path: str, required: Sequence[str] = ()) -> None:
    """Raises BadInputError when the file cannot be read as its extension says or lacks a
    required column: CSV/TSV by their header, JSON Lines by their first HEAD_RECORDS records.
    TFRecord by the features of their first HEAD_RECORDS tf.train.Examples. CoNLL and SQuAD
    files have no column to check here."""
    kind = file_kind(path)
    if kind is None:
        raise BadInputError(path, None, "unrecognised extension")
    if kind.format == "tfrecord":
        keys, read, whole = tfrecord_keys(path, kind.compressed)
        error = missing_columns(path, required, keys, header=False,
                                read=None if whole else read) if keys else None
        if error:
            raise error
        return
    check_text_file(path, kind.compressed)
    if kind.format in ("csv", "tsv"):
        header = csv_header(path, "\t" if kind.format == "tsv" else ",", kind.compressed)
        error = missing_columns(path, required, header, header=True)
    elif kind.format == "jsonl" and not squad.is_squad_file(path, kind.compressed):
        keys, read, whole = jsonl_keys(path, kind.compressed)
        error = missing_columns(path, required, keys, header=False,
                                read=None if whole else read) if keys else None
    else:
        error = None
    if error:
        raise error
