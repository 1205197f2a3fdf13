"""The Trainer step: fine-tunes the task's ELECTRA model and exports the serving SavedModel.

TFX's Trainer calls `run_fn` by its dotted path (`trainer.run.run_fn`). The steps themselves
(datasets, compiled model, history, export) are trainer/training.py's.
"""
import logging

import tf_keras

from trainer import console
from trainer import distribution
from trainer import keras_progress
from trainer import resume
from trainer import training
from trainer import tuning
from trainer.run_context import RunContext


def run_fn(fn_args) -> None:
    context = RunContext.from_custom_config(fn_args.custom_config)
    # Strategy first: multi-worker training must configure TensorFlow's collective ops before
    # any other TensorFlow op runs in this process (trainer/distribution.py).
    strategy = distribution.setup_strategy(context.config.train)
    context = training.training_context(context, fn_args)
    if fn_args.hyperparameters:
        # --tune: the best trial's values over the config (trainer/tuning.py).
        context = tuning.apply_hyperparameters(context, fn_args.hyperparameters)
    cfg = context.config
    task, transform_output = training.bind(context, fn_args.transform_output)

    train_ds, eval_ds = training.build_datasets(task, cfg, fn_args.train_files,
                                                fn_args.eval_files)
    steps_per_epoch, total_steps = training.training_steps(train_ds, cfg.train)
    logging.info("training %d epochs x %d steps (batch %d, dynamic padding)",
                 cfg.train.epochs, steps_per_epoch, cfg.train.batch_size)

    # Strategy, mixed precision, XLA and GPU memory by configuration (trainer/distribution.py).
    model = training.build_task_model(task, context, transform_output, total_steps, strategy)

    callbacks = [tf_keras.callbacks.TensorBoard(log_dir=fn_args.model_run_dir, update_freq="epoch")]
    # Checkpoints outside the Trainer's output, so that a killed run resumes from them.
    backup = resume.resumable_training(cfg.output_dir, fn_args, cfg.train.checkpoint_every_steps)
    callbacks.append(backup)
    progress, verbose = keras_progress.fit_options("Training")
    # A known number of steps per epoch (the repeated data holds exactly `steps_per_epoch`
    # batches per pass) lets Keras resume in the middle of an epoch.
    history = model.fit(
        train_ds.repeat(),
        epochs=cfg.train.epochs,
        steps_per_epoch=steps_per_epoch,
        validation_data=eval_ds, callbacks=callbacks + progress, verbose=verbose)
    if distribution.is_chief():  # one history for the cluster
        training.write_history(fn_args.model_run_dir, history.history,
                               steps_per_epoch=steps_per_epoch,
                               resumed_from_step=backup.resumed_from_step)

    if console.active():
        console.say("  Training: exporting the serving model ...")
    # Trained in mixed precision or not, the SavedModel computes in float32.
    model = distribution.float32_serving_model(
        model, lambda: task.build_model(context, transform_output))
    training.export(task, model, transform_output, context, fn_args.serving_model_dir)
