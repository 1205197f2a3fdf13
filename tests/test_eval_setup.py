"""The Evaluators' set-up: slices, calibration, thresholds (trainer/eval_setup.py), run by TFMA."""
import numpy as np
import pytest
import tensorflow as tf
import tensorflow_model_analysis as tfma

import pipeline_config
from trainer import calibration_metrics, eval_setup, slice_features
from trainer import tasks
from trainer.run_context import RunContext


def _context(task="text-classification", **options):
    cfg = pipeline_config.PipelineConfig(task=task)
    for name, value in options.items():
        setattr(cfg.task_options if name in ("regression", "multi_label") else cfg.eval,
                name, value)
    return RunContext(cfg, "/nonexistent", True, 2)


def _thresholds(config):
    return {m.class_name: [(list(t.slicing_specs), t.threshold) for t in m.per_slice_thresholds]
            for spec in config.metrics_specs for m in spec.metrics
            if m.per_slice_thresholds or m.HasField("threshold")}


def test_slices_calibration_and_overall_only_thresholds():
    context = _context(slice_columns=["source", "label"])
    task = tasks.create(context)
    config = eval_setup.candidate_vs_last_blessed(task, context, {"neg": 6, "pos": 4})
    assert [list(s.feature_keys) for s in config.slicing_specs] == [
        [], ["label"], ["words(text)"], ["source"]]
    names = [m.class_name for spec in config.metrics_specs for m in spec.metrics]
    assert "ExpectedCalibrationError" in names and "MultiClassConfusionMatrixPlot" in names
    ((slices, threshold),) = _thresholds(config)["SparseCategoricalAccuracy"]
    assert slices == [tfma.SlicingSpec()]  # the overall slice only, not every label/length
    # The absolute bar is the gate's (from the eval split), not a TFMA threshold on the
    # training split's majority rate.
    assert not threshold.HasField("value_threshold")
    assert threshold.change_threshold.absolute.value == pytest.approx(-0.01)
    # Every metric a gate bar names is computed: per-class AUC for the chance bar.
    bars = task.gate_bars(context, {"neg": 6, "pos": 4}, {"neg": 3, "pos": 2})
    binarized = [m.class_name for spec in config.metrics_specs if spec.HasField("binarize")
                 for m in spec.metrics]
    assert "AUC" in binarized
    assert [b.metrics for b in bars] == [["sparse_categorical_accuracy"], ["auc/class_0"]]
    assert bars[0].threshold == pytest.approx(0.6)  # the eval split's 3 of 5, not 6 of 10


def test_versus_baseline_only_the_headline_metric_must_beat_it_by_the_margin():
    context = _context(baseline_margin=0.02)
    task = tasks.create(context)
    config = eval_setup.candidate_vs_baseline(task, context, {"neg": 6, "pos": 4})
    ((slices, threshold),) = _thresholds(config)["SparseCategoricalAccuracy"]
    assert not threshold.HasField("value_threshold")
    assert threshold.change_threshold.direction == tfma.MetricDirection.HIGHER_IS_BETTER
    assert threshold.change_threshold.absolute.value == pytest.approx(0.02)
    # Regression: mean squared error is lower-is-better, no calibration, no label slice.
    context = _context(regression=True, baseline_margin=0.5)
    task = tasks.create(context)
    config = eval_setup.candidate_vs_baseline(task, context, {"1.0": 2, "3.0": 2})
    ((_, threshold),) = _thresholds(config)["MeanSquaredError"]
    assert threshold.change_threshold.absolute.value == pytest.approx(-0.5)
    names = [m.class_name for spec in config.metrics_specs for m in spec.metrics]
    assert "ExpectedCalibrationError" not in names
    assert [list(s.feature_keys) for s in config.slicing_specs] == [[], ["words(text)"]]


def test_require_beat_baseline_defaults():
    """Required for every task and checkpoint unless explicitly waived or the baseline is off."""
    for task in ("text-classification", "text-pair-classification", "token-classification",
                 "question-answering"):
        assert eval_setup.require_beat_baseline(_context(task).config)
    assert eval_setup.require_beat_baseline(_context(multi_label=True).config)
    assert eval_setup.require_beat_baseline(_context(regression=True).config)
    assert not eval_setup.require_beat_baseline(_context(require_beat_baseline=False).config)
    assert not eval_setup.require_beat_baseline(_context(simple_baseline=False).config)


def test_scratch_checkpoints_are_not_excused_from_the_baseline():
    config = _context().config
    cfg = pipeline_config.resolve(config, pipeline_config.CheckpointFacts("scratch"),
                                  tasks.traits(config.task))
    assert eval_setup.require_beat_baseline(cfg)


def test_every_task_has_bars_whose_metrics_its_eval_config_computes():
    """A trivial predictor must be refusable for every task: each task states an absolute and
    a chance-level bar, and its TFMA config computes the metrics they name."""
    counts = {"token-classification": ({"O": 8, "B-X": 1, "I-X": 1}, {"O": 4, "B-X": 1}),
              "question-answering": ({}, {}), "embedding": ({}, {})}
    for name in tasks.task_names():
        context = _context(name)
        task = tasks.create(context)
        train, evals = counts.get(name, ({"neg": 6, "pos": 4}, {"neg": 3, "pos": 2}))
        bars = task.gate_bars(context, train, evals)
        rules = {b.rule for b in bars}
        assert rules == {"absolute bar", "above chance"}, name
        config = task.eval_config(context, train)
        classes = {m.class_name for spec in config.metrics_specs for m in spec.metrics}
        assert classes, name


