"""Helpers for raw feature tensors as tf.Transform hands them to preprocessing."""
from typing import Any

import tensorflow as tf


def dense_strings(feature: Any) -> tf.Tensor:
    """A raw string column as a dense [batch] tensor; missing values become ''."""
    if isinstance(feature, tf.SparseTensor):
        feature = tf.sparse.to_dense(feature, default_value="")
    elif isinstance(feature, tf.RaggedTensor):
        feature = feature.to_tensor(default_value="")
    if feature.shape.rank == 2:
        # A [batch, 1] column (or empty [batch, 0] when every value is missing).
        feature = tf.cond(tf.shape(feature)[1] > 0,
                          lambda: feature[:, 0],
                          lambda: tf.fill([tf.shape(feature)[0]], ""))
    if feature.dtype != tf.string:
        feature = tf.strings.as_string(feature)
    return feature
