"""TFMA metrics for regression: Pearson and Spearman correlation of the served score.

TFMA 0.47 offers `SquaredPearsonCorrelation` (r², which hides the sign) and no rank
correlation, so both are written here on the shared combiner base. Rank correlation needs every
(label, score) pair, so the accumulator keeps them: two floats per eval example.
Imported by TFMA through MetricConfig(module="trainer.regression_metrics", class_name=...).
"""
from typing import Dict, Iterable, List, Tuple

import numpy as np
from scipy import stats
from tensorflow_model_analysis.metrics import metric_types

from trainer import combiner_metrics


def _floats(value, model_name: str, output_name: str, key: str = "") -> np.ndarray:
    """The values of one label/prediction, which TFMA may nest in dicts by model and output."""
    value = combiner_metrics.single_value(value, model_name, output_name, key)
    return np.asarray(value, dtype=np.float64).reshape(-1)


def correlation(quantity: str, labels: List[float], scores: List[float]) -> float:
    """Pearson or Spearman correlation; NaN when either side is constant or too short."""
    if len(labels) < 2 or np.ptp(labels) == 0 or np.ptp(scores) == 0:
        return float("nan")
    if quantity == "pearson":
        return float(stats.pearsonr(labels, scores)[0])
    return float(stats.spearmanr(labels, scores).correlation)


class _Combiner(combiner_metrics.Combiner):
    def create_accumulator(self) -> Tuple[List[float], List[float]]:
        return [], []

    def add_input(self, accumulator, element: metric_types.StandardMetricInputs):
        labels = _floats(element.label, self._key.model_name, self._key.output_name)
        scores = _floats(element.prediction, self._key.model_name, self._key.output_name,
                         self._prediction_key)
        if labels.size != scores.size:
            raise ValueError(f"{self._key.name}: {labels.size} labels but {scores.size} scores")
        accumulator[0].extend(labels.tolist())
        accumulator[1].extend(scores.tolist())
        return accumulator

    def merge_accumulators(self, accumulators: Iterable):
        labels, scores = [], []
        for more_labels, more_scores in accumulators:
            labels.extend(more_labels)
            scores.extend(more_scores)
        return labels, scores

    def extract_output(self, accumulator) -> Dict[metric_types.MetricKey, float]:
        return {self._key: correlation(self._quantity, *accumulator)}


class _Correlation(combiner_metrics.CombinerMetric):
    combiner_class = _Combiner


class PearsonCorrelation(_Correlation):
    quantity = "pearson"
    default_name = "pearson"


class SpearmanCorrelation(_Correlation):
    quantity = "spearman"
    default_name = "spearman"


for _metric in (PearsonCorrelation, SpearmanCorrelation):
    metric_types.register_metric(_metric)
