"""CSV and TSV files: a header row naming the features, every non-empty cell a bytes feature.

Read with Python's `csv` module, so quoted commas and quoted multi-line fields work (TFX's
CsvExampleGen handles neither); an empty cell is a missing feature. A malformed row is a
BadRow (set aside by the pipeline's policy); a bad header fails the file.
"""
import csv
from typing import Iterable, Iterator, List, Sequence

import tensorflow as tf

from components.bad_rows import MAX_RAW_CHARS, BadRow
from components.readers.errors import BadInputError, snippet
from components.readers.head import check_header, missing_columns
from components.readers.lines import text_lines, undecodable
from components.readers.rows import Item, Row, strict


def read_csv(path: str, delimiter: str = ",", compressed: bool = False
             ) -> Iterator[tf.train.Example]:
    """Examples from a CSV file with a header row; every non-empty cell a bytes feature."""
    return strict(csv_items(path, delimiter, compressed))


def csv_items(path: str, delimiter: str, compressed: bool, required: Sequence[str] = ()
               ) -> Iterator[Item]:
    # Text cells can be long; the default limit (128 KiB per field) is for tabular data.
    csv.field_size_limit(2 ** 31 - 1)
    header = None
    row = 0  # CSV rows: the header is row 1; a row may span lines (quoted newlines)
    data_rows = 0
    skip = 0  # lines already read (after an unclosed quote, reading restarts past its line)
    while skip is not None:
        lines = _CountingLines(text_lines(path, compressed, errors="surrogateescape"), skip)
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
                if undecodable(raw):
                    raise BadInputError(path, 1, "the header row is not UTF-8 text", unit="row")
                header = check_header(path, fields)
                missing = missing_columns(path, required, header, header=True)
                if missing:
                    raise missing
                continue
            if not fields:
                continue  # a blank line
            data_rows += 1
            where = f" (the row starts at line {start_line})" if start_line != row else ""
            bad_bytes = undecodable(raw, start_line)
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
                    f"{len(header)}{where}: {snippet(repr(fields))}", "row", raw)
            else:
                example = tf.train.Example()
                features = example.features.feature
                for name, value in zip(header, fields):
                    if value:
                        features[name].bytes_list.value.append(value.encode("utf-8"))
                yield Row(example, row, "row", raw)
    if header is None:
        raise BadInputError(path, None, "is empty (not even a header row)")
    if not data_rows:
        raise BadInputError(path, None, f"holds only the header row ({snippet(','.join(header))})"
                            " and no data rows")


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
