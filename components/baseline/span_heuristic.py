"""Question answering's baseline: answer with the first words of the context.

The span starts at the first context piece of the first window and is as long as the median
training answer (in pieces); when most training questions have no answer (SQuAD 2.0-style
data), it answers "no answer" instead. It reads neither the question nor the context's
content: it is the floor any reader must clear.

Expressed as start/end logits over each window (the candidate's output layout), so the task's
own span decoding and signatures serve it: the start logit falls with the distance from the
first context piece, the end logit with the distance from the span's last piece, and [CLS]
(position 0, "no answer") gets a large negative logit, or a large positive one to abstain.
"""
from typing import Iterable, Tuple

import numpy as np
import tensorflow as tf
import tf_keras

from trainer import data
from trainer import model as model_lib

_NULL_LOGIT = 1e4


def answer_statistics(records: Iterable[Tuple[np.ndarray, np.ndarray]]) -> Tuple[int, float]:
    """(median answer length in pieces, share of answerable questions) from each training
    question's per-window start and end positions (0 where the window lacks the answer)."""
    lengths, answerable, total = [], 0, 0
    for starts, ends in records:
        total += 1
        inside = np.flatnonzero(np.asarray(starts) > 0)
        if inside.size:
            answerable += 1
            window = inside[0]
            lengths.append(int(ends[window]) - int(starts[window]) + 1)
    length = int(np.median(lengths)) if lengths else 1
    return max(length, 1), (answerable / total if total else 0.0)


class FirstSpan(tf_keras.layers.Layer):
    """Dense window features -> start/end logits [B, T, 2] for the fixed span."""

    def __init__(self, span_length: int, abstain: bool, **kwargs):
        super().__init__(**kwargs)
        self.span_length = self.add_weight(
            "span_length", shape=[], dtype=tf.int32, trainable=False,
            initializer=tf_keras.initializers.Constant(span_length))
        self.null_logit = self.add_weight(
            "null_logit", shape=[], trainable=False,
            initializer=tf_keras.initializers.Constant(_NULL_LOGIT if abstain else -_NULL_LOGIT))

    def call(self, features):
        context = (tf.cast(features["token_type_ids"], tf.int32) == 1) & (
            tf.cast(features["attention_mask"], tf.int32) == 1)
        first = tf.argmax(tf.cast(context, tf.int32), axis=1, output_type=tf.int32)  # [B]
        positions = tf.range(tf.shape(context)[1])[None, :]
        start = -tf.cast(tf.abs(positions - first[:, None]), tf.float32)
        last = first + self.span_length - 1
        end = -tf.cast(tf.abs(positions - last[:, None]), tf.float32)
        logits = tf.stack([start, end], axis=-1)
        is_null = tf.cast(tf.equal(positions, 0), tf.float32)[:, :, None]
        return logits * (1.0 - is_null) + self.null_logit * is_null


def build_model(span_length: int, abstain: bool) -> tf_keras.Model:
    inputs = model_lib.sequence_inputs()
    outputs = FirstSpan(span_length, abstain, name="first_span")(inputs)
    return tf_keras.Model(inputs=inputs, outputs=outputs, name="first_span_baseline")


def _records(ds: tf.data.Dataset):
    for example in ds.as_numpy_iterator():
        yield example["start_positions"], example["end_positions"]


def train(task, context, transform_output, train_files, eval_files):
    """Measures the training answers; returns (model, its span loss and match on eval)."""
    cfg = context.config
    records = data.read_examples(train_files, data.feature_spec(task.label_spec()))
    length, answer_rate = answer_statistics(_records(records))
    length = min(length, cfg.task_options.max_answer_length)
    model = build_model(length, abstain=answer_rate < 0.5)
    model.compile(loss=task.loss(), metrics=task.metrics())
    model_lib.trace_without_autograph(model)  # as the candidate's (trainer/model.py)
    eval_ds = data.make_dataset(eval_files, task=task, batch_size=cfg.train.eval_batch_size,
                                boundaries=cfg.train.bucket_boundaries, shuffle=False)
    scores = model.evaluate(eval_ds, verbose=0, return_dict=True)
    history = {f"val_{name}": [value] for name, value in scores.items()}
    history.update(span_length=[length], answerable_share=[answer_rate])
    return model, history
