"""The baseline Trainer's step: fits the task's simple baseline and exports it like the candidate.

TFX's Trainer calls `run_fn` by its dotted path (`components.baseline.run.run_fn`).
"""
import json
import logging
import os
from typing import Any, Dict

import tensorflow as tf
import tensorflow_text  # noqa: F401  (TF Text ops for the transform graph)
import tensorflow_transform as tft
import tf_keras

from components.baseline import bag_of_words, span_heuristic, tag_lookup
from trainer import tasks
from trainer.run import HISTORY_FILE
from trainer.run_context import RunContext

RUN_FN = "components.baseline.run.run_fn"
_BASELINES = {
    "text-classification": bag_of_words,
    "text-pair-classification": bag_of_words,
    "token-classification": tag_lookup,
    "question-answering": span_heuristic,
}
# The only training settings a baseline reads; leaving the others out of its custom_config
# keeps its cached output valid when only the candidate's training changes.
_BASELINE_FIELDS = {"train": ("batch_size", "eval_batch_size", "bucket_boundaries", "seed"),
                    "eval": ("baseline_epochs", "baseline_learning_rate")}


def baseline_custom_config(context: RunContext) -> Dict[str, Any]:
    custom_config = context.transform_custom_config()
    full = context.config.to_dict()
    for section, fields in _BASELINE_FIELDS.items():
        custom_config["config"][section] = {name: full[section][name] for name in fields}
    return custom_config


def run_fn(fn_args) -> None:
    context = RunContext.from_custom_config(fn_args.custom_config)
    cfg = context.config
    task = tasks.get_task(cfg.task)
    if cfg.task not in _BASELINES:
        raise ValueError(f"the {cfg.task} task has no simple baseline")
    transform_output = tft.TFTransformOutput(fn_args.transform_output)
    tf_keras.utils.set_random_seed(cfg.train.seed)

    model, history = _BASELINES[cfg.task].train(task, context, transform_output,
                                                fn_args.train_files, fn_args.eval_files)

    tf.io.gfile.makedirs(fn_args.model_run_dir)
    with tf.io.gfile.GFile(os.path.join(fn_args.model_run_dir, HISTORY_FILE), "w") as f:
        json.dump({"history": {k: [float(v) for v in vs] for k, vs in history.items()}}, f)

    signatures = task.serving_signatures(model, transform_output, context)
    model.save(fn_args.serving_model_dir, save_format="tf", signatures=signatures)
    logging.info("exported the baseline model to %s", fn_args.serving_model_dir)
