"""The Trainer step: fine-tunes the task's ELECTRA model and exports the serving SavedModel.

TFX's Trainer calls `run_fn` by its dotted path (`trainer.run.run_fn`).
"""
import dataclasses
import json
import logging
import os
import tempfile

import tensorflow as tf
import tensorflow_text  # noqa: F401  (TF Text ops for the transform graph)
import tensorflow_transform as tft
import tf_keras

import pipeline_config
from trainer import data
from trainer import distribution
from trainer import model as model_lib
from trainer import optimization
from trainer import remote_checkpoint
from trainer import resume
from trainer import tasks
from trainer.run_context import RunContext

HISTORY_FILE = "history.json"


def run_fn(fn_args) -> None:
    context = remote_checkpoint.localize(RunContext.from_custom_config(fn_args.custom_config))
    if fn_args.base_model:
        # Pre-trained in this pipeline (components/pretrainer.py): same vocabulary, new weights.
        context = dataclasses.replace(context, checkpoint_dir=fn_args.base_model)
    hidden_size = model_lib.hidden_size(context.checkpoint_dir)
    # A compiled pipeline leaves the checkpoint-dependent defaults to the machine that has it.
    context = dataclasses.replace(context, config=pipeline_config.with_training_defaults(
        context.config, "pretrained", hidden_size))
    cfg = context.config
    task = tasks.get_task(cfg.task)
    transform_output = tft.TFTransformOutput(fn_args.transform_output)
    tf_keras.utils.set_random_seed(cfg.train.seed)

    pad_length = data.pad_length(cfg.train, cfg.model.max_seq_length)
    train_ds = data.make_dataset(
        fn_args.train_files, task=task, batch_size=cfg.train.batch_size,
        boundaries=cfg.train.bucket_boundaries, shuffle=True, seed=cfg.train.seed,
        max_length=pad_length)
    eval_ds = data.make_dataset(
        fn_args.eval_files, task=task, batch_size=cfg.train.eval_batch_size,
        boundaries=cfg.train.bucket_boundaries, shuffle=False, max_length=pad_length)

    steps_per_epoch = data.count_batches(train_ds)
    if cfg.train.steps_per_epoch:
        steps_per_epoch = min(steps_per_epoch, cfg.train.steps_per_epoch)
    total_steps = max(1, steps_per_epoch * cfg.train.epochs)
    logging.info("training %d epochs x %d steps (batch %d, dynamic padding)",
                 cfg.train.epochs, steps_per_epoch, cfg.train.batch_size)

    # Strategy, mixed precision, XLA and GPU memory by configuration (trainer/distribution.py).
    model = distribution.compile_model(
        cfg.train,
        build_model=lambda: task.build_model(context, transform_output),
        build_optimizer=lambda: optimization.create_optimizer(
            learning_rate=cfg.train.learning_rate, num_train_steps=total_steps,
            warmup_ratio=cfg.train.warmup_ratio, weight_decay=cfg.train.weight_decay,
            layer_decay=cfg.train.layer_decay,
            num_layers=model_lib.num_hidden_layers(context.checkpoint_dir),
            clip_norm=cfg.train.clip_norm),
        build_loss=task.loss, build_metrics=task.metrics,
        hidden_size=hidden_size)
    model_lib.trace_without_autograph(model)

    callbacks = [tf_keras.callbacks.TensorBoard(log_dir=fn_args.model_run_dir, update_freq="epoch")]
    # Checkpoints outside the Trainer's output, so that a killed run resumes from them.
    backup = resume.resumable_training(cfg.output_dir, fn_args, cfg.train.checkpoint_every_steps)
    callbacks.append(backup)
    # A known number of steps per epoch (the repeated data holds exactly `steps_per_epoch`
    # batches per pass) lets Keras resume in the middle of an epoch.
    history = model.fit(
        train_ds.repeat(),
        epochs=cfg.train.epochs,
        steps_per_epoch=steps_per_epoch,
        validation_data=eval_ds, callbacks=callbacks, verbose=2)

    tf.io.gfile.makedirs(fn_args.model_run_dir)
    with tf.io.gfile.GFile(os.path.join(fn_args.model_run_dir, HISTORY_FILE), "w") as f:
        json.dump({"steps_per_epoch": steps_per_epoch,
                   "resumed_from_step": backup.resumed_from_step,
                   "history": {k: [float(v) for v in vs] for k, vs in history.history.items()}}, f)

    # Trained in mixed precision or not, the SavedModel computes in float32.
    model = distribution.float32_serving_model(
        model, lambda: task.build_model(context, transform_output))
    signatures = task.serving_signatures(model, transform_output, context)
    model_lib.attach_id_call(model)
    # Served through its signatures only (TF Serving, TFMA, tf.saved_model.load): without
    # save_traces Keras does not re-trace every HF layer for Keras-reloading, which made the
    # export 10-20x slower. tf_keras.models.load_model cannot rebuild it without the HF classes.
    if not distribution.is_chief():  # every worker must save (collective ops); one exports
        model.save(tempfile.mkdtemp(), save_format="tf", signatures=signatures,
                   save_traces=False)
        return
    model.save(fn_args.serving_model_dir, save_format="tf", signatures=signatures,
               save_traces=False)
    logging.info("exported the serving model to %s", fn_args.serving_model_dir)
