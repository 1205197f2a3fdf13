"""The Trainer's composition, in one place: the bound task, the datasets, the compiled model,
the history file and the export. trainer/run.py's `run_fn` (the candidate),
components/baseline/run.py's `run_fn` (the simple baseline) and bench/bench_finetune.py
(the throughput benchmark) are built from these steps.
"""
import dataclasses
import json
import logging
import os
import shutil
import tempfile
from typing import Any, Callable, Dict, Optional, Tuple

import tensorflow as tf
import tensorflow_text  # noqa: F401  (TF Text ops for the transform graph)
import tensorflow_transform as tft
import tf_keras

from trainer import data
from trainer import distribution
from trainer import model as model_lib
from trainer import optimization
from trainer import remote_checkpoint
from trainer import tasks
from trainer.features import BULK_INFERENCE_SIGNATURE
from trainer.run_context import RunContext
from trainer.run_files import HISTORY_FILE


def training_context(context: RunContext, fn_args) -> RunContext:
    """The context the model trains in (the Trainer's, and each trial's of the Tuner): the
    checkpoint on local disk, the pre-trained one when the pipeline pre-trained, the config
    resolved."""
    context = remote_checkpoint.localize(context)
    if fn_args.base_model:
        # Pre-trained in this pipeline (components/pretrainer.py): same vocabulary, new weights.
        context = dataclasses.replace(context, checkpoint_dir=fn_args.base_model)
    # A compiled pipeline leaves the checkpoint-dependent defaults to the machine that has it;
    # any other config arrives resolved (pipeline_config.resolve, RunContext).
    return context.resolved_for_training(model_lib.hidden_size(context.checkpoint_dir),
                                         tasks.traits(context.config.task))


def bind(context: RunContext, transform_graph_uri: str):
    """(the task bound to `context`, the Transform output), with the run's seed set."""
    task = tasks.create(context)
    transform_output = tft.TFTransformOutput(transform_graph_uri)
    tf_keras.utils.set_random_seed(context.config.train.seed)
    return task, transform_output


def build_datasets(task, cfg, train_files, eval_files, *,
                   pad_to_bucket: bool = True, keep_train: Optional[Callable] = None,
                   keep_eval: Optional[Callable] = None
                   ) -> Tuple[tf.data.Dataset, tf.data.Dataset]:
    """Training (shuffled) and evaluation batches, length-bucketed (trainer/data.py).
    `keep_train`/`keep_eval`: predicates on the serialized records (the tuning split of
    trainer/tuning.py)."""
    pad_length = data.pad_length(cfg.train, cfg.model.max_seq_length) if pad_to_bucket else None
    train_ds = data.make_dataset(
        train_files, task=task, batch_size=cfg.train.batch_size,
        boundaries=cfg.train.bucket_boundaries, shuffle=True, seed=cfg.train.seed,
        max_length=pad_length, keep=keep_train)
    eval_ds = data.make_dataset(
        eval_files, task=task, batch_size=cfg.train.eval_batch_size,
        boundaries=cfg.train.bucket_boundaries, shuffle=False, max_length=pad_length,
        keep=keep_eval)
    return train_ds, eval_ds


def training_steps(train_ds: tf.data.Dataset, train_cfg) -> Tuple[int, int]:
    """(steps per epoch, total steps): a pass over the data, capped by
    train.steps_per_epoch."""
    steps_per_epoch = data.count_batches(train_ds)
    if train_cfg.steps_per_epoch:
        steps_per_epoch = min(steps_per_epoch, train_cfg.steps_per_epoch)
    return steps_per_epoch, max(1, steps_per_epoch * train_cfg.epochs)


def build_compiled_model(train_cfg, checkpoint_dir: str, total_steps: int,
                         build_model: Callable[[], Any], build_loss: Callable[[], Any],
                         build_metrics: Callable[[], Any] = list,
                         learning_rate: Optional[float] = None,
                         strategy=None) -> tf_keras.Model:
    """The model compiled as the Trainer trains it: under the configured strategy and
    precision (trainer/distribution.py), ELECTRA's optimizer (trainer/optimization.py) with
    its slots built up front, the Keras steps traced without AutoGraph."""
    model = distribution.compile_model(
        train_cfg,
        build_model=build_model,
        build_optimizer=lambda: optimization.create_optimizer(
            learning_rate=train_cfg.learning_rate if learning_rate is None else learning_rate,
            num_train_steps=total_steps, warmup_ratio=train_cfg.warmup_ratio,
            weight_decay=train_cfg.weight_decay, layer_decay=train_cfg.layer_decay,
            num_layers=model_lib.num_hidden_layers(checkpoint_dir),
            clip_norm=train_cfg.clip_norm),
        build_loss=build_loss, build_metrics=build_metrics,
        hidden_size=model_lib.hidden_size(checkpoint_dir), strategy=strategy)
    return model_lib.trace_without_autograph(model)


def build_task_model(task, context: RunContext, transform_output, total_steps: int,
                     strategy=None):
    """The task's model, compiled with the task's loss and metrics."""
    return build_compiled_model(
        context.config.train, context.checkpoint_dir, total_steps,
        build_model=lambda: task.build_model(context, transform_output),
        build_loss=task.loss, build_metrics=task.metrics, strategy=strategy)


def write_history(model_run_dir: str, history: Dict[str, Any], **extra) -> None:
    tf.io.gfile.makedirs(model_run_dir)
    with tf.io.gfile.GFile(os.path.join(model_run_dir, HISTORY_FILE), "w") as f:
        json.dump({**extra, "history": {k: [float(v) for v in vs]
                                        for k, vs in history.items()}}, f)


def export(task, model, transform_output, context: RunContext, serving_model_dir: str) -> None:
    """The SavedModel with the task's signatures and `call_on_ids` (trainer/model.py), which
    the signatures share (every worker saves; the chief exports).

    Served through its signatures only (TF Serving, TFMA, tf.saved_model.load), so Keras keeps
    none of its own traces (save_traces=False): re-tracing every layer, through AutoGraph, for
    a Keras reload made the candidate's export 10-20x slower and the TF-IDF baseline's ~4 s of
    a quick run. tf_keras.models.load_model cannot rebuild these models."""
    model_lib.call_on_ids(model)
    signatures = task.serving_signatures(model, transform_output, context)
    signatures[BULK_INFERENCE_SIGNATURE] = task.bulk_inference_signature(signatures)
    if not distribution.is_chief():  # every worker must save (collective ops); one exports
        scratch = tempfile.mkdtemp()
        model.save(scratch, save_format="tf", signatures=signatures, save_traces=False)
        shutil.rmtree(scratch, ignore_errors=True)
        return
    model.save(serving_model_dir, save_format="tf", signatures=signatures, save_traces=False)
    logging.info("exported the serving model to %s", serving_model_dir)
