"""The simple baseline trained in the same run as the candidate, on the same Transform output.

A second TFX Trainer (`baseline_trainer`, run_fn `components.baseline.run.run_fn`) fits, per
task, the simplest model that makes sense, and exports it through the task's own
`serving_signatures`, so it has exactly the candidate's signatures and TFMA evaluates both on
the same eval split with the same metrics:

* text-classification (also --multi-label and --regression) and text-pair-classification:
  TF-IDF logistic (linear, for --regression) regression over the WordPiece ids
  (`bag_of_words.py`);
* token-classification: the most frequent tag of each word (`tag_lookup.py`);
* question-answering: a fixed span at the start of the context (`span_heuristic.py`);
* embedding: none (there is nothing to predict, so nothing to compare).
"""
from typing import Optional

EMBEDDING_TASK = "embedding"


def has_baseline(config) -> bool:
    return config.task != EMBEDDING_TASK


def describe(config) -> Optional[str]:
    """What the simple baseline of this run is, in a few words (None: the task has none)."""
    if config.task in ("text-classification", "text-pair-classification"):
        kind = "linear" if config.task_options.regression else "logistic"
        return f"TF-IDF {kind} regression over WordPiece ids"
    if config.task == "token-classification":
        return "the most frequent tag of each word"
    if config.task == "question-answering":
        return "the first words of the context (median training answer length)"
    return None
