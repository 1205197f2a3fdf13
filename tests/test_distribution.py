"""Training at scale on CPU: what TensorFlow lets us check without GPUs or TPUs.

MirroredStrategy over two logical CPU devices must train exactly like one device for the same
global batch; mixed_bfloat16 must train and export float32 serving outputs.
"""
import json
import os
import subprocess
import sys
import textwrap

import pytest

import pipeline_config
from tests import fixtures
from trainer import distribution

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture(scope="module")
def tiny_checkpoint(tmp_path_factory):
    """A 1-layer ELECTRA without dropout (so that two runs can be compared step by step)."""
    from trainer.checkpoint import build_scratch_checkpoint
    model = pipeline_config.ModelConfig(scratch_vocab_size=150, scratch_hidden_size=32,
                                        scratch_num_layers=1, scratch_num_heads=2,
                                        scratch_intermediate_size=64)
    path = build_scratch_checkpoint([t for t, _ in fixtures.sentiment_rows(80)],
                                    str(tmp_path_factory.mktemp("ckpt") / "tiny"), model)
    with open(os.path.join(path, "config.json")) as f:
        config = json.load(f)
    config.update(hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)
    with open(os.path.join(path, "config.json"), "w") as f:
        json.dump(config, f)
    return path


@pytest.mark.parametrize("field, value", [("strategy", "horovod"),
                                          ("mixed_precision", "float16")])
def test_unknown_settings_are_config_errors(field, value):
    train = pipeline_config.TrainConfig(**{field: value})
    with pytest.raises(pipeline_config.ConfigError, match=f"train.{field}={value}"):
        distribution.check_config(train)


def test_multi_worker_needs_tf_config(monkeypatch):
    monkeypatch.delenv("TF_CONFIG", raising=False)
    with pytest.raises(pipeline_config.ConfigError, match="TF_CONFIG"):
        distribution.create_strategy(pipeline_config.TrainConfig(strategy="multi-worker"))


@pytest.mark.parametrize("tf_config, chief", [
    (None, True),
    ({"cluster": {"worker": ["a:1", "b:1"]}, "task": {"type": "worker", "index": 0}}, True),
    ({"cluster": {"worker": ["a:1", "b:1"]}, "task": {"type": "worker", "index": 1}}, False),
    ({"cluster": {"chief": ["c:1"], "worker": ["a:1"]}, "task": {"type": "worker", "index": 0}},
     False),
    ({"cluster": {"chief": ["c:1"], "worker": ["a:1"]}, "task": {"type": "chief", "index": 0}},
     True),
])
def test_only_the_chief_exports(monkeypatch, tf_config, chief):
    if tf_config is None:
        monkeypatch.delenv("TF_CONFIG", raising=False)
    else:
        monkeypatch.setenv("TF_CONFIG", json.dumps(tf_config))
    assert distribution.is_chief() is chief


MIRRORED_SCRIPT = textwrap.dedent("""
    import json, sys
    import numpy as np
    import tensorflow as tf
    (cpu,) = tf.config.list_physical_devices("CPU")
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
    import pipeline_config
    from trainer import distribution, model as model_lib, optimization, tasks

    checkpoint = sys.argv[1]
    task = tasks.get_task("text-classification")
    rng = np.random.default_rng(0)
    n, length, global_batch = 32, 10, 8
    vocab_size = json.load(open(checkpoint + "/config.json"))["vocab_size"]
    ids = rng.integers(5, vocab_size, size=(n, length)).astype("int32")
    ids[:, 0], ids[:, -1] = 2, 3
    x = {"input_ids": ids, "attention_mask": np.ones_like(ids),
         "token_type_ids": np.zeros_like(ids)}
    y = (ids[:, 1] % 2).astype("int64")
    dataset = tf.data.Dataset.from_tensor_slices((x, y)).batch(global_batch)
    initial = model_lib.build_sequence_classifier(checkpoint, 2).get_weights()

    def train(strategy):
        cfg = pipeline_config.TrainConfig(strategy=strategy)
        def build():
            model = model_lib.build_sequence_classifier(checkpoint, 2)
            model.set_weights(initial)
            return model
        model = distribution.compile_model(
            cfg, build_model=build,
            build_optimizer=lambda: optimization.create_optimizer(
                learning_rate=1e-3, num_train_steps=8, warmup_ratio=0.25, weight_decay=0.01,
                layer_decay=0.8, num_layers=1, clip_norm=1.0),
            build_loss=task.loss, build_metrics=task.metrics)
        replicas = model.distribute_strategy.num_replicas_in_sync
        history = model.fit(dataset, epochs=2, verbose=0).history["loss"]
        return replicas, history, model.get_weights()

    one_replicas, one_loss, one_weights = train("one-device")
    two_replicas, two_loss, two_weights = train("mirrored")
    print(json.dumps({
        "replicas": [one_replicas, two_replicas], "loss": [one_loss, two_loss],
        "max_weight_change": max(float(np.max(np.abs(a - b))) for a, b in zip(one_weights, initial)),
        # How far apart the two runs ended, relative to how far training moved the weights (L2
        # over all weights). Not an element-wise maximum: Adam divides by sqrt(v), so a weight
        # whose gradient is ~0 can move by ~lr in either run on summation-order noise alone.
        "relative_weight_diff": float(np.sqrt(
            sum(np.sum((a - b) ** 2) for a, b in zip(one_weights, two_weights))
            / sum(np.sum((a - b) ** 2) for a, b in zip(one_weights, initial)))),
    }))
""")


