"""Located rows: what every format reader yields, a good row with its place or a BadRow."""
from typing import Iterable, Iterator, NamedTuple, Union

import tensorflow as tf

from components.bad_rows import BadRow
from components.readers.errors import BadInputError


class Row(NamedTuple):
    """A parsed row with where it came from and its text as read (for the quarantine)."""

    example: tf.train.Example
    line: int
    unit: str
    raw: Union[str, bytes]


Item = Union[Row, BadRow]


def error(row: BadRow) -> BadInputError:
    """The error a strict reader raises for a bad row."""
    return BadInputError(row.file, row.line, row.problem, unit=row.unit)


def strict(items: Iterable[Item]) -> Iterator[tf.train.Example]:
    """The examples of `items`; raises BadInputError at the first bad row."""
    for item in items:
        if isinstance(item, BadRow):
            raise error(item)
        yield item.example


def numbered(examples: Iterable[tf.train.Example]) -> Iterator[Row]:
    """Rows of a reader that fails on any bad record (CoNLL, SQuAD): record 1, 2, ..."""
    for number, example in enumerate(examples, 1):
        yield Row(example, number, "record", "")
