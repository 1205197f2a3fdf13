"""Helpers for raw feature tensors as tf.Transform hands them to preprocessing."""
from typing import Any

import tensorflow as tf

# Sequence features every task emits from Transform (variable length, no padding).
SEQUENCE_FEATURES = ("input_ids", "attention_mask", "token_type_ids")
# The exported signature TFX's BulkInferrer calls (Task.bulk_inference_signature).
BULK_INFERENCE_SIGNATURE = "bulk_inference"


def dense_strings(feature: Any) -> tf.Tensor:
    """A raw string column as a dense [batch] tensor; missing values become ''."""
    if feature.dtype != tf.string:
        # Integer labels become their decimal strings ("0", "1", ...).
        if isinstance(feature, tf.SparseTensor):
            feature = tf.SparseTensor(feature.indices, tf.strings.as_string(feature.values),
                                      feature.dense_shape)
        elif isinstance(feature, tf.RaggedTensor):
            feature = feature.with_flat_values(tf.strings.as_string(feature.flat_values))
        else:
            feature = tf.strings.as_string(feature)
    if isinstance(feature, tf.SparseTensor):
        feature = tf.sparse.to_dense(feature, default_value="")
    elif isinstance(feature, tf.RaggedTensor):
        feature = feature.to_tensor(default_value="")
    if feature.shape.rank == 2:
        if feature.shape[1] == 1:
            return feature[:, 0]
        # A [batch, n] column (or empty [batch, 0] when every value is missing): first value.
        feature = tf.cond(tf.shape(feature)[1] > 0,
                          lambda: feature[:, 0],
                          lambda: tf.fill([tf.shape(feature)[0]], ""))
    return feature
