"""One input file, read by the format its extension names (components/input_files.py).

`read_located_rows` is the one entry point: the other readers of a whole file are views of it.
"""
import dataclasses
from typing import Iterator, Optional, Union

import tensorflow as tf
from absl import logging

from components.bad_rows import BadRow, RowChecks
from components.input_files import file_kind
from components.readers import conll, squad
from components.readers.csv import csv_items
from components.readers.errors import BadInputError
from components.readers.head import missing_columns
from components.readers.jsonl import jsonl_items
from components.readers.rows import Row, error, numbered
from components.readers.sniff import check_text_file
from components.readers.tfrecord import tfrecord_items


def read_file(path: str) -> Iterator[tf.train.Example]:
    """The tf.train.Examples in one input file, read by the format its extension names.

    Raises BadInputError at the first bad row (see `read_rows` to get past them)."""
    count = 0
    for item in read_rows(path):
        if isinstance(item, BadRow):
            raise error(item)
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
    for item in read_located_rows(path, checks, split):
        yield item if isinstance(item, BadRow) else item.example


def read_located_rows(path: str, checks: Optional[RowChecks] = None, split: str = ""
                      ) -> Iterator[Union[Row, BadRow]]:
    """As read_rows, with each good row's place: (example, line, unit, raw) tuples."""
    kind = file_kind(path)
    if kind is None:
        raise BadInputError(path, None, "unrecognised extension")
    required = checks.required_columns if checks else []
    if kind.format != "tfrecord":
        check_text_file(path, kind.compressed)
    if kind.format in ("csv", "tsv"):
        items = csv_items(path, "\t" if kind.format == "tsv" else ",", kind.compressed, required)
    elif kind.format == "jsonl" and squad.is_squad_file(path, kind.compressed):
        items = numbered(squad.read_squad(path, compressed=kind.compressed))
    elif kind.format == "jsonl":
        items = jsonl_items(path, kind.compressed)
    elif kind.format == "conll":
        items = numbered(conll.read_conll(path, compressed=kind.compressed))
    else:
        items = tfrecord_items(path, kind.compressed)

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
            yield item
    if rows == 0 and kind.format in ("csv", "tsv"):
        return  # csv_items raised already for an empty or header-only file
    if rows == 0:
        raise BadInputError(path, None, "holds no records (it is empty)")
    missing = missing_columns(path, required, columns, header=False)
    if missing and columns:
        raise missing
