"""The Transform step: raw text columns in, token ids and label ids out.

Transform calls `preprocessing_fn` by its dotted path (`trainer.preprocessing.preprocessing_fn`);
the task the config selects (trainer/tasks) decides what to compute. The same graph is embedded
in the SavedModel, so the served model tokenizes raw strings exactly as training did.
"""
from typing import Any, Dict

import tensorflow_text  # noqa: F401  (registers TF Text ops in every Beam worker)

from trainer import remote_checkpoint, tasks
from trainer.run_context import RunContext


def preprocessing_fn(inputs: Dict[str, Any], custom_config: Dict[str, Any]) -> Dict[str, Any]:
    context = remote_checkpoint.localize(RunContext.from_custom_config(custom_config))
    return tasks.create(context).preprocess(inputs, context)