def test_expected_calibration_error_by_hand():
    # Two bins used: confidences 0.9 (3 examples, 2 right) and 0.6 (2 examples, both right).
    stats = sum(calibration_metrics.bin_statistics(
        *calibration_metrics.confidences(np.array([label]), np.array(probs), False), 1.0, 10)
        for label, probs in [(0, [0.9, 0.1]), (0, [0.9, 0.1]), (1, [0.9, 0.1]),
                             (1, [0.4, 0.6]), (0, [0.6, 0.4])])
    expected = (3 * abs(2 / 3 - 0.9) + 2 * abs(1.0 - 0.6)) / 5
    assert calibration_metrics.expected_calibration_error(stats) == pytest.approx(expected)
    # Multi-label: every cell is a yes/no decision.
    confidence, correct = calibration_metrics.confidences(np.array([1, 0]), np.array([0.8, 0.7]),
                                                          True)
    assert confidence.tolist() == pytest.approx([0.8, 0.7]) and correct.tolist() == [True, False]


def _example(text, label, probabilities):
    example = tf.train.Example()
    example.features.feature["text"].bytes_list.value.append(text.encode())
    example.features.feature["label"].int64_list.value.append(label)
    example.features.feature["probabilities"].float_list.value.extend(probabilities)
    return example.SerializeToString()


def test_tfma_computes_calibration_per_label_and_length_slice(tmp_path):
    """A model-agnostic TFMA run (predictions stored in the examples) with the Evaluator's
    extractors: the length-bucket feature is added and sliced on, ECE is computed per slice,
    and an accuracy bar that one slice misses does not fail the validation."""
    # Confidences in the middle of the ECE's tenth-wide bins (float32 has no exact 0.7).
    rows = [("good", 1, [0.15, 0.85]), ("fine and good", 1, [0.35, 0.65]),
            ("bad " * 10, 0, [0.95, 0.05]), ("awful", 0, [0.25, 0.75]),
            ("so very bad", 0, [0.85, 0.15])]
    data = str(tmp_path / "examples.tfrecord")
    with tf.io.TFRecordWriter(data) as writer:
        for row in rows:
            writer.write(_example(*row))
    accuracy = tfma.MetricConfig(class_name="SparseCategoricalAccuracy")
    accuracy.per_slice_thresholds.add(
        slicing_specs=[tfma.SlicingSpec()],
        threshold=tfma.MetricThreshold(
            value_threshold=tfma.GenericValueThreshold(lower_bound={"value": 0.7})))
    config = tfma.EvalConfig(
        model_specs=[tfma.ModelSpec(label_key="label", prediction_key="probabilities")],
        slicing_specs=[tfma.SlicingSpec(), tfma.SlicingSpec(feature_keys=["label"]),
                       tfma.SlicingSpec(feature_keys=[slice_features.length_feature(["text"])])],
        metrics_specs=[tfma.MetricsSpec(metrics=[
            tfma.MetricConfig(class_name="ExampleCount"), accuracy,
            calibration_metrics.as_metric_config(multi_label=False)])])
    output = str(tmp_path / "evaluation")
    tfma.run_model_analysis(eval_config=config, data_location=data, output_path=output,
                            extractors=slice_features.custom_extractors(None, config, None))
    by_slice = {}
    for metrics in tfma.load_metrics(output):
        key = tfma.slicer.deserialize_slice_key(metrics.slice_key)
        by_slice[key] = {kv.key.name: kv.value.double_value.value
                         for kv in metrics.metric_keys_and_values}
    assert by_slice[(("words(text)", "1-8"),)]["example_count"] == 4
    assert by_slice[(("words(text)", "9-16"),)]["example_count"] == 1
    overall = by_slice[()]
    assert overall["sparse_categorical_accuracy"] == pytest.approx(0.8)
    # Bins 0.8 (two right, confidence 1.7), 0.6, 0.9 (right) and 0.7 (wrong).
    assert overall["expected_calibration_error"] == pytest.approx(
        (0.3 + 0.35 + 0.05 + 0.75) / 5, abs=1e-6)
    assert by_slice[(("label", 0),)]["sparse_categorical_accuracy"] == pytest.approx(2 / 3)
    assert tfma.load_validation_result(output).validation_ok


@pytest.mark.parametrize("task_name", tasks.BUILTIN_TASKS)
def test_tfma_loads_each_model_once_as_a_plain_saved_model(task_name, monkeypatch, tmp_path):
    """TFMA finds a model's type by trying tf.keras.models.load_model on it (a whole load,
    thrown away) unless the model spec names the type; every Evaluator config names it."""
    from tensorflow_model_analysis.utils import model_util

    keras_loads = []
    monkeypatch.setattr(model_util.tf.keras.models, "load_model",
                        lambda *a, **k: keras_loads.append(a))
    context = _context(task_name)
    task = tasks.create(context)
    counts = {"neg": 6, "pos": 4}
    for config in (eval_setup.candidate_vs_last_blessed(task, context, counts),
                   eval_setup.candidate_vs_baseline(task, context, counts)):
        shared = tfma.default_eval_shared_model(str(tmp_path), eval_config=config)
        assert shared.model_type == tfma.TF_GENERIC
    assert keras_loads == []
