"""TFRecord files of tf.train.Example records, passed through (optionally gzip-compressed)."""
from typing import Iterator

import tensorflow as tf
from google.protobuf import message as protobuf_message

from components.bad_rows import BadRow
from components.readers.errors import BadInputError
from components.readers.rows import Item, Row, strict


def read_tfrecord(path: str, compressed: bool = False) -> Iterator[tf.train.Example]:
    """The tf.train.Example records of a TFRecord file."""
    return strict(tfrecord_items(path, compressed))


def tfrecord_items(path: str, compressed: bool) -> Iterator[Item]:
    options = tf.io.TFRecordOptions(compression_type="GZIP" if compressed else "")
    number = 0
    try:
        for number, record in enumerate(tf.compat.v1.io.tf_record_iterator(path, options), 1):
            try:
                yield Row(tf.train.Example.FromString(record), number, "record", record)
            except protobuf_message.DecodeError as e:
                yield BadRow(path, number, f"not a serialized tf.train.Example ({e})",
                             "record", record)
    except tf.errors.DataLossError as e:
        raise BadInputError(
            path, number + 1,
            f"corrupt TFRecord data ({e.message}); is it a TFRecord file"
            f"{' compressed with gzip' if compressed else ''}?",
            unit="record") from None
