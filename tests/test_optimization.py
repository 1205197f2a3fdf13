"""ELECTRA's fine-tuning optimizer (trainer/optimization.py) on a tiny HF TF ELECTRA."""
import json
import re

import numpy as np
import pytest
import tensorflow as tf
import tf_keras
from transformers import ElectraConfig, TFElectraForSequenceClassification

from trainer.optimization import (
    LayerwiseAdamW,
    create_optimizer,
    layer_depth,
    layer_lr_multipliers,
    linear_warmup_decay,
)

NUM_LAYERS = 3
BETA_2 = 0.999
EPSILON = 1e-6


def _tiny_model():
    tf_keras.utils.set_random_seed(0)
    config = ElectraConfig(
        vocab_size=100,
        hidden_size=32,
        num_hidden_layers=NUM_LAYERS,
        num_attention_heads=2,
        intermediate_size=37,
        embedding_size=16,
    )
    model = TFElectraForSequenceClassification(config)
    model(tf.constant([[1, 2, 3, 4]]))
    return model


def _short(variable):
    """The name without the model's own scope, e.g. 'classifier/dense/kernel:0'."""
    return variable.name.split("/", 1)[1]


@pytest.fixture(scope="module")
def model_variable_names():
    return [v.name for v in _tiny_model().trainable_variables]


def test_layer_depths_and_multipliers_on_real_variable_names(model_variable_names):
    class Var:
        def __init__(self, name):
            self.name = name

    multipliers = layer_lr_multipliers([Var(n) for n in model_variable_names], NUM_LAYERS, 0.8)
    assert set(multipliers) == set(model_variable_names)  # every variable assigned

    def expected(name):
        if "/electra/embeddings/" in name or "/electra/embeddings_project/" in name:
            return 0.8**5
        match = re.search(r"/encoder/layer_\._(\d)/", name)
        if match:
            return 0.8 ** (4 - int(match.group(1)))
        assert "/classifier/" in name, name
        return 1.0

    for name, multiplier in multipliers.items():
        assert multiplier == pytest.approx(expected(name)), name
    by_depth = {layer_depth(n, NUM_LAYERS) for n in model_variable_names}
    assert by_depth == {0, 1, 2, 3, 5}
    prefix = model_variable_names[0].split("/", 1)[0]
    assert multipliers[f"{prefix}/electra/embeddings_project/kernel:0"] == pytest.approx(0.8**5)
    assert multipliers[f"{prefix}/electra/embeddings/word_embeddings/weight:0"] == pytest.approx(0.8**5)
    assert multipliers[f"{prefix}/electra/encoder/layer_._0/output/dense/kernel:0"] == pytest.approx(0.8**4)
    assert multipliers[f"{prefix}/electra/encoder/layer_._2/output/dense/kernel:0"] == pytest.approx(0.8**2)
    assert multipliers[f"{prefix}/classifier/out_proj/kernel:0"] == 1.0
    # ELECTRA's TF1 checkpoint naming works too.
    assert layer_depth("electra/encoder/layer_1/ffn/kernel:0", NUM_LAYERS) == 2


def test_unknown_encoder_variables_raise():
    with pytest.raises(ValueError, match="num_layers=3"):
        layer_depth("m/electra/encoder/layer_._3/output/dense/kernel:0", NUM_LAYERS)
    with pytest.raises(ValueError, match="neither"):
        layer_depth("m/electra/pooler/dense/kernel:0", NUM_LAYERS)


