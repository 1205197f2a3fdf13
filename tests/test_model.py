"""The classifier model around TFElectra: dynamic shapes, logits, XLA-compiled training."""
import numpy as np
import pytest
import tensorflow as tf
import tf_keras

import pipeline_config
from tests import fixtures
from trainer import embedding
from trainer import model as model_lib
from trainer import optimization
from trainer.run_context import RunContext


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
        # Two bucket lengths, as dynamic padding with buckets gives (each is one XLA compile).
        features = _batch(16, int(rng.choice([8, 12])), seed=step)
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


def test_steps_traced_without_autograph_train_identically(tiny_checkpoint, monkeypatch):
    """trace_without_autograph: the same losses and weights as Keras' AutoGraph-traced steps,
    and AutoGraph really converts nothing while the steps trace (the start-up saving)."""
    from tensorflow.python.autograph.impl import api as autograph_api

    rng = np.random.default_rng(3)
    batches = [(_batch(8, int(rng.integers(5, 12)), seed=s), rng.integers(0, 2, 8))
               for s in range(6)]

    def train(without_autograph: bool):
        tf_keras.backend.clear_session()
        tf_keras.utils.set_random_seed(0)
        model = model_lib.build_sequence_classifier(tiny_checkpoint, num_labels=2)
        model.compile(optimizer=optimization.create_optimizer(
                          learning_rate=1e-3, num_train_steps=12, num_layers=2, layer_decay=0.8),
                      loss=tf_keras.losses.SparseCategoricalCrossentropy(from_logits=True))
        if without_autograph:
            model_lib.trace_without_autograph(model)
        conversions = []
        original = autograph_api._convert_actual
        monkeypatch.setattr(autograph_api, "_convert_actual",
                            lambda *a, **k: conversions.append(a[0]) or original(*a, **k))
        losses = [model.train_on_batch(x, y) for x, y in batches]
        evaluated = model.evaluate(*batches[0], verbose=0)
        monkeypatch.undo()
        return losses, evaluated, [w.numpy() for w in model.trainable_weights], conversions

    plain = train(False)
    fast = train(True)
    np.testing.assert_allclose(fast[0], plain[0], rtol=1e-5)
    np.testing.assert_allclose(fast[1], plain[1], rtol=1e-5)
    for a, b in zip(fast[2], plain[2]):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6)
    def heavy(conversions):  # the model's layers, the optimizer, the project's losses
        modules = [getattr(f, "__module__", "") or "" for f in conversions]
        prefixes = ("transformers", "trainer", "tf_keras.src.optimizers", "tf_keras.src.layers",
                    "tf_keras.src.engine.functional")
        return [m for m in modules if m.startswith(prefixes)]

    assert heavy(plain[3]), "Keras' default tracing no longer converts the model: helper moot"
    assert not heavy(fast[3]), f"AutoGraph still converted: {sorted(set(heavy(fast[3])))}"
    assert len(fast[3]) * 4 < len(plain[3]), (len(fast[3]), len(plain[3]))


def test_an_export_traces_the_model_once_and_serves_what_keras_computes(tiny_checkpoint,
                                                                         tmp_path):
    """call_on_ids is one concrete function: signatures that call it, `serve_embedding` (the
    encoder's states from the same trace) and the save itself add no trace of the model (a
    tf.function attribute was traced again by the save), and the loaded call_on_ids and
    signature answer as the Keras model does."""
    model = model_lib.build_sequence_classifier(tiny_checkpoint, num_labels=2)
    encoder = model_lib.encoder_of(model)
    traces = []
    original = encoder.call
    encoder.call = lambda *a, **k: traces.append(1) or original(*a, **k)
    call = model_lib.call_on_ids(model)
    spec = [tf.TensorSpec([None, None], tf.int32, name="ids")]
    serve = tf.function(lambda ids: {"logits": call({"input_ids": ids,
                                                     "attention_mask": tf.ones_like(ids),
                                                     "token_type_ids": tf.zeros_like(ids)})},
                        input_signature=spec, autograph=False)
    context = RunContext(pipeline_config.PipelineConfig(), str(tiny_checkpoint), True)
    model.save(str(tmp_path / "model"), save_format="tf", save_traces=False,
               signatures={"ids": serve.get_concrete_function(),
                           embedding.SIGNATURE_NAME: embedding.serve_embedding_signature(
                               model, context)})
    assert len(traces) == 1, f"the model was traced {len(traces)} times"
    batch = _batch(3, 7, seed=2)
    expected = model(batch, training=False).numpy()
    loaded = tf.saved_model.load(str(tmp_path / "model"))
    np.testing.assert_allclose(loaded.call_on_ids({k: tf.constant(v) for k, v in batch.items()}),
                               expected, atol=1e-5)
    np.testing.assert_allclose(
        loaded.signatures["ids"](ids=tf.constant(batch["input_ids"]))["logits"], expected,
        atol=1e-5)
    texts = tf.constant(["a short one", "and a somewhat longer text than that"])
    encoded = embedding.text_encoder(context).encode(texts, 128)
    features = {k: tf.cast(v.to_tensor(0), tf.int32) for k, v in encoded.items()}
    np.testing.assert_allclose(
        loaded.signatures[embedding.SIGNATURE_NAME](text=texts)[embedding.OUTPUT_NAME],
        embedding.embed(model, features), atol=1e-5)
