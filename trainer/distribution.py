"""Training at scale by configuration: distribution strategy, mixed precision, GPU memory.

    --set train.strategy=mirrored            one-device | mirrored | multi-worker | tpu
    --set train.mixed_precision=mixed_float16   auto | none | mixed_float16 | mixed_bfloat16
    --set train.use_xla=true                 (jit_compile, in trainer/run.py)
    --set train.gpu_memory_growth=false      (default true: allocate GPU memory as needed)

`train.batch_size` is the *global* batch: a strategy splits each batch across its replicas,
so a run gives the same updates on one device and on N (tests/test_distribution.py).

- one-device: TensorFlow's default strategy (what a run did before this module existed).
- mirrored: every local GPU (or the CPU) holds a replica; gradients are all-reduced.
- multi-worker: MultiWorkerMirroredStrategy over the machines that TF_CONFIG names (set by
  the training service, e.g. Vertex AI training); only the chief exports the model; a
  cluster's setup and restarts in docs/scale.md.
- tpu: TPUStrategy on the TPU named by `train.tpu` (empty: the one the environment names).

`auto` (the default) picks what the machine computes fastest without losing accuracy:
float32 for encoders narrower than 256 (AUTO_MIXED_PRECISION_MIN_HIDDEN); otherwise
mixed_bfloat16 on TPUs, on GPUs of compute capability 8.0+ and on CPUs with bfloat16 matrix
units (AMX-BF16 or AVX512-BF16) when TensorFlow's oneDNN kernels are on (without oneDNN,
bfloat16 matmuls on CPU are slower than float32); mixed_float16 on GPUs of capability 7.x;
float32 elsewhere. On this project's CI CPU (AMX) bfloat16 matmuls ran 4.5x float32 and
fine-tuning 1.3-1.5x (docs/benchmarks.md).

Mixed precision uses Keras' policies. Under mixed_float16 the optimizer is wrapped in
tf_keras.mixed_precision.LossScaleOptimizer (dynamic loss scaling keeps small float16
gradients from flushing to zero); bfloat16 has float32's range and needs none. Either way the
model's outputs are cast back to float32, so losses, metrics and the serving signatures
(probabilities, scores, embeddings) stay float32.
"""
import contextlib
import ctypes
import gc
import json
import logging
import os
from typing import Any, Callable, Iterator, Optional, Set, Tuple

import tensorflow as tf
import tf_keras

import pipeline_config

STRATEGIES = pipeline_config.STRATEGIES
MIXED_PRECISION = pipeline_config.MIXED_PRECISION
# `auto` keeps float32 below this hidden size: the matmuls are too small for 16-bit units to
# pay for the casts, and 16-bit compute kept a hidden-32 model on its loss plateau where
# float32 left it (tests/test_pipeline_e2e.py's tiny model; hidden 128 and 384 trained alike).
AUTO_MIXED_PRECISION_MIN_HIDDEN = 256
# CPU flags (/proc/cpuinfo) of matrix units that compute bfloat16 natively.
BFLOAT16_CPU_FLAGS = ("amx_bf16", "avx512_bf16")


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


def setup_strategy(train: "pipeline_config.TrainConfig") -> tf.distribute.Strategy:
    """GPU memory growth, then the configured strategy. MultiWorkerMirroredStrategy configures
    the collective ops, which TensorFlow allows only before its runtime starts: a Trainer calls
    this before any other TensorFlow op (reading or counting its data included)."""
    check_config(train)
    if train.gpu_memory_growth:
        enable_gpu_memory_growth()
    return create_strategy(train)


def cpu_flags(cpuinfo_path: str = "/proc/cpuinfo") -> Set[str]:
    """The first CPU's feature flags (empty where /proc/cpuinfo does not exist)."""
    try:
        with open(cpuinfo_path) as f:
            for line in f:
                if line.startswith("flags"):
                    return set(line.split(":", 1)[1].split())
    except OSError:
        pass
    return set()


def onednn_enabled() -> bool:
    """Whether TensorFlow's oneDNN CPU kernels are on in this process (TF_ENABLE_ONEDNN_OPTS)."""
    from tensorflow.python.util import _pywrap_util_port  # TF's own check; no public API
    return bool(_pywrap_util_port.IsMklEnabled())


