"""Expected calibration error (ECE) as a TFMA metric.

TFMA has calibration plots and the overall `Calibration` ratio (mean prediction / mean label)
but no ECE, so this one combiner is written here. It is the top-label ECE of Guo et al. (2017):
predictions are put in `num_bins` equal-width bins by their confidence, and

    ECE = sum over bins of (examples in bin / examples) * |accuracy in bin - mean confidence in bin|

Single-label: the confidence is the largest class probability and "correct" means its class is
the label. Multi-label (`multi_label=True`): every (example, label) cell is a yes/no prediction,
with confidence max(p, 1 - p) and "correct" meaning (p >= 0.5) equals the cell's label.

Imported by TFMA through MetricConfig(module="trainer.calibration_metrics",
class_name="ExpectedCalibrationError", config='"multi_label": true').
"""
from typing import Dict, Iterable, Tuple

import apache_beam as beam
import numpy as np
from tensorflow_model_analysis.metrics import metric_types
from tensorflow_model_analysis.metrics import metric_util

NAME = "expected_calibration_error"
DEFAULT_NUM_BINS = 10


def confidences(label: np.ndarray, prediction: np.ndarray,
                multi_label: bool) -> Tuple[np.ndarray, np.ndarray]:
    """(confidence, correct) per yes/no decision of one example (see the module doc)."""
    prediction = np.asarray(prediction, dtype=np.float64).reshape(-1)
    label = np.asarray(label).reshape(-1)
    if multi_label:
        truth = label.astype(np.float64) >= 0.5
        return np.maximum(prediction, 1.0 - prediction), (prediction >= 0.5) == truth
    if label.size == prediction.size and label.size > 1:
        class_id = int(np.argmax(label))  # a one-hot label
    elif label.size == 1:
        class_id = int(label[0])
    else:
        raise ValueError(f"expected a class id or a one-hot label for {prediction.size} "
                         f"classes, got {label.tolist()}")
    if class_id < 0:  # a label outside the training vocabulary: no decision to score
        return np.zeros([0]), np.zeros([0], dtype=bool)
    return np.array([prediction.max()]), np.array([int(np.argmax(prediction)) == class_id])


def bin_statistics(confidence: np.ndarray, correct: np.ndarray, weight: float,
                   num_bins: int) -> np.ndarray:
    """[num_bins, 3]: weighted count, sum of confidences and sum of correct decisions."""
    bins = np.minimum((confidence * num_bins).astype(np.int64), num_bins - 1)
    stats = np.zeros([num_bins, 3])
    np.add.at(stats, bins, np.stack([np.full_like(confidence, weight),
                                     weight * confidence, weight * correct], axis=1))
    return stats


def expected_calibration_error(stats: np.ndarray) -> float:
    total = stats[:, 0].sum()
    if total <= 0:
        return float("nan")
    return float(np.abs(stats[:, 2] - stats[:, 1]).sum() / total)


class _ExpectedCalibrationErrorCombiner(beam.CombineFn):
    def __init__(self, key: metric_types.MetricKey, eval_config, multi_label: bool,
                 num_bins: int):
        self._key = key
        self._eval_config = eval_config
        self._multi_label = multi_label
        self._num_bins = num_bins

    def create_accumulator(self) -> np.ndarray:
        return np.zeros([self._num_bins, 3])

    def add_input(self, accumulator: np.ndarray,
                  element: metric_types.StandardMetricInputs) -> np.ndarray:
        for label, prediction, weight in metric_util.to_label_prediction_example_weight(
                element, eval_config=self._eval_config, model_name=self._key.model_name,
                output_name=self._key.output_name,
                example_weighted=self._key.example_weighted, flatten=False):
            confidence, correct = confidences(label, prediction, self._multi_label)
            if confidence.size:
                accumulator += bin_statistics(confidence, correct,
                                              float(np.asarray(weight).reshape(-1)[0]),
                                              self._num_bins)
        return accumulator

    def merge_accumulators(self, accumulators: Iterable[np.ndarray]) -> np.ndarray:
        total = self.create_accumulator()
        for accumulator in accumulators:
            total += accumulator
        return total

    def extract_output(self, accumulator: np.ndarray) -> Dict[metric_types.MetricKey, float]:
        return {self._key: expected_calibration_error(accumulator)}


def _computations(name: str = NAME, eval_config=None, model_name: str = "",
                  output_name: str = "", example_weighted: bool = False,
                  multi_label: bool = False,
                  num_bins: int = DEFAULT_NUM_BINS) -> metric_types.MetricComputations:
    key = metric_types.MetricKey(name=name, model_name=model_name, output_name=output_name,
                                 example_weighted=example_weighted)
    return [metric_types.MetricComputation(
        keys=[key], preprocessors=None,
        combiner=_ExpectedCalibrationErrorCombiner(key, eval_config, multi_label, num_bins))]


class ExpectedCalibrationError(metric_types.Metric):
    """Top-label expected calibration error; lower is better, 0 is perfectly calibrated."""

    def __init__(self, name: str = NAME, multi_label: bool = False,
                 num_bins: int = DEFAULT_NUM_BINS):
        super().__init__(metric_util.merge_per_key_computations(_computations), name=name,
                         multi_label=multi_label, num_bins=num_bins)

    @property
    def compute_confidence_interval(self) -> bool:
        return False


metric_types.register_metric(ExpectedCalibrationError)


def as_metric_config(multi_label: bool):
    """The MetricConfig that adds this metric to a TFMA EvalConfig."""
    import tensorflow_model_analysis as tfma
    return tfma.MetricConfig(class_name=ExpectedCalibrationError.__name__, module=__name__,
                             config=f'"multi_label": {"true" if multi_label else "false"}')