@pytest.mark.slow  # a subprocess (logical devices are fixed at start) training twice: ~45 s CPU
def test_mirrored_over_two_cpus_equals_one_device(tiny_checkpoint):
    env = dict(os.environ, TF_USE_LEGACY_KERAS="1", TF_CPP_MIN_LOG_LEVEL="2",
               PYTHONPATH=REPO)
    proc = subprocess.run([sys.executable, "-c", MIRRORED_SCRIPT, tiny_checkpoint],
                          capture_output=True, text=True, timeout=600, env=env)
    assert proc.returncode == 0, proc.stderr[-4000:]
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result["replicas"] == [1, 2]
    one, two = result["loss"]
    assert two == pytest.approx(one, rel=1e-4)
    assert result["max_weight_change"] > 1e-4  # it trained
    assert result["relative_weight_diff"] < 0.05, result


def test_mixed_bfloat16_trains_and_serves_float32(tiny_checkpoint, tmp_path):
    import numpy as np
    import tensorflow as tf
    import tf_keras

    from tests import task_quality
    from trainer import model as model_lib
    from trainer import optimization, tasks
    from trainer.run_context import RunContext

    cfg = pipeline_config.PipelineConfig()
    cfg.model.max_seq_length = 16
    cfg.train.mixed_precision = "mixed_bfloat16"
    context = RunContext(config=cfg, checkpoint_dir=tiny_checkpoint, lower_case=True)
    task = tasks.get_task(cfg.task)
    rows = fixtures.sentiment_rows(32, seed=5)
    transform_output = task_quality.analyze(
        task, context, [{"text": t, "label": y} for t, y in rows],
        {"text": tf.io.FixedLenFeature([], tf.string), "label": tf.io.FixedLenFeature([], tf.string)},
        str(tmp_path))
    vocabulary = task_quality.label_vocabulary(transform_output)
    x = task_quality.features(task, context, {"text": [t for t, _ in rows]})
    y = task_quality.targets(label_ids=[vocabulary.index(label) for _, label in rows])

    model = distribution.compile_model(
        cfg.train, build_model=lambda: task.build_model(context, transform_output),
        build_optimizer=lambda: optimization.create_optimizer(
            learning_rate=1e-3, num_train_steps=4, warmup_ratio=0.25, weight_decay=0.01,
            layer_decay=1.0, num_layers=1, clip_norm=1.0),
        build_loss=task.loss, build_metrics=task.metrics)
    # The encoder computes in bfloat16 with float32 variables; the outputs are float32.
    encoder = model_lib.encoder_of(model)
    assert encoder.compute_dtype == "bfloat16" and encoder.variable_dtype == "float32"
    assert tf_keras.mixed_precision.global_policy().name == "float32"  # restored
    assert model.outputs[0].dtype == tf.float32
    before = [w.copy() for w in model.get_weights()]
    history = model.fit(x, y, batch_size=8, epochs=1, verbose=0).history
    assert np.isfinite(history["loss"][0])
    assert max(float(np.max(np.abs(a - b))) for a, b in zip(before, model.get_weights())) > 0

    # The Trainer exports a float32 copy holding the same (float32) weights.
    serving = distribution.float32_serving_model(
        model, lambda: task.build_model(context, transform_output))
    assert serving is not model and distribution.computes_in_float32(serving)
    assert not distribution.computes_in_float32(model)
    for trained, copied in zip(model.get_weights(), serving.get_weights()):
        np.testing.assert_array_equal(trained, copied)
    mixed_out = model(x, training=False).numpy()
    float32_out = serving(x, training=False).numpy()
    assert 0 < np.max(np.abs(mixed_out - float32_out)) < 0.1  # bfloat16 rounding only
    def serve_text_dtypes(saved_model_dir):
        graph = tf.saved_model.load(saved_model_dir).signatures["serve_text"].graph.as_graph_def()
        nodes = list(graph.node) + [n for f in graph.library.function for n in f.node_def]
        return {attr.type for node in nodes for attr in node.attr.values() if attr.type}

    mixed_saved = task_quality.export_serving_model(task, context, model, transform_output,
                                                    tmp_path / "mixed")
    assert tf.bfloat16.as_datatype_enum in serve_text_dtypes(mixed_saved)  # the check sees it
    saved = task_quality.export_serving_model(task, context, serving, transform_output, tmp_path)
    assert tf.bfloat16.as_datatype_enum not in serve_text_dtypes(saved)
    loaded = tf.saved_model.load(saved)
    outputs = loaded.signatures["serve_text"].structured_outputs
    assert outputs["probabilities"].dtype == tf.float32
    served = loaded.signatures["serve_text"](text=tf.constant([rows[0][0], rows[1][0]]))
    assert served["probabilities"].dtype == tf.float32
    np.testing.assert_allclose(served["probabilities"].numpy().sum(axis=1), 1.0, atol=1e-5)
    embedding = loaded.signatures.get("serve_embedding")
    if embedding is not None:
        assert all(v.dtype == tf.float32 for v in embedding.structured_outputs.values()
                   if v.dtype.is_floating)


