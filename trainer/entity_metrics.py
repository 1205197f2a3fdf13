"""Token-classification metrics: strict entity-level P/R/F1 (seqeval semantics) and token accuracy.

`entities(tags)` extracts entities from one BIO/IOB2 tag sequence the way
`seqeval.metrics.classification_report(..., mode="strict", scheme=IOB2)` does: an entity starts
at `B-X`, continues over `I-X` and ends before anything else; an `I-X` that does not continue a
`B-X`/`I-X` run of the same type (e.g. at the start, after `O` or after `B-Y`) belongs to no
entity. Precision/recall/F1 are micro-averaged over all entities of all sentences, an entity
counting as correct only when its type, start and end all match.

The TFMA metrics at the end (`TokenAccuracy`, `EntityPrecision`, `EntityRecall`, `EntityF1`)
compute the same numbers in the Evaluator. They read, per example, the label (the word-level
tag strings, padded with "") and the prediction (the predicted tag strings, same layout).
"""
import re
from typing import Dict, Iterable, List, Optional, Sequence, Set, Tuple

import numpy as np

OUTSIDE = "O"
_BIO_TAG = re.compile(r"^([BI])-(.+)$")

Entity = Tuple[str, int, int]  # (type, first word, last word), inclusive


def is_bio_tag_set(tags: Iterable[str]) -> bool:
    """True when every tag is "O", "B-X" or "I-X" and at least one is "B-X"."""
    tags = list(tags)
    if not tags:
        return False
    has_begin = False
    for tag in tags:
        if tag == OUTSIDE:
            continue
        match = _BIO_TAG.match(tag)
        if not match:
            return False
        has_begin = has_begin or match.group(1) == "B"
    return has_begin


def entities(tags: Sequence[str]) -> List[Entity]:
    """The strict IOB2 entities of one tag sequence, in order."""
    found: List[Entity] = []
    current: Optional[List] = None  # [type, start, end]
    for i, tag in enumerate(tags):
        match = _BIO_TAG.match(tag) if tag != OUTSIDE else None
        if match and match.group(1) == "I" and current is not None and current[0] == match.group(2):
            current[2] = i
            continue
        if current is not None:
            found.append(tuple(current))
            current = None
        if match and match.group(1) == "B":
            current = [match.group(2), i, i]
    if current is not None:
        found.append(tuple(current))
    return found


class EntityCounts:
    """Running counts for micro-averaged strict entity P/R/F1 and token accuracy."""

    __slots__ = ("true_positives", "predicted", "actual", "correct_tokens", "tokens")

    def __init__(self):
        self.true_positives = 0
        self.predicted = 0
        self.actual = 0
        self.correct_tokens = 0
        self.tokens = 0

    def add(self, true_tags: Sequence[str], predicted_tags: Sequence[str]) -> "EntityCounts":
        if len(true_tags) != len(predicted_tags):
            raise ValueError(f"{len(true_tags)} true tags but {len(predicted_tags)} predicted")
        gold: Set[Entity] = set(entities(true_tags))
        guess: Set[Entity] = set(entities(predicted_tags))
        self.true_positives += len(gold & guess)
        self.predicted += len(guess)
        self.actual += len(gold)
        self.correct_tokens += sum(t == p for t, p in zip(true_tags, predicted_tags))
        self.tokens += len(true_tags)
        return self

    def merge(self, other: "EntityCounts") -> "EntityCounts":
        for name in self.__slots__:
            setattr(self, name, getattr(self, name) + getattr(other, name))
        return self

    @property
    def precision(self) -> float:
        return self.true_positives / self.predicted if self.predicted else 0.0

    @property
    def recall(self) -> float:
        return self.true_positives / self.actual if self.actual else 0.0

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0

    @property
    def token_accuracy(self) -> float:
        return self.correct_tokens / self.tokens if self.tokens else 0.0


def score(true_sequences: Sequence[Sequence[str]],
          predicted_sequences: Sequence[Sequence[str]]) -> Dict[str, float]:
    """Micro entity precision/recall/F1 and token accuracy over sentences."""
    counts = EntityCounts()
    for true_tags, predicted_tags in zip(true_sequences, predicted_sequences, strict=True):
        counts.add(true_tags, predicted_tags)
    return {"precision": counts.precision, "recall": counts.recall, "f1": counts.f1,
            "token_accuracy": counts.token_accuracy}


# ---- TFMA metrics ------------------------------------------------------------------------------
# Imported lazily by TFMA through MetricConfig(module="trainer.entity_metrics", class_name=...).

from tensorflow_model_analysis.metrics import metric_types  # noqa: E402

from trainer import combiner_metrics  # noqa: E402


def _single(value, model_name: str, output_name: str, key: str = ""):
    return np.asarray(combiner_metrics.single_value(value, model_name, output_name, key)).reshape(-1)


def _tags(values) -> List[str]:
    return [v.decode("utf-8") if isinstance(v, bytes) else str(v) for v in values]


class _SequenceCombiner(combiner_metrics.Combiner):
    def create_accumulator(self) -> EntityCounts:
        return EntityCounts()

    def add_input(self, accumulator: EntityCounts,
                  element: metric_types.StandardMetricInputs) -> EntityCounts:
        labels = _tags(_single(element.label, self._key.model_name, self._key.output_name))
        predictions = _tags(_single(element.prediction, self._key.model_name,
                                    self._key.output_name, self._prediction_key))
        labels = [tag for tag in labels if tag]  # "" pads the batch to its longest sentence
        if len(predictions) < len(labels):
            raise ValueError(f"{len(labels)} labelled words but {len(predictions)} predictions")
        return accumulator.add(labels, [tag or OUTSIDE for tag in predictions[:len(labels)]])

    def merge_accumulators(self, accumulators: Iterable[EntityCounts]) -> EntityCounts:
        result = EntityCounts()
        for accumulator in accumulators:
            result.merge(accumulator)
        return result

    def extract_output(self, accumulator: EntityCounts) -> Dict[metric_types.MetricKey, float]:
        return {self._key: float(getattr(accumulator, self._quantity))}


class _SequenceMetric(combiner_metrics.CombinerMetric):
    combiner_class = _SequenceCombiner


class TokenAccuracy(_SequenceMetric):
    """The share of labelled words whose predicted tag is right."""
    quantity = "token_accuracy"
    default_name = "token_accuracy"


class EntityPrecision(_SequenceMetric):
    quantity = "precision"
    default_name = "entity_precision"


class EntityRecall(_SequenceMetric):
    quantity = "recall"
    default_name = "entity_recall"


class EntityF1(_SequenceMetric):
    quantity = "f1"
    default_name = "entity_f1"


for _metric in (TokenAccuracy, EntityPrecision, EntityRecall, EntityF1):
    metric_types.register_metric(_metric)
