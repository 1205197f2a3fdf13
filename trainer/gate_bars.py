"""The bars a candidate must clear before it can be blessed, from the eval split it is judged on.

Two rules every task states (components/blessing_gate.py applies them):

* the **absolute bar**: the headline metric must beat what a *trivial predictor* scores on the
  eval split (`eval.min_accuracy` replaces it when set): the majority class for accuracy, the
  best constant label set for multi-label micro-F1, the training mean for regression MSE, the
  majority tag for token accuracy;
* the **chance level**: a model whose ranking is random must fail, however the labels are
  balanced: the mean one-vs-rest AUC must exceed 0.5, and Pearson correlation 0, by the margin
  a random ranking reaches on an eval split of this size with probability 1 - confidence
  (`eval.chance_confidence`, one-sided); entity F1 must be above 0; QA F1 above the span
  heuristic's (`versus_baseline`: the simple baseline's value, read when the gate runs).

Nothing here imports TensorFlow: the bars are plain numbers computed from label counts, so the
pipeline, the gate, the summary and the tests share them.
"""
import dataclasses
import math
import statistics
from typing import Dict, List, Mapping, Optional, Sequence

from trainer import label_order

ABSOLUTE = "absolute bar"
CHANCE = "above chance"


@dataclasses.dataclass
class Bar:
    rule: str                  # ABSOLUTE or CHANCE
    label: str                 # how people call the metric, e.g. "accuracy"
    metrics: List[str]         # the metric(s) as the run record names them; several: their mean
    threshold: float
    higher_is_better: bool = True
    reason: str = ""           # where the threshold comes from, in words
    # The threshold is the simple baseline's value of `metrics` (read when the gate runs).
    versus_baseline: bool = False

    def to_dict(self) -> Dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: Mapping) -> "Bar":
        return cls(**d)


@dataclasses.dataclass
class Check:
    """One bar applied to measured metrics."""
    bar: Bar
    value: Optional[float]
    threshold: float
    passed: bool

    def describe(self) -> str:
        """E.g. "accuracy 0.5333, must be above 0.5333 (the eval split's majority-class rate:
        'neg' in 32 of 60 rows): FAILED"."""
        side = "above" if self.bar.higher_is_better else "below"
        value = "not measured" if self.value is None else f"{self.value:.4g}"
        return (f"{self.bar.label} {value}, must be {side} {self.threshold:.4g} "
                f"({self.bar.reason}): {'passed' if self.passed else 'FAILED'}")

    def to_dict(self) -> Dict:
        return {"metric": self.bar.label, "value": self.value, "threshold": self.threshold,
                "higher_is_better": self.bar.higher_is_better, "reason": self.bar.reason,
                "passed": self.passed, "text": self.describe()}


def measure(bar: Bar, metrics: Mapping[str, float]) -> Optional[float]:
    """The bar's value in `metrics` (the mean of its metrics); None when one is missing or NaN."""
    values = [metrics.get(name) for name in bar.metrics]
    if not values or any(v is None or not math.isfinite(v) for v in values):
        return None
    return sum(values) / len(values)


def check(bar: Bar, metrics: Mapping[str, float],
          baseline_metrics: Optional[Mapping[str, float]] = None) -> Check:
    """Applies `bar`; a metric that was not measured fails (a gate never guesses)."""
    threshold = bar.threshold
    if bar.versus_baseline:
        measured = measure(bar, baseline_metrics or {})
        if measured is None:
            return Check(bar, measure(bar, metrics), float("nan"), False)
        threshold = measured
    value = measure(bar, metrics)
    if value is None:
        return Check(bar, None, threshold, False)
    passed = value > threshold if bar.higher_is_better else value < threshold
    return Check(bar, value, threshold, passed)


def _z(confidence: float) -> float:
    return statistics.NormalDist().inv_cdf(confidence)


def auc_chance_margin(positives: int, negatives: int, confidence: float) -> float:
    """How far above 0.5 a random ranking's AUC gets with probability 1 - confidence:
    z * sqrt((n1 + n0 + 1) / (12 n1 n0)) (the Mann-Whitney statistic's spread under no
    information; Hanley & McNeil 1982)."""
    if positives < 1 or negatives < 1:
        return float("inf")
    return _z(confidence) * math.sqrt((positives + negatives + 1) / (12 * positives * negatives))


