"""Training at scale by configuration: distribution strategy, mixed precision, GPU memory.

    --set train.strategy=mirrored            one-device | mirrored | multi-worker | tpu
    --set train.mixed_precision=mixed_float16   none | mixed_float16 | mixed_bfloat16
    --set train.use_xla=true                 (jit_compile, in trainer/run.py)
    --set train.gpu_memory_growth=false      (default true: allocate GPU memory as needed)

`train.batch_size` is the *global* batch: a strategy splits each batch across its replicas,
so a run gives the same updates on one device and on N (tests/test_distribution.py).

- one-device: TensorFlow's default strategy (what a run did before this module existed).
- mirrored: every local GPU (or the CPU) holds a replica; gradients are all-reduced.
- multi-worker: MultiWorkerMirroredStrategy over the machines that TF_CONFIG names (set by
  the training service, e.g. Vertex AI training); only the chief exports the model.
- tpu: TPUStrategy on the TPU named by `train.tpu` (empty: the one the environment names).

Mixed precision uses Keras' policies. Under mixed_float16 the optimizer is wrapped in
tf_keras.mixed_precision.LossScaleOptimizer (dynamic loss scaling keeps small float16
gradients from flushing to zero); bfloat16 has float32's range and needs none. Either way the
model's outputs are cast back to float32, so losses, metrics and the serving signatures
(probabilities, scores, embeddings) stay float32.
"""
import contextlib
import json
import logging
import os
from typing import Any, Callable, Iterator

import tensorflow as tf
import tf_keras

import pipeline_config

STRATEGIES = ("one-device", "mirrored", "multi-worker", "tpu")
MIXED_PRECISION = ("none", "mixed_float16", "mixed_bfloat16")


def check_config(train: "pipeline_config.TrainConfig") -> None:
    """Raises ConfigError for a strategy or precision this module does not know."""
    if train.strategy not in STRATEGIES:
        raise pipeline_config.ConfigError(
            f"train.strategy={train.strategy}: expected one of {', '.join(STRATEGIES)}")
    if train.mixed_precision not in MIXED_PRECISION:
        raise pipeline_config.ConfigError(
            f"train.mixed_precision={train.mixed_precision}: expected one of "
            f"{', '.join(MIXED_PRECISION)}")


def enable_gpu_memory_growth() -> None:
    """GPU memory allocated as needed, not all at start (shared GPUs, several components)."""
    for gpu in tf.config.list_physical_devices("GPU"):
        try:
            tf.config.experimental.set_memory_growth(gpu, True)
        except RuntimeError as e:  # an earlier component in this process initialised the GPU
            logging.warning("cannot enable memory growth on %s: %s", gpu.name, e)


def create_strategy(train: "pipeline_config.TrainConfig") -> tf.distribute.Strategy:
    check_config(train)
    if train.strategy == "one-device":
        return tf.distribute.get_strategy()
    if train.strategy == "mirrored":
        return tf.distribute.MirroredStrategy()
    if train.strategy == "multi-worker":
        if not os.environ.get("TF_CONFIG"):
            raise pipeline_config.ConfigError(
                "train.strategy=multi-worker needs TF_CONFIG (the cluster and this worker's "
                "task), which the training service sets; use mirrored on one machine")
        return tf.distribute.MultiWorkerMirroredStrategy()
    resolver = tf.distribute.cluster_resolver.TPUClusterResolver(tpu=train.tpu or None)
    tf.config.experimental_connect_to_cluster(resolver)
    tf.tpu.experimental.initialize_tpu_system(resolver)
    return tf.distribute.TPUStrategy(resolver)


@contextlib.contextmanager
def precision_policy(mixed_precision: str) -> Iterator[None]:
    """Keras' global dtype policy for the models built inside; float32 again afterwards (the
    Trainer may share its process with other components)."""
    previous = tf_keras.mixed_precision.global_policy()
    tf_keras.mixed_precision.set_global_policy(
        "float32" if mixed_precision == "none" else mixed_precision)
    try:
        yield
    finally:
        tf_keras.mixed_precision.set_global_policy(previous)


def float32_outputs(model: tf_keras.Model) -> tf_keras.Model:
    """`model` itself under float32; else the same layers with float32 outputs (Keras' advice:
    softmax, losses and exported probabilities in float32), keeping the attached encoder."""
    if all(out.dtype == tf.float32 for out in tf.nest.flatten(model.outputs)):
        return model
    from trainer import model as model_lib

    cast = tf_keras.layers.Activation("linear", dtype="float32", name="float32_outputs")
    wrapped = tf_keras.Model(model.inputs, tf.nest.map_structure(cast, model.outputs),
                             name=model.name)
    if getattr(model, model_lib.ENCODER_ATTRIBUTE, None) is not None:
        model_lib.attach_encoder(wrapped, model_lib.encoder_of(model))
    return wrapped


def wrap_optimizer(optimizer, mixed_precision: str):
    """Dynamic loss scaling under float16 (Keras' LossScaleOptimizer); as it is otherwise."""
    if mixed_precision == "mixed_float16":
        return tf_keras.mixed_precision.LossScaleOptimizer(optimizer)
    return optimizer


def compile_model(train: "pipeline_config.TrainConfig", build_model: Callable[[], Any],
                  build_optimizer: Callable[[], Any], build_loss: Callable[[], Any],
                  build_metrics: Callable[[], Any] = list) -> tf_keras.Model:
    """Builds and compiles the model under the configured strategy and precision.

    The builders are called inside the strategy's scope (variables, metrics included, are
    created per replica there; Keras refuses metrics made outside it) and under the precision
    policy (layers take their dtypes from it when they are built).
    """
    check_config(train)
    if train.gpu_memory_growth:
        enable_gpu_memory_growth()
    strategy = create_strategy(train)
    with strategy.scope(), precision_policy(train.mixed_precision):
        model = float32_outputs(build_model())
        optimizer = wrap_optimizer(build_optimizer(), train.mixed_precision)
        # Building the optimizer's slots up front saves a second trace of the train step.
        optimizer.build(model.trainable_variables)
        model.compile(optimizer=optimizer, loss=build_loss(), metrics=build_metrics(),
                      jit_compile=train.use_xla)
    return model


def is_chief() -> bool:
    """False on the non-chief workers of a multi-worker cluster (they must not export)."""
    config = json.loads(os.environ.get("TF_CONFIG") or "{}")
    task = config.get("task") or {}
    kind, index = task.get("type"), int(task.get("index", 0))
    if kind in (None, "chief"):
        return True
    return kind == "worker" and index == 0 and "chief" not in config.get("cluster", {})
