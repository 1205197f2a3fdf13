"""The TFMA plumbing shared by the project's custom metrics (entity F1, SQuAD EM/F1).

Each such metric is one Beam CombineFn over (labels, predictions), built as
`combiner_class(key, quantity, prediction_key)`; a subclass of `CombinerMetric` names the
combiner class, the quantity it reports and the metric's default name. TFMA has no metric
for decoded sequences or span answers, hence this small base.
"""
from typing import Any, Optional

import apache_beam as beam
from tensorflow_model_analysis.metrics import metric_types


def single_value(value: Any, model_name: str, output_name: str, key: str = "") -> Any:
    """The value for this model/output out of TFMA's (possibly nested) label/prediction;
    `key` picks one output of a signature that returns several (the prediction_key)."""
    for name in (model_name, output_name, key):
        if isinstance(value, dict) and name:
            value = value.get(name, value)
    if isinstance(value, dict):
        if len(value) != 1:
            raise ValueError(f"expected one label/prediction array, got keys {sorted(value)}")
        (value,) = value.values()
    return value


class Combiner(beam.CombineFn):
    """What every combiner of a CombinerMetric is built with (see `_computations_for`)."""

    def __init__(self, key: metric_types.MetricKey, quantity: str, prediction_key: str = ""):
        self._key = key
        self._quantity = quantity
        self._prediction_key = prediction_key


def _computations_for(combiner_class, quantity: str):
    def computations(name: str, eval_config=None, model_names=None, output_names=None,
                     sub_keys=None, aggregation_type=None, class_weights=None,
                     example_weighted=False, query_key=None) -> metric_types.MetricComputations:
        result = []
        for model_name in model_names or [""]:
            for output_name in output_names or [""]:
                # The spec of this model (TFX names them "candidate" and "baseline").
                all_specs = list(eval_config.model_specs) if eval_config else []
                specs = [spec for spec in all_specs if spec.name == model_name] or all_specs
                prediction_key = specs[0].prediction_key if specs else ""
                key = metric_types.MetricKey(name=name, model_name=model_name,
                                             output_name=output_name,
                                             example_weighted=example_weighted)
                result.append(metric_types.MetricComputation(
                    keys=[key], preprocessors=None,
                    combiner=combiner_class(key, quantity, prediction_key)))
        return result
    return computations


class CombinerMetric(metric_types.Metric):
    combiner_class = None
    quantity = ""
    default_name = ""

    def __init__(self, name: Optional[str] = None):
        super().__init__(_computations_for(self.combiner_class, self.quantity),
                         name=name or self.default_name)

    @property
    def compute_confidence_interval(self) -> bool:
        return False