def test_one_compiled_step_is_layerwise_adamw_with_decay_and_clipping():
    model = _tiny_model()
    variables = model.trainable_variables
    lr, wd = 0.05, 0.1
    # No warm-up, so the first update uses the peak rate.
    opt = create_optimizer(
        learning_rate=lr, num_train_steps=10, warmup_ratio=0.0, weight_decay=wd, num_layers=NUM_LAYERS
    )
    assert opt.global_clipnorm == 1.0
    zero_grad = {
        "electra/embeddings/LayerNorm/gamma:0",
        "electra/encoder/layer_._1/output/dense/bias:0",
        "electra/encoder/layer_._1/output/dense/kernel:0",
        "classifier/out_proj/kernel:0",
    }
    sparse = "electra/embeddings/word_embeddings/weight:0"
    rng = np.random.default_rng(0)
    grads, dense_grads = [], []
    for v in variables:
        shape = v.shape.as_list()
        if _short(v) in zero_grad:
            g = np.zeros(shape, np.float32)
            grads.append(tf.constant(g))
        elif _short(v) == sparse:  # an embedding lookup's gradient
            values = rng.choice([-1.0, 1.0], (2, shape[1])).astype(np.float32)
            grads.append(tf.IndexedSlices(tf.constant(values), tf.constant([3, 7]), tf.constant(shape)))
            g = np.zeros(shape, np.float32)
            g[[3, 7]] = values
        else:
            g = (rng.choice([-1.0, 1.0], shape) * rng.uniform(0.5, 2.0, shape)).astype(np.float32)
            grads.append(tf.constant(g))
        dense_grads.append(g)
    global_norm = np.sqrt(sum(float(np.sum(g.astype(np.float64) ** 2)) for g in dense_grads))
    assert global_norm > 100  # so clipping to 1.0 matters
    before = [v.numpy() for v in variables]

    @tf.function(jit_compile=True)
    def apply(grads):
        opt.apply_gradients(zip(grads, variables))

    apply(grads)

    lr_t = lr  # schedule(0) with no warm-up
    expected_multipliers = layer_lr_multipliers(variables, NUM_LAYERS, 0.8)
    for v, g, old in zip(variables, dense_grads, before):
        name = _short(v)
        mult = expected_multipliers[v.name]
        assert opt.lr_multiplier(v) == mult
        delta = v.numpy() - old
        decays = not re.search("LayerNorm|layer_norm|bias", name)
        # Bias-corrected Adam's first step: lr_v * g / (|g| + eps / sqrt(1 - beta_2)).
        gc = g / global_norm
        adam = lr_t * mult * np.sqrt(1 - BETA_2) * gc / (np.sqrt(1 - BETA_2) * np.abs(gc) + EPSILON)
        decay = lr_t * mult * wd * old if decays else 0.0
        np.testing.assert_allclose(delta, -adam - decay, rtol=2e-3, atol=1e-8, err_msg=name)
        if not decays and name not in zero_grad:
            # SGD-like: every element moves by lr_t * multiplier (up to epsilon).
            np.testing.assert_allclose(np.abs(delta), lr_t * mult, rtol=0.05, err_msg=name)
    short = {_short(v): (v, old) for v, old in zip(variables, before)}
    for name in ("electra/embeddings/LayerNorm/gamma:0", "electra/encoder/layer_._1/output/dense/bias:0"):
        np.testing.assert_array_equal(short[name][0].numpy(), short[name][1], err_msg=name)
    for name, mult in (
        ("electra/encoder/layer_._1/output/dense/kernel:0", 0.8**3),
        ("classifier/out_proj/kernel:0", 1.0),
    ):
        var, old = short[name]
        np.testing.assert_allclose(var.numpy(), old * (1 - lr_t * mult * wd), rtol=1e-6, err_msg=name)
    # Untouched embedding rows only decay; touched rows also take an Adam step.
    word, old = short[sparse]
    np.testing.assert_allclose(word.numpy()[0], old[0] * (1 - lr_t * 0.8**5 * wd), rtol=1e-6)
    assert np.all(np.abs(word.numpy()[3] - old[3] * (1 - lr_t * 0.8**5 * wd)) > 0.9 * lr_t * 0.8**5)
    # Clipping: the second moments hold (1 - beta_2) * g_clipped**2, whose sum is 1.0**2.
    v_sum = sum(float(tf.reduce_sum(v)) for v in opt._velocities)
    assert v_sum / (1 - BETA_2) == pytest.approx(1.0, rel=1e-4)