def correlation_chance_bar(n: int, confidence: float) -> float:
    """The Pearson correlation a random predictor stays under with probability `confidence` on
    n pairs (Fisher's z: atanh(r) has spread 1/sqrt(n - 3) under no correlation)."""
    if n < 4:
        return 1.0
    return math.tanh(_z(confidence) / math.sqrt(n - 3))


def _total(counts: Mapping[str, int]) -> int:
    return sum(counts.values())


def majority_rate(counts: Mapping[str, int]) -> float:
    total = _total(counts)
    return max(counts.values()) / total if total else 1.0


def single_label_bars(eval_counts: Mapping[str, int], label_ids: Mapping[str, int],
                      min_accuracy: Optional[float], confidence: float) -> List[Bar]:
    """Accuracy above the eval split's majority-class rate; mean one-vs-rest AUC above chance.

    `label_ids`: label -> class id of the model (its label vocabulary). The AUC is averaged
    over the classes that the eval split has with both positives and negatives."""
    total = _total(eval_counts)
    majority = majority_rate(eval_counts)
    if min_accuracy is None:
        top = max(eval_counts, key=eval_counts.get) if eval_counts else "?"
        accuracy = Bar(ABSOLUTE, "accuracy", ["sparse_categorical_accuracy"], majority,
                       reason=f"the eval split's majority-class rate: {top!r} in "
                       f"{eval_counts.get(top, 0):,} of {total:,} rows")
    else:
        accuracy = Bar(ABSOLUTE, "accuracy", ["sparse_categorical_accuracy"], min_accuracy,
                       reason="eval.min_accuracy")
    classes = sorted(label_ids[label] for label, n in eval_counts.items()
                     if label in label_ids and 0 < n < total)
    margins = [auc_chance_margin(n, total - n, confidence)
               for label, n in eval_counts.items() if label in label_ids and 0 < n < total]
    if len(label_ids) == 2 and classes:
        classes = classes[:1]  # with two classes both one-vs-rest AUCs are the same number
        margins = margins[:1]
    margin = sum(margins) / len(margins) if margins else float("inf")
    auc = Bar(CHANCE, "AUC" if len(classes) == 1 else "mean one-vs-rest AUC",
              [f"auc/class_{c}" for c in classes] or ["auc/class_0"], 0.5 + margin,
              reason=f"0.5 (chance) + {margin:.3g}, the margin a random ranking of "
              f"{total:,} eval rows stays under {confidence:.0%} of the time")
    return [accuracy, auc]


def rows_per_label(cells: Mapping[str, int], separator: str) -> Dict[str, int]:
    """How many rows carry each label, from the counts of multi-label cells."""
    per_label: Dict[str, int] = {}
    for cell, count in cells.items():
        for label in set(label_order.split_cell(cell, separator)):
            per_label[label] = per_label.get(label, 0) + count
    return per_label


def best_constant_micro_f1(eval_cells: Mapping[str, int], separator: str) -> (float, List[str]):
    """The best micro-F1 of predicting one fixed label set for every row, and that set.

    For a set S of s labels over N rows with P positive cells in all, micro-F1 is
    2 TP(S) / (s N + P); for each s the best S is the s most frequent labels."""
    rows = _total(eval_cells)
    per_label = rows_per_label(eval_cells, separator)
    ranked = sorted(per_label, key=lambda k: (-per_label[k], k))
    positives = sum(per_label.values())
    best, best_set, tp = 0.0, [], 0
    for s, label in enumerate(ranked, start=1):
        tp += per_label[label]
        f1 = 2 * tp / (s * rows + positives) if rows else 0.0
        if f1 > best:
            best, best_set = f1, ranked[:s]
    return best, best_set


def multi_label_bars(eval_cells: Mapping[str, int], label_ids: Mapping[str, int],
                     separator: str, min_accuracy: Optional[float],
                     confidence: float) -> List[Bar]:
    """Micro-F1 above the best constant label set; mean per-label AUC above chance."""
    rows = _total(eval_cells)
    if min_accuracy is None:
        f1, chosen = best_constant_micro_f1(eval_cells, separator)
        micro = Bar(ABSOLUTE, "micro F1", ["f1_score"], f1,
                    reason="the best constant prediction on the eval split: always "
                    + (", ".join(repr(c) for c in chosen) if chosen else "nothing"))
    else:
        micro = Bar(ABSOLUTE, "micro F1", ["f1_score"], min_accuracy, reason="eval.min_accuracy")
    per_label = rows_per_label(eval_cells, separator)
    usable = {label: n for label, n in per_label.items() if label in label_ids and 0 < n < rows}
    margins = [auc_chance_margin(n, rows - n, confidence) for n in usable.values()]
    margin = sum(margins) / len(margins) if margins else float("inf")
    auc = Bar(CHANCE, "mean per-label AUC",
              [f"auc/class_{label_ids[label]}" for label in sorted(usable, key=label_ids.get)]
              or ["auc/class_0"], 0.5 + margin,
              reason=f"0.5 (chance) + {margin:.3g}, the margin a random ranking of {rows:,} "
              f"eval rows stays under {confidence:.0%} of the time")
    return [micro, auc]


