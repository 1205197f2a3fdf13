"""The Evaluators' set-up around a task's own EvalConfig (trainer/tasks/*.py `eval_config`).

The gate's absolute and chance-level bars are the task's `gate_bars` (trainer/gate_bars.py),
checked by components/blessing_gate.py from the measured metrics; TFMA holds the change
thresholds. `candidate_vs_last_blessed` is the task's config plus
  * slices: overall, by label (the raw label column; for token-classification the tags), by
    text length (trainer/slice_features.py) and by every `eval.slice_columns` column;
  * for classifiers: the expected calibration error (trainer/calibration_metrics.py) and a
    confusion matrix;
  * every model loaded as a plain SavedModel (TF_GENERIC), as it is served;
  * thresholds checked on the overall slice only (TFMA applies a MetricConfig's threshold to
    every slice, which would make a small slice veto the blessing).
`candidate_vs_baseline` has the same metrics and slices; its only threshold is on the task's
headline metric (the one with a change threshold): the candidate must beat the simple baseline
by eval.baseline_margin.
"""
import copy
from typing import List

import tensorflow_model_analysis as tfma

from trainer import calibration_metrics
from trainer.slice_features import length_feature


def require_beat_baseline(config) -> bool:
    """eval.require_beat_baseline, or by default: on whenever the simple baseline runs (every
    task that has one, every checkpoint, scratch included)."""
    if config.eval.require_beat_baseline is not None:
        return bool(config.eval.require_beat_baseline)
    return bool(config.eval.simple_baseline)


def gate_bars(task, context, label_counts, eval_label_counts) -> List[dict]:
    """The task's absolute and chance-level bars for the gate, as JSON-ready dicts."""
    return [bar.to_dict() for bar in task.gate_bars(context, label_counts, eval_label_counts)]


def slicing_specs(task, config) -> List[tfma.SlicingSpec]:
    columns = [task.label_slice_column(config), length_feature(task.raw_text_columns(config))]
    columns += [c for c in config.eval.slice_columns if c not in columns]
    return [tfma.SlicingSpec()] + [tfma.SlicingSpec(feature_keys=[c]) for c in columns if c]


def classifier_metrics(task, existing: List[str]) -> List[tfma.MetricConfig]:
    """ECE and a confusion matrix for tasks with class probabilities (`Task.calibrated`:
    text(-pair) classification, not --regression)."""
    if not task.calibrated:
        return []
    multi_label = task.multi_label
    matrix = "MultiLabelConfusionMatrixPlot" if multi_label else "MultiClassConfusionMatrixPlot"
    metrics = [calibration_metrics.as_metric_config(multi_label)]
    if matrix not in existing:
        metrics.append(tfma.MetricConfig(class_name=matrix))
    return metrics


def _overall_only(metric: tfma.MetricConfig) -> None:
    if metric.HasField("threshold"):
        metric.per_slice_thresholds.add(slicing_specs=[tfma.SlicingSpec()],
                                        threshold=metric.threshold)
        metric.ClearField("threshold")


def candidate_vs_last_blessed(task, context, label_counts) -> tfma.EvalConfig:
    config = copy.deepcopy(task.eval_config(context, label_counts))
    cfg = context.config
    for spec in config.model_specs:
        # Without a model_type TFMA calls tf.keras.models.load_model on every model only to
        # find its type (model_util.get_model_type), then loads it again. Our exports carry
        # their own signatures and are served as plain SavedModels, which is what TFMA falls
        # back to anyway: saying so saves a full load per model (~1.5-3 s each).
        spec.model_type = spec.model_type or tfma.TF_GENERIC
    for spec in config.metrics_specs:
        for metric in spec.metrics:
            _overall_only(metric)
    existing = [m.class_name for spec in config.metrics_specs for m in spec.metrics]
    extra = classifier_metrics(task, existing)
    if extra:
        config.metrics_specs.add(metrics=extra)
        if not task.multi_label and label_counts:
            # The report's reliability diagram: TFMA's calibration histogram per class.
            config.metrics_specs.add(
                metrics=[tfma.MetricConfig(class_name="CalibrationPlot")],
                binarize=tfma.BinarizationOptions(
                    class_ids={"values": list(range(len(label_counts)))}))
    del config.slicing_specs[:]
    config.slicing_specs.extend(slicing_specs(task, cfg))
    return config


def candidate_vs_baseline(task, context, label_counts) -> tfma.EvalConfig:
    config = candidate_vs_last_blessed(task, context, label_counts)
    margin = context.config.eval.baseline_margin
    for spec in config.metrics_specs:
        for metric in spec.metrics:
            changes = [t.threshold.change_threshold for t in metric.per_slice_thresholds
                       if t.threshold.HasField("change_threshold")]
            del metric.per_slice_thresholds[:]
            for change in changes:
                better = change.direction == tfma.MetricDirection.HIGHER_IS_BETTER
                metric.per_slice_thresholds.add(
                    slicing_specs=[tfma.SlicingSpec()],
                    threshold=tfma.MetricThreshold(change_threshold=tfma.GenericChangeThreshold(
                        direction=change.direction,
                        absolute={"value": margin if better else -margin})))
    return config
