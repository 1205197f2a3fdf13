"""--tune: the hyper-parameter search TFX's Tuner runs before the Trainer (docs/tuning.md).

TFX's Tuner calls `tuner_fn` by its dotted path (`trainer.tuning.tuner_fn`) and runs the
returned KerasTuner tuner's `search`; it writes the best trial's values
(`best_hyperparameters`), which the Trainer's run_fn applies over the config
(`apply_hyperparameters`), and every completed trial's score and values (`tuner_results`).

The search space is KerasTuner's `HyperParameters` built from the config's `tune` ranges, and
the search is KerasTuner's oracles (RandomSearch, BayesianOptimization, Hyperband). The trials
are run by `TaskTuner`, a `keras_tuner.BaseTuner` whose `run_trial` is written here rather
than KerasTuner's `Tuner`, because KerasTuner 1.4 builds on `import keras`, which is Keras 3
in this environment, while the task models are tf_keras (Keras 2) models (transformers' TF
classes): its `Tuner` would fit them with Keras 3 callbacks and save them with Keras 3. Each
trial instead trains through the Trainer's own composition (trainer/training.py: the bound
task, its datasets, its compiled model) and returns the task's tuning objective.

The trials never see the eval split that the blessing gate uses: they train on the training
split minus a held-out share (`tune.holdout_percent`, chosen by a hash of each transformed
record, so the same records every time) and are scored on that share.
"""
import dataclasses
import gc
import logging
import math
from typing import Any, Dict, Mapping

import tensorflow as tf
import tensorflow_text  # noqa: F401  (TF Text ops of the transformed data's graph)
import tf_keras

from trainer import console
from trainer import keras_progress
from trainer import tasks
from trainer import training
from trainer.run_context import RunContext

# The train fields a trial's values set (the hyper-parameters' names are the fields').
SEARCHED = ("learning_rate", "layer_decay", "warmup_ratio", "epochs", "batch_size")
# Hyperband's budget units: a trial of its first round trains steps_per_trial / 3 steps,
# the trials it keeps go on to the whole steps_per_trial.
HYPERBAND_MAX_EPOCHS = 3
HASH_BUCKETS = 100
# The objective as the oracle names it: the task's metric on the tuning split.
OBJECTIVE_PREFIX = "tuning_"


def objective_of(task) -> Any:
    """The task's TuningObjective; a ConfigError when the task has nothing to tune."""
    import pipeline_config
    if task.tuning_objective is None:
        raise pipeline_config.ConfigError(
            f"--tune: the task {task.name} has no metric to tune on (it trains nothing)")
    return task.tuning_objective


def in_tuning_split(holdout_percent: int):
    """A predicate on a serialized transformed record: True for the held-out tuning share.
    A fingerprint of the record's bytes, so the split is the same in every run and trial."""
    def keep(record: tf.Tensor) -> tf.Tensor:
        return tf.strings.to_hash_bucket_fast(record, HASH_BUCKETS) < holdout_percent
    return keep


def not_in_tuning_split(holdout_percent: int):
    tuning = in_tuning_split(holdout_percent)
    return lambda record: tf.logical_not(tuning(record))


def count_records(file_patterns, keep) -> int:
    files = tf.data.Dataset.from_tensor_slices(sorted(
        f for pattern in ([file_patterns] if isinstance(file_patterns, str) else file_patterns)
        for f in tf.io.gfile.glob(pattern)))
    ds = tf.data.TFRecordDataset(files, compression_type="GZIP").filter(keep)
    return int(ds.reduce(tf.constant(0, tf.int64), lambda n, _: n + 1).numpy())


def search_space(tune) -> Any:
    """KerasTuner's HyperParameters from the `tune` ranges: the learning rate log-uniform,
    layer decay and warm-up uniform, epochs and batch size among the listed values; a range
    of one value is fixed."""
    import keras_tuner
    hp = keras_tuner.HyperParameters()
    for name, sampling in (("learning_rate", "log"), ("layer_decay", "linear"),
                           ("warmup_ratio", "linear")):
        low, high = (float(v) for v in getattr(tune, name + "_range"))
        if low == high:
            hp.Fixed(name, low)
        else:
            hp.Float(name, low, high, sampling=sampling)
    for name in ("epochs", "batch_size"):
        values = [int(v) for v in getattr(tune, name + "_values")]
        if len(values) == 1:
            hp.Fixed(name, values[0])
        else:
            hp.Choice(name, values, ordered=True)
    return hp


def make_oracle(tune, objective, seed: int) -> Any:
    """KerasTuner's oracle for tune.algorithm, over `search_space(tune)`, for tune.trials."""
    import keras_tuner
    common = dict(
        objective=keras_tuner.Objective(OBJECTIVE_PREFIX + objective.metric, objective.direction),
        hyperparameters=search_space(tune), allow_new_entries=False, tune_new_entries=False,
        seed=seed)
    if tune.algorithm == "random":
        return keras_tuner.oracles.RandomSearchOracle(max_trials=tune.trials, **common)
    if tune.algorithm == "bayesian":
        return keras_tuner.oracles.BayesianOptimizationOracle(
            max_trials=tune.trials, num_initial_points=min(2, tune.trials), **common)
    oracle = keras_tuner.oracles.HyperbandOracle(
        max_epochs=HYPERBAND_MAX_EPOCHS, factor=3, hyperband_iterations=1, **common)
    oracle.max_trials = tune.trials  # the Oracle stops creating trials there
    return oracle


def values_of(hyperparameters: Mapping[str, Any]) -> Dict[str, Any]:
    """The values of a `best_hyperparameters` artifact (KerasTuner's HyperParameters config,
    {"space": [...], "values": {...}}) or of a plain dict of values."""
    values = hyperparameters.get("values", hyperparameters)
    return {name: values[name] for name in SEARCHED if name in values}


