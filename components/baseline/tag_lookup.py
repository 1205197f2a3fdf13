"""Token classification's baseline: every word gets the tag it had most often in training.

Transform gives each word's tag to its first WordPiece (the other pieces are -100), and the
served model tags a word by its first piece, so the word is keyed by its first piece here too:
for the words the vocabulary holds whole (most of them) that is the word itself. A word never
seen in training gets the most frequent tag overall.

Counted, not trained: the "model" is a fixed table of log-probabilities
log((count(piece, tag) + prior(tag)) / (count(piece) + 1)) looked up per position, so the
task's WindowedTagger and signatures serve it exactly as they serve the candidate.
"""
from typing import Iterable, Tuple

import numpy as np
import tensorflow as tf
import tf_keras

from trainer import data
from trainer import model as model_lib
from trainer import tokenization
from trainer.tasks.token_classification import TAG_VOCABULARY


def tag_counts(batches: Iterable[Tuple[np.ndarray, np.ndarray]], vocab_size: int,
               num_tags: int) -> np.ndarray:
    """[vocab, tags]: how often each piece started a word with each tag."""
    counts = np.zeros([vocab_size, num_tags], np.int64)
    for input_ids, labels in batches:
        labelled = labels >= 0
        np.add.at(counts, (input_ids[labelled], labels[labelled]), 1)
    return counts


def log_probability_table(counts: np.ndarray) -> np.ndarray:
    """[vocab, tags]: smoothed log P(tag | piece); argmax is the piece's most frequent tag
    (the overall most frequent one for an unseen piece, which breaks ties too)."""
    prior = (counts.sum(axis=0) + 1e-3) / (counts.sum() + 1e-3 * counts.shape[1])
    probabilities = (counts + prior) / (counts.sum(axis=1, keepdims=True) + 1.0)
    return np.log(probabilities).astype(np.float32)


class TagLookup(tf_keras.layers.Layer):
    """input_ids [B, T] -> the table's row for each piece: logits [B, T, tags]."""

    def __init__(self, table: np.ndarray, **kwargs):
        super().__init__(**kwargs)
        self.table = self.add_weight("table", shape=table.shape, trainable=False,
                                     initializer=tf_keras.initializers.Constant(table))

    def call(self, features):
        return tf.gather(self.table, tf.cast(features["input_ids"], tf.int32))


class _LookupEncoder(tf.Module):
    """Stands in for the ELECTRA encoder behind `serve_embedding` (signature parity only)."""

    def __init__(self, layer: TagLookup):
        super().__init__(name="tag_lookup_encoder")
        self.layer = layer

    def __call__(self, input_ids, attention_mask, token_type_ids, training=False):
        return (self.layer({"input_ids": input_ids}),)


def build_model(table: np.ndarray) -> tf_keras.Model:
    inputs = model_lib.sequence_inputs()
    layer = TagLookup(table, name="tag_lookup")
    model = tf_keras.Model(inputs=inputs, outputs=layer(inputs), name="tag_lookup_baseline")
    return model_lib.attach_encoder(model, _LookupEncoder(layer))


def train(task, context, transform_output, train_files, eval_files):
    """Counts the training tags; returns (model, its loss and token accuracy on eval)."""
    cfg = context.config
    num_tags = transform_output.vocabulary_size_by_name(TAG_VOCABULARY)
    vocab_size = len(tokenization.load_vocab(f"{context.checkpoint_dir}/vocab.txt"))
    batches = data.make_dataset(train_files, task=task, batch_size=cfg.train.batch_size,
                                boundaries=cfg.train.bucket_boundaries, shuffle=False)
    counts = tag_counts(((f["input_ids"], y) for f, y in batches.as_numpy_iterator()),
                        vocab_size, num_tags)
    model = build_model(log_probability_table(counts))
    model.compile(loss=task.loss(), metrics=task.metrics())
    model_lib.trace_without_autograph(model)  # as the candidate's (trainer/model.py)
    eval_ds = data.make_dataset(eval_files, task=task, batch_size=cfg.train.eval_batch_size,
                                boundaries=cfg.train.bucket_boundaries, shuffle=False)
    scores = model.evaluate(eval_ds, verbose=0, return_dict=True)
    return model, {f"val_{name}": [value] for name, value in scores.items()}
