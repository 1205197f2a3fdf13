"""Sentence embeddings from any task's model, and the `serve_embedding` signature.

API (for task authors):

    from trainer import embedding
    vectors = embedding.embed(model, features)        # float32 [batch, hidden], in graph
    signatures["serve_embedding"] = embedding.serve_embedding_signature(model, context)

* ``model`` is a Keras model from trainer/model.py whose ELECTRA encoder (a HF
  ``TFElectraMainLayer``) was recorded with ``model_lib.attach_encoder(model, electra.electra)``
  (``build_sequence_classifier`` and ``build_encoder`` do it).
* ``features`` are dense int32 ``input_ids``, ``attention_mask`` and ``token_type_ids``
  [batch, length] (e.g. ``model_lib.dense_sequence_features(transformed)``).
* The embedding is the mean of the last hidden states over the attention mask (padding never
  counts), L2-normalised, so a dot product is the cosine similarity.
* ``serve_embedding_signature`` tokenizes raw text in graph with the checkpoint's vocabulary
  (``[CLS] text [SEP]``, truncated to ``model.max_seq_length``) and returns the concrete function
  of signature ``serve_embedding``: input ``text`` string [-1], output ``embedding`` float32
  [-1, hidden].  It attaches its tokenizer to ``model`` so the SavedModel tracks its table,
  and takes the encoder's states from the model's own trace (``model_lib.forward_on_ids``),
  which the task's other signatures call too: an export traces and stores the encoder once.
"""
from typing import Dict

import tensorflow as tf

from trainer import model as model_lib
from trainer import tokenization

SIGNATURE_NAME = "serve_embedding"
INPUT_NAME = "text"
OUTPUT_NAME = "embedding"


def mean_pool(hidden: tf.Tensor, attention_mask: tf.Tensor) -> tf.Tensor:
    """L2-normalised mean of hidden [B, T, H] over the positions where attention_mask is 1."""
    mask = tf.cast(attention_mask, hidden.dtype)[:, :, None]
    summed = tf.reduce_sum(hidden * mask, axis=1)
    count = tf.maximum(tf.reduce_sum(mask, axis=1), 1.0)
    return tf.math.l2_normalize(tf.cast(summed / count, tf.float32), axis=-1)


def embed(model, features: Dict[str, tf.Tensor], training: bool = False) -> tf.Tensor:
    """float32 [batch, hidden]: the model's encoder, mean-pooled and L2-normalised."""
    encoder = model_lib.encoder_of(model)
    outputs = encoder(input_ids=features["input_ids"],
                      attention_mask=features["attention_mask"],
                      token_type_ids=features["token_type_ids"], training=training)
    return mean_pool(outputs[0], features["attention_mask"])


def text_encoder(context) -> tokenization.WordPieceEncoder:
    """The in-graph tokenizer of the run's checkpoint."""
    return tokenization.WordPieceEncoder(
        tokenization.load_vocab(f"{context.checkpoint_dir}/vocab.txt"), context.lower_case)


def serve_embedding_signature(model, context) -> tf.types.experimental.ConcreteFunction:
    """The `serve_embedding` signature: raw `text` in, `embedding` out (see module docstring)."""
    model.embedding_tokenizer = text_encoder(context)
    max_seq_length = int(context.config.model.max_seq_length or 128)

    # The model's own trace (trainer/model.py, forward_on_ids), which the other signatures
    # call too: the encoder is traced and stored once per export.
    forward = model_lib.forward_on_ids(model)

    @model_lib.serving_function(input_signature=[tf.TensorSpec([None], tf.string, name=INPUT_NAME)])
    def serve_embedding(text):
        encoded = model.embedding_tokenizer.encode(text, max_seq_length)
        features = {name: tf.cast(value.to_tensor(0), tf.int32) for name, value in encoded.items()}
        if model_lib.LAST_HIDDEN_STATE not in forward.structured_outputs:
            return {OUTPUT_NAME: embed(model, features)}  # an encoder the model does not run
        hidden = forward(features)[model_lib.LAST_HIDDEN_STATE]
        return {OUTPUT_NAME: mean_pool(hidden, features["attention_mask"])}

    return serve_embedding.get_concrete_function()