def apply_hyperparameters(context: RunContext, hyperparameters: Mapping[str, Any]) -> RunContext:
    """A context whose train section takes the trial's (or the best) values."""
    import pipeline_config
    config = pipeline_config.from_dict(context.config.to_dict())
    for name, value in values_of(hyperparameters).items():
        cast = int if name in ("epochs", "batch_size") else float
        setattr(config.train, name, cast(value))
    return dataclasses.replace(context, config=config)


def trial_steps(tune, values: Mapping[str, Any]) -> int:
    """The training steps of one trial: tune.steps_per_trial, or Hyperband's share of it."""
    budget = tune.steps_per_trial
    if "tuner/epochs" in values:  # Hyperband's rounds
        budget = max(1, round(budget * values["tuner/epochs"] / HYPERBAND_MAX_EPOCHS))
    return budget


def _base_tuner():
    import keras_tuner
    return keras_tuner.engine.base_tuner.BaseTuner


def _make_tuner_class():
    import keras_tuner

    class TaskTuner(_base_tuner()):
        """Runs each trial through the task's training code (see the module's docstring)."""

        def __init__(self, oracle, *, context: RunContext, transform_graph: str, train_files,
                     tune, objective, **kwargs):
            super().__init__(oracle, hypermodel=None, **kwargs)
            self.context = context
            self.transform_graph = transform_graph
            self.train_files = list(train_files)
            self.tune = tune
            self.objective = objective
            self.tuning_examples = count_records(self.train_files,
                                                 in_tuning_split(tune.holdout_percent))
            self.training_examples = count_records(self.train_files,
                                                   not_in_tuning_split(tune.holdout_percent))
            if not self.tuning_examples or not self.training_examples:
                raise keras_tuner.errors.FatalError(
                    f"tune.holdout_percent={tune.holdout_percent} leaves "
                    f"{self.training_examples} training and {self.tuning_examples} tuning "
                    "records of the training split: both must be non-empty")
            self.trial_number = 0
            if console.quiet():  # KerasTuner's tables only with -v; the trials' lines always
                self.oracle.verbose = 0

        def search_space_summary(self, extended=False):
            if not console.quiet():
                super().search_space_summary(extended)

        def results_summary(self, num_trials=10):
            if not console.quiet():
                super().results_summary(num_trials)

        def run_trial(self, trial, *args, **kwargs) -> Dict[str, float]:
            try:
                return self._run_trial(trial)
            except Exception as e:  # a broken trial stops the search: it is not a poor score
                raise keras_tuner.errors.FatalError(
                    f"tuning trial {trial.trial_id} failed: {type(e).__name__}: {e}") from e

        def _run_trial(self, trial) -> Dict[str, float]:
            self.trial_number += 1
            values = dict(trial.hyperparameters.values)
            context = apply_hyperparameters(self.context, values)
            cfg = context.config
            epochs = cfg.train.epochs
            # The trial's steps, shared by its epochs (a pass over the tuning-train records
            # when that is fewer).
            cfg.train.steps_per_epoch = max(1, math.ceil(trial_steps(self.tune, values) / epochs))
            task, transform_output = training.bind(context, self.transform_graph)
            holdout = self.tune.holdout_percent
            train_ds, tuning_ds = training.build_datasets(
                task, cfg, self.train_files, self.train_files,
                keep_train=not_in_tuning_split(holdout), keep_eval=in_tuning_split(holdout))
            steps_per_epoch, total_steps = training.training_steps(train_ds, cfg.train)
            model = training.build_task_model(task, context, transform_output, total_steps)
            label = f"Tuning: trial {self.trial_number}/{self.tune.trials}"
            progress, verbose = keras_progress.fit_options(label, every_epoch=False)
            model.fit(train_ds.repeat(), epochs=epochs, steps_per_epoch=steps_per_epoch,
                      callbacks=progress, verbose=verbose)
            measured = model.evaluate(tuning_ds, return_dict=True, verbose=0)
            score = float(measured[self.objective.metric])
            if console.active():
                shown = ", ".join(f"{k} {v:.3g}" for k, v in values.items()
                                  if not k.startswith("tuner/"))
                console.say(f"  {label}: {self.objective.label} {score:.4f} ({shown})")
            logging.info("tuning trial %s: %s %s with %s", trial.trial_id,
                         self.objective.metric, score, values)
            del model
            tf_keras.backend.clear_session()
            gc.collect()
            return {OBJECTIVE_PREFIX + self.objective.metric: score,
                    "tuning_examples": float(self.tuning_examples),
                    "training_steps": float(total_steps)}

    return TaskTuner


def tuner_fn(fn_args) -> Any:
    """TFX Tuner's entry point: a TaskTuner over the tuning split of fn_args.train_files.
    fn_args.eval_files (the gate's eval split) is never read."""
    from tfx import v1 as tfx
    import pipeline_config

    custom = dict(fn_args.custom_config)
    tune = pipeline_config.TuneConfig(**custom.pop("tune"))
    context = training.training_context(RunContext.from_custom_config(custom), fn_args)
    task = tasks.create(context)
    objective = objective_of(task)
    tuner = _make_tuner_class()(
        make_oracle(tune, objective, context.config.train.seed),
        context=context, transform_graph=fn_args.transform_graph_path,
        train_files=fn_args.train_files, tune=tune, objective=objective,
        directory=fn_args.working_dir, project_name="trials", overwrite=True)
    return tfx.components.TunerFnResult(tuner=tuner, fit_kwargs={})
