"""Row-wise operations on 2-D ragged tensors (int64 row splits), built from a few index ops.

What tf.concat(axis=1), merge_dims and tf.ragged.boolean_mask build, without their
validation and broadcasting ops: those add hundreds of ops (over 1,000 for a text pair)
to every graph that tokenizes, which tf.Transform traces five times per run, each export
traces again and every SavedModel load and first call pays for. No TF or TF Text op does this
(TF Text's trimmers are not in TF Serving 2.12-2.19's op set), hence these few functions.
The values are those of the tf.ragged operations they replace (tests/test_ragged_rows.py).
`regex_split_with_offsets` is tf_text's, minus the validation of the splits its own op made.
"""
from typing import Sequence, Union

import tensorflow as tf
# The op library tf_text loads for its own regex_split (its module attribute; no public name).
from tensorflow_text.python.ops.regex_split_ops import gen_regex_split_ops


def row_positions(rt: tf.RaggedTensor):
    """(row, position within the row) of each value, both int64 [N]."""
    index = tf.range(tf.size(rt.values, out_type=tf.int64), dtype=tf.int64)
    rows = tf.searchsorted(rt.row_splits[1:], index, side="right")
    return rows, index - tf.gather(rt.row_splits, rows)


def from_lengths(values: tf.Tensor, lengths: tf.Tensor) -> tf.RaggedTensor:
    """The ragged tensor of `values` cut into rows of `lengths` (int64 [B])."""
    splits = tf.concat([tf.zeros([1], tf.int64), tf.cumsum(lengths)], axis=0)
    return tf.RaggedTensor.from_row_splits(values, splits, validate=False)


def merge_inner(rt: tf.RaggedTensor) -> tf.RaggedTensor:
    """[B, (n), (m)] -> [B, (n * m)]: `rt.merge_dims(1, 2)`."""
    rt = rt.with_row_splits_dtype(tf.int64)
    return tf.RaggedTensor.from_row_splits(
        rt.values.values, tf.gather(rt.values.row_splits, rt.row_splits), validate=False)


def first_values(rt: tf.RaggedTensor, keep: tf.Tensor) -> tf.RaggedTensor:
    """The first `keep[i]` values of row i (`keep`: int64 [B]). For one count for every row,
    `rt[:, :n]` builds few ops already."""
    rows, position = row_positions(rt)
    return from_lengths(tf.boolean_mask(rt.values, position < tf.gather(keep, rows)),
                        tf.minimum(rt.row_lengths(), keep))


def ones_from(rt: tf.RaggedTensor, start: tf.Tensor) -> tf.RaggedTensor:
    """int64 ragged shaped like `rt`: 0 before position `start[i]` of row i, 1 from it on (the
    token type ids of a second segment that starts there)."""
    rows, position = row_positions(rt)
    return rt.with_values(tf.cast(position >= tf.gather(start, rows), tf.int64))


def concat_rows(parts: Sequence[Union[tf.RaggedTensor, int, str]],
                dtype: tf.DType = tf.int64) -> tf.RaggedTensor:
    """Row-wise concatenation, `tf.concat(parts, axis=1)`: ragged [B, (n)] parts of `dtype`,
    and constants, each one value in every row (a [CLS] or [SEP] id). At least one part is
    ragged."""
    ragged = [p for p in parts if isinstance(p, tf.RaggedTensor)]
    batch = ragged[0].nrows(out_type=tf.int64)
    lengths = [p.row_lengths() if isinstance(p, tf.RaggedTensor) else tf.ones([batch], tf.int64)
               for p in parts]
    splits = tf.concat([tf.zeros([1], tf.int64), tf.cumsum(tf.add_n(lengths))], axis=0)
    start = splits[:-1]  # where the next part's values begin in each row
    indices, values = [], []
    for part, length in zip(parts, lengths):
        if isinstance(part, tf.RaggedTensor):
            rows, position = row_positions(part)
            indices.append(tf.gather(start, rows) + position)
            values.append(part.values)
        else:
            indices.append(start)
            values.append(tf.fill([batch], tf.constant(part, dtype)))
        start = start + length
    values = tf.concat(values, axis=0)
    # Where each output value comes from (an int64 scatter, then a gather: any dtype).
    source = tf.scatter_nd(tf.concat(indices, axis=0)[:, None],
                           tf.range(tf.size(values, out_type=tf.int64), dtype=tf.int64),
                           splits[-1:])
    source.set_shape([None])  # scatter_nd's shape argument is not a constant
    return tf.RaggedTensor.from_row_splits(tf.gather(values, source), splits, validate=False)


def regex_split_with_offsets(texts: tf.Tensor, delim_regex_pattern: str,
                             keep_delim_regex_pattern: str = ""):
    """`tf_text.regex_split_with_offsets` of a 1-D string tensor: (pieces, begin byte
    offsets, end byte offsets), each ragged [B, (n)] with int64 splits. The same
    RegexSplitWithOffsets op; tf_text then validates the splits that op returned (six assert
    functions per call, 300 ops), which this does not."""
    texts = tf.convert_to_tensor(texts, tf.string)
    if texts.shape.rank != 1:
        raise ValueError(f"expected a 1-D string tensor, got shape {texts.shape}")
    pieces, begins, ends, splits = gen_regex_split_ops.regex_split_with_offsets(
        texts, f"({delim_regex_pattern})".encode("utf-8"),
        f"({keep_delim_regex_pattern})".encode("utf-8"))
    return tuple(tf.RaggedTensor.from_row_splits(values, splits, validate=False)
                 for values in (pieces, begins, ends))


def regex_split(texts: tf.Tensor, delim_regex_pattern: str,
                keep_delim_regex_pattern: str = "") -> tf.RaggedTensor:
    """`tf_text.regex_split` of a 1-D string tensor (see regex_split_with_offsets)."""
    return regex_split_with_offsets(texts, delim_regex_pattern, keep_delim_regex_pattern)[0]