def resolve_mixed_precision(setting: str, strategy: str = "one-device",
                            hidden_size: Optional[int] = None) -> Tuple[str, str]:
    """The Keras precision policy for `train.mixed_precision`, and why (for the log).
    `hidden_size` is the encoder's (None: unknown, not considered)."""
    if setting != "auto":
        return setting, "set in the configuration"
    if hidden_size is not None and hidden_size < AUTO_MIXED_PRECISION_MIN_HIDDEN:
        return "none", (f"auto: hidden size {hidden_size} < {AUTO_MIXED_PRECISION_MIN_HIDDEN}, "
                        "too small to gain from 16-bit compute")
    if strategy == "tpu":
        return "mixed_bfloat16", "auto: TPU"
    gpus = tf.config.list_physical_devices("GPU")
    if gpus:
        capability = tf.config.experimental.get_device_details(gpus[0]).get(
            "compute_capability") or (0, 0)
        if capability >= (8, 0):
            return "mixed_bfloat16", f"auto: GPU compute capability {capability}"
        if capability >= (7, 0):
            return "mixed_float16", f"auto: GPU compute capability {capability}"
        return "none", f"auto: GPU compute capability {capability} (no fast half precision)"
    units = sorted(set(BFLOAT16_CPU_FLAGS) & cpu_flags())
    if units and onednn_enabled():
        return "mixed_bfloat16", f"auto: CPU with {'/'.join(units)} and oneDNN"
    if units:
        return "none", (f"auto: CPU has {'/'.join(units)} but oneDNN is off "
                        "(TF_ENABLE_ONEDNN_OPTS=1 turns it on)")
    return "none", "auto: no bfloat16 matrix unit on this CPU"


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


def computes_in_float32(model: tf_keras.Model) -> bool:
    """Whether every layer of `model` computes in float32 (no mixed-precision policy)."""
    for layer in [model] + list(model.submodules):
        dtype = getattr(layer, "compute_dtype", None)
        # Input layers carry the inputs' integer dtype; only floating compute counts.
        if dtype is not None and tf.as_dtype(dtype).is_floating and dtype != "float32":
            return False
    return True


def float32_serving_model(model: tf_keras.Model,
                          build_model: Callable[[], tf_keras.Model]) -> tf_keras.Model:
    """The model to export: `model` itself when it computes in float32, else the same
    architecture built under float32 (`build_model`) holding the trained weights.

    Mixed precision is a training speed-up; a served graph in bfloat16 would be slower on
    CPUs without bfloat16 units (TensorFlow emulates it) and less exact, so the SavedModel,
    and the Evaluator that scores it, always compute in float32. The variables of a
    mixed-precision model are float32 already: the copy is exact.
    """
    if computes_in_float32(model):
        return model
    with precision_policy("none"):
        serving = build_model()
    serving.set_weights(model.get_weights())
    return serving


def wrap_optimizer(optimizer, mixed_precision: str):
    """Dynamic loss scaling under float16 (Keras' LossScaleOptimizer); as it is otherwise."""
    if mixed_precision == "mixed_float16":
        return tf_keras.mixed_precision.LossScaleOptimizer(optimizer)
    return optimizer


def compile_model(train: "pipeline_config.TrainConfig", build_model: Callable[[], Any],
                  build_optimizer: Callable[[], Any], build_loss: Callable[[], Any],
                  build_metrics: Callable[[], Any] = list,
                  hidden_size: Optional[int] = None,
                  strategy: Optional[tf.distribute.Strategy] = None) -> tf_keras.Model:
    """Builds and compiles the model under the configured strategy and precision (`strategy`:
    one made already by setup_strategy, as multi-worker training needs).

    The builders are called inside the strategy's scope (variables, metrics included, are
    created per replica there; Keras refuses metrics made outside it) and under the precision
    policy (layers take their dtypes from it when they are built).
    """
    strategy = strategy or setup_strategy(train)
    policy, reason = resolve_mixed_precision(train.mixed_precision, train.strategy, hidden_size)
    logging.info("precision: %s (%s)", policy, reason)
    with strategy.scope(), precision_policy(policy):
        model = float32_outputs(build_model())
        optimizer = wrap_optimizer(build_optimizer(), policy)
        # Building the optimizer's slots up front saves a second trace of the train step.
        optimizer.build(model.trainable_variables)
        release_freed_memory()
        model.compile(optimizer=optimizer, loss=build_loss(), metrics=build_metrics(),
                      jit_compile=train.use_xla)
    return model


def release_freed_memory() -> None:
    """Hands memory freed while building (the checkpoint's HDF5 reads, load temporaries) back
    to the OS. glibc keeps it in the main thread's arena, which the training step's threads
    do not reuse: 30-35 MiB less RSS, once, nothing per step (docs/benchmarks.md)."""
    gc.collect()
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):  # not glibc (macOS, musl): nothing to trim
        pass


def is_chief() -> bool:
    """False on the non-chief workers of a multi-worker cluster (they must not export)."""
    config = json.loads(os.environ.get("TF_CONFIG") or "{}")
    task = config.get("task") or {}
    kind, index = task.get("type"), int(task.get("index", 0))
    if kind in (None, "chief"):
        return True
    return kind == "worker" and index == 0 and "chief" not in config.get("cluster", {})
