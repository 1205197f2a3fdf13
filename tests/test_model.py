"""The classifier model around TFElectra: dynamic shapes, logits, XLA-compiled training."""
import numpy as np
import pytest
import tensorflow as tf
import tf_keras

import pipeline_config
from tests import fixtures
from trainer import model as model_lib
from trainer import optimization


@pytest.fixture(scope="module")
def tiny_checkpoint(tmp_path_factory):
    from trainer.checkpoint import build_scratch_checkpoint
    config = pipeline_config.ModelConfig(scratch_vocab_size=200, scratch_hidden_size=16,
                                         scratch_num_layers=2, scratch_num_heads=2,
                                         scratch_intermediate_size=32)
    texts = [t for t, _ in fixtures.sentiment_rows(100)]
    return build_scratch_checkpoint(texts, str(tmp_path_factory.mktemp("m") / "ckpt"), config)


def _batch(batch, length, seed=0):
    rng = np.random.default_rng(seed)
    ids = rng.integers(5, 60, (batch, length)).astype("int32")
    return {"input_ids": ids, "attention_mask": np.ones_like(ids), "token_type_ids": np.zeros_like(ids)}


def test_classifier_accepts_any_batch_length(tiny_checkpoint):
    model = model_lib.build_sequence_classifier(tiny_checkpoint, num_labels=3)
    assert model_lib.num_hidden_layers(tiny_checkpoint) == 2
    for length in (5, 17, 40):
        logits = model(_batch(4, length), training=False)
        assert logits.shape == (4, 3)
    # Padding positions (mask 0) do not change the prediction of the real tokens.
    short = _batch(2, 6, seed=1)
    padded = {k: np.pad(v, ((0, 0), (0, 4))) for k, v in short.items()}
    np.testing.assert_allclose(model(short, training=False), model(padded, training=False),
                               atol=1e-5)


def test_xla_compiled_training_runs_and_loss_falls(tiny_checkpoint):
    tf_keras.utils.set_random_seed(0)
    model = model_lib.build_sequence_classifier(tiny_checkpoint, num_labels=2)
    # Label = whether token 7 occurs; lengths vary per batch as with dynamic padding.
    batches = []
    rng = np.random.default_rng(0)
    for step in range(60):
        features = _batch(16, int(rng.integers(6, 14)), seed=step)
        labels = rng.integers(0, 2, 16)
        features["input_ids"][labels == 1, 2] = 7
        features["input_ids"][labels == 0] = np.where(features["input_ids"][labels == 0] == 7, 8,
                                                      features["input_ids"][labels == 0])
        batches.append((features, labels))
    ds = tf.data.Dataset.from_generator(
        lambda: iter(batches),
        output_signature=({k: tf.TensorSpec([None, None], tf.int32) for k in batches[0][0]},
                          tf.TensorSpec([None], tf.int64)))
    optimizer = optimization.create_optimizer(learning_rate=1e-2, num_train_steps=240,
                                              num_layers=2, layer_decay=0.8)
    model.compile(optimizer=optimizer, jit_compile=True,
                  loss=tf_keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                  metrics=[tf_keras.metrics.SparseCategoricalAccuracy(name="accuracy")])
    history = model.fit(ds, epochs=4, verbose=0)
    losses = history.history["loss"]
    assert all(np.isfinite(losses)) and losses[-1] < losses[0] - 0.003, losses
    # The step really was compiled with XLA (a traced, jit-compiled train function).
    assert model.train_function is not None and model._jit_compile is True