def test_schedule_warmup_peak_and_linear_decay():
    from transformers.optimization_tf import WarmUp

    schedule = linear_warmup_decay(2.0, num_train_steps=100, warmup_steps=10)
    values = {s: float(schedule(s)) for s in (0, 1, 5, 10, 55, 99, 100, 150)}
    assert values == pytest.approx(
        {0: 0.0, 1: 0.2, 5: 1.0, 10: 2.0, 55: 1.0, 99: 2.0 / 90, 100: 0.0, 150: 0.0}, abs=1e-6
    )
    # Same convention as transformers' create_optimizer (WarmUp + PolynomialDecay).
    hf = WarmUp(2.0, tf_keras.optimizers.schedules.PolynomialDecay(2.0, 90, 0.0), 10)
    steps = tf.range(101)
    np.testing.assert_allclose(schedule(steps), [float(hf(s)) for s in range(101)], atol=1e-6)
    assert float(linear_warmup_decay(1.0, 10, 0)(0)) == 1.0  # no warm-up

    opt = create_optimizer(learning_rate=3e-4, num_train_steps=100, num_layers=NUM_LAYERS)
    config = json.loads(json.dumps(opt.get_config()))
    restored = tf_keras.optimizers.schedules.deserialize(config["learning_rate"])
    assert restored.warmup_steps == 10
    assert float(restored(0)) == 0.0 and float(restored(10)) == pytest.approx(3e-4)
    assert float(restored(100)) == 0.0


def test_optimizer_config_round_trip():
    opt = create_optimizer(learning_rate=1e-4, num_train_steps=50, num_layers=12, layer_decay=0.9)
    clone = tf_keras.optimizers.deserialize(
        json.loads(json.dumps(tf_keras.optimizers.serialize(opt))), use_legacy_optimizer=False
    )
    assert isinstance(clone, LayerwiseAdamW)
    assert (clone.num_layers, clone.layer_decay, clone.weight_decay) == (12, 0.9, 0.01)
    assert (clone.beta_1, clone.beta_2, clone.epsilon, clone.global_clipnorm) == (0.9, 0.999, 1e-6, 1.0)
    assert clone.get_config() == opt.get_config()


def test_compiled_fit_reduces_loss_and_saves(tmp_path):
    model = _tiny_model()
    rng = np.random.default_rng(1)
    ids = rng.integers(5, 100, (16, 8)).astype(np.int32)
    labels = (ids[:, 0] >= 52).astype(np.int32)
    opt = create_optimizer(learning_rate=1e-2, num_train_steps=16, num_layers=NUM_LAYERS)
    # Building before fit spares a second trace of the train step (a traced
    # function that creates variables is traced again); the lazy build inside
    # a compiled function is covered by the one-step test above.
    opt.build(model.trainable_variables)
    model.compile(optimizer=opt, jit_compile=True)  # transformers' built-in loss

    def loss():
        logits = model(ids, training=False).logits
        return float(tf_keras.losses.sparse_categorical_crossentropy(labels, logits, from_logits=True).numpy().mean())

    initial = loss()
    model.fit(ids, labels, batch_size=8, epochs=8, verbose=0)
    assert int(opt.iterations) == 16
    assert loss() < initial - 0.1
    word = next(v for v in model.trainable_variables if "word_embeddings" in v.name)
    assert opt.lr_multiplier(word) == pytest.approx(0.8**5)

    # save_traces=False skips re-tracing every HF layer (~20 s, nothing to do
    # with the optimizer); the optimizer's config and slots are saved either way.
    path = tmp_path / "saved"
    model.save(str(path), save_format="tf", save_traces=False)
    assert (path / "saved_model.pb").exists()
    slots = [name for name, _ in tf.train.list_variables(str(path / "variables" / "variables"))]
    # Adam's m and v for every trainable variable are in the checkpoint.
    assert sum(n.startswith("optimizer/_variables/") for n in slots) >= 2 * len(model.trainable_variables)
    metadata = (path / "keras_metadata.pb").read_bytes()
    start = metadata.index(b'{"class_name": "electra_tfx>LayerwiseAdamW"')
    optimizer_config = json.JSONDecoder().raw_decode(metadata[start:].decode("utf-8", "ignore"))[0]
    restored = tf_keras.optimizers.deserialize(optimizer_config, use_legacy_optimizer=False)
    assert isinstance(restored, LayerwiseAdamW) and restored.num_layers == NUM_LAYERS