def test_float16_gets_dynamic_loss_scaling_and_bfloat16_none():
    import tf_keras

    from trainer import optimization

    def optimizer():
        return optimization.create_optimizer(learning_rate=1e-3, num_train_steps=4,
                                             warmup_ratio=0.25, weight_decay=0.01,
                                             layer_decay=0.8, num_layers=1, clip_norm=1.0)
    scaled = distribution.wrap_optimizer(optimizer(), "mixed_float16")
    assert isinstance(scaled, tf_keras.mixed_precision.LossScaleOptimizer) and scaled.dynamic
    assert isinstance(scaled.inner_optimizer, optimization.LayerwiseAdamW)
    for policy in ("none", "mixed_bfloat16"):
        assert isinstance(distribution.wrap_optimizer(optimizer(), policy),
                          optimization.LayerwiseAdamW)


@pytest.mark.parametrize("flags, onednn, expected", [
    ({"avx2", "amx_bf16", "amx_tile"}, True, "mixed_bfloat16"),
    ({"avx512f", "avx512_bf16"}, True, "mixed_bfloat16"),
    ({"avx512f", "avx512_bf16"}, False, "none"),   # bfloat16 without oneDNN is slower
    ({"avx2", "fma"}, True, "none"),
    (set(), True, "none"),                          # no /proc/cpuinfo
])
def test_auto_precision_follows_the_cpu(monkeypatch, flags, onednn, expected):
    import tensorflow as tf
    monkeypatch.setattr(tf.config, "list_physical_devices", lambda kind=None: [])
    monkeypatch.setattr(distribution, "cpu_flags", lambda: flags)
    monkeypatch.setattr(distribution, "onednn_enabled", lambda: onednn)
    policy, reason = distribution.resolve_mixed_precision("auto")
    assert policy == expected and reason.startswith("auto")


@pytest.mark.parametrize("capability, expected", [((9, 0), "mixed_bfloat16"),
                                                  ((8, 0), "mixed_bfloat16"),
                                                  ((7, 5), "mixed_float16"),
                                                  ((6, 1), "none")])
def test_auto_precision_follows_the_gpu(monkeypatch, capability, expected):
    import tensorflow as tf
    gpu = tf.config.PhysicalDevice(name="/physical_device:GPU:0", device_type="GPU")
    monkeypatch.setattr(tf.config, "list_physical_devices",
                        lambda kind=None: [gpu] if kind == "GPU" else [])
    monkeypatch.setattr(tf.config.experimental, "get_device_details",
                        lambda device: {"compute_capability": capability})
    assert distribution.resolve_mixed_precision("auto")[0] == expected


def test_auto_precision_keeps_small_encoders_in_float32(monkeypatch):
    import tensorflow as tf
    monkeypatch.setattr(tf.config, "list_physical_devices", lambda kind=None: [])
    monkeypatch.setattr(distribution, "cpu_flags", lambda: {"amx_bf16"})
    monkeypatch.setattr(distribution, "onednn_enabled", lambda: True)
    assert distribution.resolve_mixed_precision("auto", hidden_size=32)[0] == "none"
    assert distribution.resolve_mixed_precision("auto", hidden_size=128)[0] == "none"
    assert distribution.resolve_mixed_precision("auto", hidden_size=256)[0] == "mixed_bfloat16"
    assert distribution.resolve_mixed_precision("auto", hidden_size=384)[0] == "mixed_bfloat16"
    # An explicit setting wins whatever the size.
    assert distribution.resolve_mixed_precision("mixed_bfloat16", hidden_size=32)[0] == \
        "mixed_bfloat16"


def test_explicit_precision_and_tpu_are_kept():
    assert distribution.resolve_mixed_precision("none") == ("none", "set in the configuration")
    assert distribution.resolve_mixed_precision("mixed_float16")[0] == "mixed_float16"
    assert distribution.resolve_mixed_precision("auto", "tpu")[0] == "mixed_bfloat16"


def test_cpu_flags_are_read_from_cpuinfo(tmp_path):
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text("processor\t: 0\nflags\t\t: fpu avx2 amx_bf16\n\nprocessor\t: 1\n")
    assert distribution.cpu_flags(str(cpuinfo)) == {"fpu", "avx2", "amx_bf16"}
    assert distribution.cpu_flags(str(tmp_path / "missing")) == set()