def _numbers(counts: Mapping[str, int]) -> List[tuple]:
    out = []
    for value, count in counts.items():
        try:
            number = float(value)
        except ValueError:
            continue
        if math.isfinite(number):
            out.append((number, count))
    return out


def regression_bars(train_counts: Mapping[str, int], eval_counts: Mapping[str, int],
                    confidence: float) -> List[Bar]:
    """MSE below predicting the training mean for every eval row; Pearson above chance."""
    train, evals = _numbers(train_counts), _numbers(eval_counts)
    n_train = sum(c for _, c in train) or 1
    mean = sum(v * c for v, c in train) / n_train
    n_eval = sum(c for _, c in evals)
    mse = (sum(c * (v - mean) ** 2 for v, c in evals) / n_eval) if n_eval else float("inf")
    bars = [Bar(ABSOLUTE, "MSE", ["mean_squared_error"], mse, higher_is_better=False,
                reason=f"predicting the training mean {mean:.4g} for every eval row")]
    bars.append(Bar(CHANCE, "Pearson correlation", ["pearson"],
                    correlation_chance_bar(n_eval, confidence),
                    reason=f"0 (chance) + the margin a random predictor reaches on {n_eval:,} "
                    f"eval rows {1 - confidence:.0%} of the time"))
    return bars


def token_bars(eval_tag_counts: Mapping[str, int], min_accuracy: Optional[float],
               bio_tags: bool) -> List[Bar]:
    """Token accuracy above tagging every word with the eval split's most frequent tag; with
    BIO tags, entity F1 above 0 (what that majority tagger scores)."""
    total = _total(eval_tag_counts)
    if min_accuracy is None:
        top = max(eval_tag_counts, key=eval_tag_counts.get) if eval_tag_counts else "?"
        bars = [Bar(ABSOLUTE, "token accuracy", ["token_accuracy"], majority_rate(eval_tag_counts),
                    reason=f"tagging every eval word {top!r} ({eval_tag_counts.get(top, 0):,} of "
                    f"{total:,} words)")]
    else:
        bars = [Bar(ABSOLUTE, "token accuracy", ["token_accuracy"], min_accuracy,
                    reason="eval.min_accuracy")]
    if bio_tags:
        bars.append(Bar(CHANCE, "entity F1", ["entity_f1"], 0.0,
                        reason="0, what a tagger that finds no entity scores"))
    return bars


def span_bars(min_f1: Optional[float]) -> List[Bar]:
    """QA: some answer overlaps (F1 above 0, or eval.min_accuracy), and F1 above the span
    heuristic (the simple baseline: the first words of the context)."""
    return [Bar(ABSOLUTE, "F1", ["f1"], 0.0 if min_f1 is None else min_f1,
                reason="0, no answer overlapping" if min_f1 is None else "eval.min_accuracy"),
            Bar(CHANCE, "F1", ["f1"], float("nan"), versus_baseline=True,
                reason="the span heuristic's F1 on the eval split (the first words of the "
                "context)")]


def embedding_bars() -> List[Bar]:
    """An embedding model is judged by whether it tells texts apart: the mean cosine similarity
    of different eval texts' embeddings must be below 0.99 (a constant model scores 1)."""
    return [Bar(ABSOLUTE, "examples embedded", ["example_count"], 0.0,
                reason="at least one eval text embedded"),
            Bar(CHANCE, "mean cosine similarity of different texts", ["mean_cosine_similarity"],
                0.99, higher_is_better=False,
                reason="a model that maps every text to the same vector scores 1")]


def label_ids_in_order(labels: Sequence[str]) -> Dict[str, int]:
    return {label: i for i, label in enumerate(labels)}

