"""TF-IDF logistic (or linear) regression over the WordPiece ids of Transform's output.

Each text is the bag of its WordPiece ids (one bag per text of a pair: the id of a piece of the
second text is offset by the vocabulary size). Its features are TF-IDF weights, L2-normalised as
scikit-learn's TfidfVectorizer does (smooth idf: ln((1 + n) / (1 + df)) + 1; the special tokens
weigh 0), and one linear layer maps them to the task's logits (or score, for --regression).

Written as a Keras model over the same dense `input_ids`/`attention_mask`/`token_type_ids` the
candidate takes, so the task's own loss, metrics and serving signatures apply unchanged. The
embedding `serve_embedding` returns for it is its per-piece logit contributions, mean-pooled:
there for signature parity, not meant for use.
"""
from typing import Dict, Iterable, List, Tuple

import numpy as np
import tensorflow as tf
import tf_keras

from trainer import data
from trainer import keras_progress
from trainer import model as model_lib
from trainer import tokenization

# One bag per text: text-pair-classification has two (token_type_ids 0 and 1).
SEGMENTS = 2


def special_ids(vocab: List[str]) -> List[int]:
    return [i for i, token in enumerate(vocab)
            if token in tokenization.SPECIAL_TOKENS and token != tokenization.UNK_TOKEN]


def document_frequencies(batches: Iterable[Dict[str, np.ndarray]],
                         vocab_size: int) -> Tuple[np.ndarray, int]:
    """(documents containing each segment-offset id, number of documents)."""
    df = np.zeros([SEGMENTS * vocab_size], np.int64)
    n = 0
    for features in batches:
        ids = segment_ids(features["input_ids"], features["token_type_ids"], vocab_size)
        ids = np.where(features["attention_mask"] > 0, ids, -1)
        rows = np.arange(ids.shape[0])[:, None] * (SEGMENTS * vocab_size)
        present = np.unique((ids + rows)[ids >= 0])
        df += np.bincount(present % (SEGMENTS * vocab_size), minlength=SEGMENTS * vocab_size)
        n += ids.shape[0]
    return df, n


def segment_ids(input_ids, token_type_ids, vocab_size: int):
    """The piece id, offset by the vocabulary size for the second text of a pair."""
    if isinstance(input_ids, np.ndarray):
        return input_ids + vocab_size * np.clip(token_type_ids, 0, SEGMENTS - 1)
    return input_ids + vocab_size * tf.clip_by_value(token_type_ids, 0, SEGMENTS - 1)


def idf_weights(df: np.ndarray, num_documents: int, ignored_ids: Iterable[int]) -> np.ndarray:
    """scikit-learn's smooth idf; the ignored ids (special tokens) weigh 0 in every segment."""
    idf = np.log((1.0 + num_documents) / (1.0 + df)) + 1.0
    vocab_size = len(df) // SEGMENTS
    for i in ignored_ids:
        idf[[i + s * vocab_size for s in range(SEGMENTS)]] = 0.0
    return idf.astype(np.float32)


class TfIdfLinear(tf_keras.layers.Layer):
    """Dense sequence features -> TF-IDF (L2-normalised) -> one linear layer."""

    def __init__(self, idf: np.ndarray, num_outputs: int, **kwargs):
        super().__init__(**kwargs)
        self.vocab_size = len(idf) // SEGMENTS
        self.num_outputs = num_outputs
        self.idf = self.add_weight("idf", shape=[len(idf)], trainable=False,
                                   initializer=tf_keras.initializers.Constant(idf))
        self.kernel = self.add_weight("kernel", shape=[len(idf), num_outputs],
                                      initializer="zeros")
        self.bias = self.add_weight("bias", shape=[num_outputs], initializer="zeros")

    def token_weights(self, features: Dict[str, tf.Tensor]):
        """(segment-offset ids [B, T], TF-IDF weight of each position [B, T]).

        A piece that occurs c times in a text gets c positions of weight idf / norm, so the
        positions of a text sum to its TF-IDF vector, L2-normalised over distinct pieces.
        """
        ids = segment_ids(tf.cast(features["input_ids"], tf.int32),
                          tf.cast(features["token_type_ids"], tf.int32), self.vocab_size)
        weights = tf.gather(self.idf, ids) * tf.cast(features["attention_mask"], tf.float32)
        same = tf.cast(ids[:, :, None] == ids[:, None, :], tf.float32)
        squared_norm = tf.einsum("bt,bts,bs->b", weights, same, weights)
        return ids, weights * tf.math.rsqrt(tf.maximum(squared_norm, 1e-12))[:, None]

    def token_vectors(self, features: Dict[str, tf.Tensor]) -> tf.Tensor:
        """[B, T, outputs]: each position's contribution to the logits."""
        ids, weights = self.token_weights(features)
        return weights[:, :, None] * tf.gather(self.kernel, ids)

    def call(self, features: Dict[str, tf.Tensor]) -> tf.Tensor:
        return tf.reduce_sum(self.token_vectors(features), axis=1) + self.bias


class TokenVectorEncoder(tf.Module):
    """Stands in for the ELECTRA encoder that `trainer.embedding.embed` runs: returns each
    position's vector as the hidden states."""

    def __init__(self, layer: TfIdfLinear):
        super().__init__(name="bag_of_words_encoder")
        self.layer = layer

    def __call__(self, input_ids, attention_mask, token_type_ids, training=False):
        return (self.layer.token_vectors({"input_ids": input_ids,
                                          "attention_mask": attention_mask,
                                          "token_type_ids": token_type_ids}),)


def build_model(idf: np.ndarray, num_outputs: int) -> tf_keras.Model:
    inputs = model_lib.sequence_inputs()
    layer = TfIdfLinear(idf, num_outputs, name="tfidf_linear")
    model = tf_keras.Model(inputs=inputs, outputs=layer(inputs), name="tfidf_baseline")
    return model_lib.attach_encoder(model, TokenVectorEncoder(layer))


def _numpy_features(ds: tf.data.Dataset):
    for features, _ in ds.as_numpy_iterator():
        yield features


def train(task, context, transform_output, train_files, eval_files):
    """Fits the baseline on Transform's training split; returns (model, Keras history)."""
    cfg = context.config
    num_outputs = task.num_outputs(transform_output)
    train_ds = data.make_dataset(train_files, task=task, batch_size=cfg.train.batch_size,
                                 boundaries=cfg.train.bucket_boundaries, shuffle=True,
                                 seed=cfg.train.seed)
    eval_ds = data.make_dataset(eval_files, task=task, batch_size=cfg.train.eval_batch_size,
                                boundaries=cfg.train.bucket_boundaries, shuffle=False)
    vocab = tokenization.load_vocab(f"{context.checkpoint_dir}/vocab.txt")
    df, n = document_frequencies(_numpy_features(train_ds), len(vocab))
    model = build_model(idf_weights(df, n, special_ids(vocab)), num_outputs)
    model.compile(optimizer=tf_keras.optimizers.Adam(cfg.eval.baseline_learning_rate),
                  loss=task.loss(), metrics=task.metrics())
    model_lib.trace_without_autograph(model)  # as the candidate's (trainer/model.py)
    progress, verbose = keras_progress.fit_options("Simple baseline (TF-IDF)", every_epoch=False)
    history = model.fit(train_ds, epochs=cfg.eval.baseline_epochs, validation_data=eval_ds,
                        callbacks=progress, verbose=verbose)
    return model, history.history
