"""TFMA metrics for question-answering: SQuAD exact match and F1 of the served answers.

Imported by TFMA through MetricConfig(module="trainer.qa_metrics", class_name=...). Per example
the label is the raw `answers_text` feature (the gold answers; none for an unanswerable
question) and the prediction is the serving signature's `answer` string. Values are fractions
(0..1), averaged over examples, each the max over the gold answers (trainer/qa_postprocess.py).
"""
from typing import Dict, Iterable, List

import numpy as np
from tensorflow_model_analysis.metrics import metric_types

from trainer import combiner_metrics, qa_postprocess


def _strings(value, model_name: str, output_name: str, key: str = "") -> List[str]:
    value = combiner_metrics.single_value(value, model_name, output_name, key)
    if value is None:
        return []
    if hasattr(value, "values") and hasattr(value, "indices"):  # a sparse value
        value = value.values
    values = np.asarray(value, dtype=object).reshape(-1)
    return [v.decode("utf-8") if isinstance(v, bytes) else str(v) for v in values]


class _Combiner(combiner_metrics.Combiner):
    def create_accumulator(self):
        return [0.0, 0]

    def add_input(self, accumulator, element: metric_types.StandardMetricInputs):
        golds = [g for g in _strings(element.label, self._key.model_name,
                                     self._key.output_name) if g]
        predictions = _strings(element.prediction, self._key.model_name,
                               self._key.output_name, self._prediction_key)
        prediction = predictions[0] if predictions else ""
        metric = qa_postprocess.exact_match if self._quantity == "exact_match" else qa_postprocess.f1
        accumulator[0] += qa_postprocess.max_over_golds(metric, prediction, golds)
        accumulator[1] += 1
        return accumulator

    def merge_accumulators(self, accumulators: Iterable):
        total = [0.0, 0]
        for value, count in accumulators:
            total[0] += value
            total[1] += count
        return total

    def extract_output(self, accumulator) -> Dict[metric_types.MetricKey, float]:
        value, count = accumulator
        return {self._key: float(value / count) if count else 0.0}


class _SquadMetric(combiner_metrics.CombinerMetric):
    combiner_class = _Combiner


class SquadExactMatch(_SquadMetric):
    quantity = "exact_match"
    default_name = "exact_match"


class SquadF1(_SquadMetric):
    quantity = "f1"
    default_name = "f1"


for _metric in (SquadExactMatch, SquadF1):
    metric_types.register_metric(_metric)
