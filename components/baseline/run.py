"""The baseline Trainer's step: fits the task's simple baseline and exports it like the candidate.

TFX's Trainer calls `run_fn` by its dotted path (`components.baseline.run.run_fn`); the
composition (bound task, history file, export) is trainer/training.py's, the model the
task's `baseline_module`'s.
"""
import importlib
from typing import Any, Dict

from trainer import training
from trainer.run_context import RunContext

RUN_FN = "components.baseline.run.run_fn"
# The only training settings a baseline reads; leaving the others out of its custom_config
# keeps its cached output valid when only the candidate's training changes.
_BASELINE_FIELDS = {"train": ("batch_size", "eval_batch_size", "bucket_boundaries", "seed"),
                    "eval": ("baseline_epochs", "baseline_learning_rate")}


def baseline_custom_config(context: RunContext) -> Dict[str, Any]:
    """Transform's part of the config and the training settings above; reading any other
    field in the baseline is an error (pipeline_config.ConfigView), not its default."""
    return context.view_custom_config("the baseline Trainer", _BASELINE_FIELDS)


def baseline_of(task):
    """The module that trains `task`'s simple baseline."""
    if task.baseline_module is None:
        raise ValueError(f"the {task.name} task has no simple baseline")
    return importlib.import_module(task.baseline_module)


def run_fn(fn_args) -> None:
    context = RunContext.from_custom_config(fn_args.custom_config)
    task, transform_output = training.bind(context, fn_args.transform_output)
    model, history = baseline_of(task).train(task, context, transform_output,
                                             fn_args.train_files, fn_args.eval_files)
    training.write_history(fn_args.model_run_dir, history)
    training.export(task, model, transform_output, context, fn_args.serving_model_dir)