def _steps_of(opt, variables, grads_per_step):
    @tf.function
    def apply(grads):
        opt.apply_gradients(zip(grads, variables))

    for grads in grads_per_step:
        apply(grads)
    return [v.numpy() for v in variables], apply


def test_fused_adam_kernel_equals_the_elementwise_update(monkeypatch):
    """The fused ResourceApplyAdam path and the element-wise formula give the same weights
    over several steps, incl. a sparse embedding gradient with a repeated index."""
    rng = np.random.default_rng(1)
    model = _tiny_model()
    variables = model.trainable_variables
    initial = [v.numpy() for v in variables]
    steps = []
    for _ in range(4):
        grads = []
        for v in variables:
            shape = v.shape.as_list()
            if _short(v) == "electra/embeddings/word_embeddings/weight:0":
                values = rng.normal(size=(3, shape[1])).astype(np.float32)
                grads.append(tf.IndexedSlices(tf.constant(values), tf.constant([5, 9, 5]),
                                              tf.constant(shape)))
            else:
                grads.append(tf.constant(rng.normal(size=shape).astype(np.float32)))
        steps.append(grads)

    def run(fused):
        for v, value in zip(variables, initial):
            v.assign(value)
        if not fused:
            monkeypatch.setattr("trainer.optimization._resource_handle", lambda v: None)
        opt = create_optimizer(learning_rate=0.01, num_train_steps=8, warmup_ratio=0.25,
                               weight_decay=0.1, num_layers=NUM_LAYERS)
        weights, apply = _steps_of(opt, variables, steps)
        monkeypatch.undo()
        graph_ops = {op.type for op in apply.get_concrete_function(steps[0]).graph.get_operations()}
        return weights, graph_ops

    fused, fused_ops = run(True)
    reference, reference_ops = run(False)
    assert "ResourceApplyAdam" in fused_ops and "ResourceApplyAdam" not in reference_ops
    for v, a, b, old in zip(variables, fused, reference, initial):
        assert not np.array_equal(a, old), _short(v)
        # Steps are ~1e-2; rounding differs in the last bits (different op order).
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6, err_msg=_short(v))


def test_fused_adam_updates_mixed_precision_variables_in_place():
    """Under mixed_bfloat16 Keras wraps variables in AutoCastVariables; the fused kernel
    must still reach the float32 variable underneath."""
    previous = tf_keras.mixed_precision.global_policy()
    tf_keras.mixed_precision.set_global_policy("mixed_bfloat16")
    try:
        model = _tiny_model()
    finally:
        tf_keras.mixed_precision.set_global_policy(previous)
    variables = model.trainable_variables
    assert type(variables[0]).__name__ == "AutoCastVariable"
    opt = create_optimizer(learning_rate=0.01, num_train_steps=4, warmup_ratio=0.0,
                           num_layers=NUM_LAYERS)
    before = [v.numpy() for v in variables]
    grads = [tf.ones_like(tf.convert_to_tensor(v)) for v in variables]
    _, apply = _steps_of(opt, variables, [grads])
    graph_ops = [op.type for op in apply.get_concrete_function(grads).graph.get_operations()]
    assert graph_ops.count("ResourceApplyAdam") == len(variables)
    for v, old in zip(variables, before):
        assert v.dtype == tf.float32
        # Adam's first step with a constant gradient moves every element by ~lr * multiplier.
        assert np.all(v.numpy() < old), _short(v)
