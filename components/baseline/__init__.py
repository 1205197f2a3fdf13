"""The simple baseline trained in the same run as the candidate, on the same Transform output.

A second TFX Trainer (`baseline_trainer`, run_fn `components.baseline.run.run_fn`) fits, per
task, the simplest model that makes sense, and exports it through the task's own
`serving_signatures`, so it has exactly the candidate's signatures and TFMA evaluates both on
the same eval split with the same metrics. The task names its baseline (`Task.baseline_module`,
`Task.baseline_description`, trainer/tasks/base.py):

* text-classification (also --multi-label and --regression) and text-pair-classification:
  TF-IDF logistic (linear, for --regression) regression over the WordPiece ids
  (`bag_of_words.py`);
* token-classification: the most frequent tag of each word (`tag_lookup.py`);
* question-answering: a fixed span at the start of the context (`span_heuristic.py`);
* embedding: none (there is nothing to predict, so nothing to compare).
"""
from typing import Optional


def _task_class(config):
    from trainer import tasks  # the task's module (TensorFlow) only when asked
    return tasks.task_class(config)


def has_baseline(config) -> bool:
    return _task_class(config).baseline_module is not None


def describe(config) -> Optional[str]:
    """What the simple baseline of this run is, in a few words (None: the task has none)."""
    cls = _task_class(config)
    return cls.baseline_description if cls.baseline_module else None
