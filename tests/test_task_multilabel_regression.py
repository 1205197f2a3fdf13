"""text-classification --multi-label and --regression.

Unit tests: the Transform output of each variant, loss and metrics on their targets, the TFMA
bars; slow: each variant learns with the real pretrained checkpoint. One CLI run per variant
with a tiny ELECTRA, whose pushed SavedModel is then queried in a fresh process that imports
only TensorFlow and TF Text, is in tests/test_task_multilabel_regression_e2e.py.
"""
import math
import random

import numpy as np
import pytest
import tensorflow as tf

import pipeline_config
from trainer.run_context import RunContext
from trainer import tasks
from trainer.tasks import text_classification as tc

TOPICS = {"food": ["pizza", "pasta", "soup", "bread"],
          "tech": ["laptop", "phone", "robot", "software"],
          "sport": ["football", "tennis", "golf", "hockey"]}
FILLER = ["the", "this", "was", "really", "quite", "a", "very", "and", "it", "is", "my", "our"]
POSITIVE = ["great", "excellent", "wonderful", "lovely", "fantastic", "superb"]


def multi_label_rows(n, seed):
    """Sentences naming one or two topics; the label cell lists them, comma-separated."""
    rng = random.Random(seed)
    combos = [["food"], ["tech"], ["sport"], ["food", "tech"], ["food", "sport"],
              ["tech", "sport"]]
    rows = []
    for i in range(n):
        labels = combos[i % len(combos)]
        words = rng.sample(FILLER, 2) + [rng.choice(TOPICS[t]) for t in labels]
        rng.shuffle(words)
        rows.append((" ".join(words), ",".join(labels)))
    return rows


def regression_rows(n, seed):
    """Sentences with k of 3 slots holding a positive word; the score is k / 3."""
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        k = i % 4
        words = rng.sample(FILLER, 5) + rng.sample(POSITIVE, k)
        rng.shuffle(words)
        rows.append((" ".join(words), f"{k / 3:.4f}"))
    return rows


def config(**task_options):
    cfg = pipeline_config.PipelineConfig()
    for key, value in task_options.items():
        setattr(cfg.task_options, key, value)
    cfg.model.max_seq_length = 16
    return cfg


# ---- Unit tests --------------------------------------------------------------------------

def test_flags_cannot_be_combined():
    with pytest.raises(pipeline_config.ConfigError, match="cannot be combined"):
        tasks.create(config(multi_label=True, regression=True))


def test_each_variant_is_its_own_task_class():
    assert type(tasks.create(config())) is tc.TextClassificationTask
    assert type(tasks.create(config(multi_label=True))) is tc.MultiLabelTextClassificationTask
    assert type(tasks.create(config(regression=True))) is tc.RegressionTextClassificationTask


def _split(task, **labels):
    """The targets of one batch, made by the task's own split_features."""
    (name, value), = labels.items()
    n = len(value)
    example = {f: tf.zeros([n, 1], tf.int64) for f in ("input_ids", "attention_mask",
                                                       "token_type_ids")}
    example[name] = tf.constant(value)
    return task.split_features(example)[1]


def test_multi_label_targets_are_multi_hot_over_the_run_labels():
    """No packing and no 63-label limit: the target is a multi-hot vector as wide as the
    run's label list (RunContext.labels)."""
    labels = [f"l{i}" for i in range(100)]
    task = tasks.create(RunContext(config(multi_label=True), "unused", True, labels=labels))
    hot = _split(task, label_ids=[[0, 2], [-1, -1], [99, -1]]).numpy()
    assert hot.shape == (3, 100)
    assert hot[0].nonzero()[0].tolist() == [0, 2] and hot[1].sum() == 0
    assert hot[2].nonzero()[0].tolist() == [99]
    task = tasks.create(RunContext(config(regression=True), "unused", True))
    np.testing.assert_allclose(_split(task, label_value=[0.3, -2.5]).numpy(), [0.3, -2.5])
    task = tasks.create(RunContext(config(), "unused", True))
    assert _split(task, label_id=[3, -1]).numpy().tolist() == [3, -1]


def test_multi_label_loss_and_f1_on_multi_hot_targets():
    task = tasks.create(RunContext(config(multi_label=True), "unused", True,
                                   labels=["a", "b", "c"]))
    y_true = _split(task, label_ids=[[0, 2], [1, -1]])
    logits = tf.constant([[5.0, -5.0, 5.0], [-5.0, 5.0, 5.0]])  # 2nd row: one false positive
    loss = float(task.loss()(y_true, logits))
    truth = np.array([[1, 0, 1], [0, 1, 0]], np.float32)
    expected = float(tf.reduce_mean(tf.nn.sigmoid_cross_entropy_with_logits(truth, logits)))
    assert loss == pytest.approx(expected, rel=1e-5)
    micro, macro = task.metrics()
    micro.update_state(y_true, logits)
    macro.update_state(y_true, logits)
    # tp=3, fp=1, fn=0 -> micro F1 6/7; per label F1 = 1, 1, 2/3.
    assert float(micro.result()) == pytest.approx(6 / 7, rel=1e-5)
    assert float(macro.result()) == pytest.approx((1 + 1 + 2 / 3) / 3, rel=1e-5)


def test_regression_loss_and_pearson():
    task = tasks.create(config(regression=True))
    y_true = _split(task, label_value=[0.0, 0.5, 1.0, 0.25])
    pred = tf.constant([[0.1], [0.4], [0.8], [0.3]])
    assert float(task.loss()(y_true, pred)) == pytest.approx(
        np.mean((np.array([0.1, 0.4, 0.8, 0.3]) - [0.0, 0.5, 1.0, 0.25]) ** 2), rel=1e-5)
    (pearson,) = task.metrics()
    pearson.update_state(y_true[:2], pred[:2])
    pearson.update_state(y_true[2:], pred[2:])
    assert float(pearson.result()) == pytest.approx(
        np.corrcoef([0.1, 0.4, 0.8, 0.3], [0.0, 0.5, 1.0, 0.25])[0, 1], rel=1e-4)


def test_single_label_loss_unchanged():
    task = tasks.create(config())
    y_true = _split(task, label_id=[1, 0])
    logits = tf.constant([[0.2, 1.0], [2.0, -1.0]])
    expected = tf.keras.losses.sparse_categorical_crossentropy([1, 0], logits, from_logits=True)
    assert float(task.loss()(y_true, logits)) == pytest.approx(float(tf.reduce_mean(expected)))


def test_correlation_metrics_combine_like_scipy():
    """TFMA's Pearson/Spearman combiners, fed in two shards and merged, equal scipy's."""
    from scipy import stats
    from tensorflow_model_analysis.metrics import metric_types
    from trainer import regression_metrics as rm
    rng = np.random.default_rng(0)
    labels = rng.normal(size=40)
    scores = np.exp(labels) + rng.normal(scale=0.3, size=40)  # monotone-ish, not linear
    expected = {"pearson": stats.pearsonr(labels, scores)[0],
                "spearman": stats.spearmanr(labels, scores).correlation}
    for metric in (rm.PearsonCorrelation(), rm.SpearmanCorrelation()):
        (computation,) = metric.computations(model_names=[""], output_names=[""])
        combiner = computation.combiner
        shards = []
        for part in (slice(0, 15), slice(15, 40)):
            accumulator = combiner.create_accumulator()
            for label, score in zip(labels[part], scores[part]):
                accumulator = combiner.add_input(accumulator, metric_types.StandardMetricInputs(
                    label=np.array([label]), prediction={"score": np.array([score])},
                    example_weight=np.array([1.0])))
            shards.append(accumulator)
        (value,) = combiner.extract_output(combiner.merge_accumulators(shards)).values()
        assert value == pytest.approx(expected[metric.name], abs=1e-9), metric.name
    assert expected["spearman"] != pytest.approx(expected["pearson"], abs=1e-3)
    assert math.isnan(rm.correlation("spearman", [1.0, 1.0, 1.0], [0.1, 0.2, 0.3]))


def test_eval_bars():
    """The gate's bars come from the eval split: regression MSE below predicting the training
    mean there; multi-label micro F1 above the best constant label set there. TFMA keeps only
    the change thresholds."""
    cfg = config(regression=True)
    context = RunContext(cfg, "unused", True)
    task = tasks.create(context)
    ec = task.eval_config(context, {"0.0": 2, "1.0": 2})
    (spec,) = ec.metrics_specs
    mse = [m for m in spec.metrics if m.class_name == "MeanSquaredError"][0]
    assert not mse.threshold.HasField("value_threshold")
    assert ec.model_specs[0].label_key == tc.REGRESSION_FEATURE
    # Training mean 0.5; eval labels 1.0 and 2.0: MSE of predicting 0.5 = (0.25 + 2.25) / 2.
    (mse_bar, pearson_bar) = task.gate_bars(context, {"0.0": 2, "1.0": 2}, {"1.0": 1, "2.0": 1})
    assert mse_bar.threshold == pytest.approx(1.25) and not mse_bar.higher_is_better
    assert pearson_bar.metrics == ["pearson"]
    cfg = config(multi_label=True)
    context = RunContext(cfg, "unused", True)
    task = tasks.create(context)
    ec = task.eval_config(context, {"a,b": 1, "a": 1, "b , c": 2})
    micro = ec.metrics_specs[1].metrics[0]
    assert not micro.threshold.HasField("value_threshold")
    assert ec.metrics_specs[1].aggregate.micro_average
    assert ec.metrics_specs[3].aggregate.macro_average
    # Eval: a in 2 of 4 rows, b in 3, c in 2 (7 label cells). Always {b}: 2*3/(4+7);
    # {a,b}: 2*5/(8+7); every label: 2*7/(12+7), the best constant prediction here.
    (micro_bar, auc_bar) = task.gate_bars(context, {"a,b": 1, "a": 1, "b , c": 2},
                                          {"a,b": 1, "a": 1, "b , c": 2})
    assert micro_bar.threshold == pytest.approx(14 / 19)
    assert auc_bar.metrics == ["auc/class_0", "auc/class_1", "auc/class_2"]


def test_transform_outputs_of_each_variant(tmp_path):
    """The preprocessing of each variant on raw tensors (no tf.Transform analyzers needed
    for regression; multi-label goes through a real AnalyzeAndTransformDataset)."""
    import tensorflow_transform.beam as tft_beam
    from tensorflow_transform.tf_metadata import dataset_metadata, schema_utils
    from tests.test_task_text_pair import tiny_vocab_checkpoint

    ckpt = tiny_vocab_checkpoint(tmp_path, ["pizza", "laptop", "golf", "the"])
    rows = [{"text": "the pizza", "label": "food"}, {"text": "laptop golf", "label": "tech, sport"},
            {"text": "golf", "label": "sport"}]
    spec = {"text": tf.io.FixedLenFeature([], tf.string),
            "label": tf.io.FixedLenFeature([], tf.string)}
    metadata = dataset_metadata.DatasetMetadata(schema_utils.schema_from_feature_spec(spec))
    cfg = config(multi_label=True)
    context = RunContext(cfg, ckpt, True)
    task = tasks.create(context)
    with tft_beam.Context(temp_dir=str(tmp_path / "tft"), force_tf_compat_v1=False):
        (out, _), _ = (rows, metadata) | tft_beam.AnalyzeAndTransformDataset(
            lambda inputs: task.preprocess(inputs, context))
    vocab = {"sport": None, "food": None, "tech": None}
    ids = [list(r[tc.MULTI_LABEL_FEATURE]) for r in out]
    assert [len(i) for i in ids] == [1, 2, 1]
    assert ids[1][1] == ids[2][0] and len({ids[0][0], ids[1][0], ids[1][1]}) == 3, ids
    assert all(0 <= i < len(vocab) for r in ids for i in r)

    cfg = config(regression=True)
    task = tasks.create(cfg)
    outputs = task.preprocess({"text": tf.constant([["a"], ["b"]]),
                               "label": tf.constant([[0.25], [1.5]])}, RunContext(cfg, ckpt, True))
    assert outputs[tc.REGRESSION_FEATURE].numpy().tolist() == [0.25, 1.5]
    outputs = task.preprocess({"text": tf.constant(["a"]), "label": tf.constant([" 0.75"])},
                              RunContext(cfg, ckpt, True))
    assert outputs[tc.REGRESSION_FEATURE].numpy().tolist() == [0.75]


# ---- Quality with the real pretrained checkpoint (../shared) ------------------------------

def _quality_context(checkpoint, **task_options):
    cfg = config(**task_options)
    cfg.model.max_seq_length = 32
    return RunContext(cfg, str(checkpoint), True)


STRING = tf.io.FixedLenFeature([], tf.string)


@pytest.mark.slow
def test_multi_label_learns_with_pretrained_checkpoint(shared_checkpoint, tmp_path):
    from tests import task_quality
    train, held_out = multi_label_rows(192, 3), multi_label_rows(60, 4)
    context = _quality_context(shared_checkpoint, multi_label=True)
    task = tasks.create(context)
    transform_output = task_quality.analyze(
        task, context, [{"text": t, "label": y} for t, y in train],
        {"text": STRING, "label": STRING}, str(tmp_path))
    names = task_quality.label_vocabulary(transform_output)
    assert sorted(names) == ["food", "sport", "tech"]
    import dataclasses
    context = dataclasses.replace(context, labels=names)
    task = tasks.create(context)

    def targets(rows):
        return task_quality.targets(multi=[[names.index(x) for x in y.split(",")]
                                           for _, y in rows], num_labels=len(names))

    model, before, after, _, x_eval = task_quality.fit(
        task, context, {"text": [t for t, _ in train]}, targets(train),
        {"text": [t for t, _ in held_out]}, targets(held_out), num_labels=3, epochs=3,
        learning_rate=1e-4)
    p = 0.5  # 9 positive cells of 18 per 6 examples
    baseline = 2 * p / (1 + p)
    print(f"multi-label: loss {before['loss']:.3f} -> {after['loss']:.3f}, micro F1 "
          f"{after['micro_f1']:.3f}, macro F1 {after['macro_f1']:.3f} (all-labels baseline "
          f"{baseline:.3f})")
    assert after["loss"] < before["loss"] - 0.05
    assert after["micro_f1"] > baseline + 0.15 and after["macro_f1"] > baseline + 0.15
    # The served model answers what the trained Keras model computes.
    saved = task_quality.export_serving_model(task, context, model, transform_output,
                                              str(tmp_path))
    served = task_quality.serve(saved, "serve_text", {"text": [t for t, _ in held_out]})
    keras_probs = tf.sigmoid(model.predict(x_eval, verbose=0)).numpy()
    np.testing.assert_allclose(np.array(served["probabilities"]), keras_probs, atol=1e-4)
    expected = [",".join(n for n, p in zip(names, row) if p >= 0.5) for row in keras_probs]
    assert served["labels"] == expected


@pytest.mark.slow
def test_regression_learns_with_pretrained_checkpoint(shared_checkpoint, tmp_path):
    from tests import task_quality
    from scipy import stats
    train, held_out = regression_rows(192, 3), regression_rows(80, 4)
    context = _quality_context(shared_checkpoint, regression=True)
    task = tasks.create(context)
    model, before, after, _, x_eval = task_quality.fit(
        task, context, {"text": [t for t, _ in train]},
        task_quality.targets(values=[float(y) for _, y in train]),
        {"text": [t for t, _ in held_out]},
        task_quality.targets(values=[float(y) for _, y in held_out]), num_labels=1,
        epochs=3, learning_rate=1e-4)
    truth = np.array([float(y) for _, y in held_out])
    predicted = model.predict(x_eval, verbose=0).reshape(-1)
    spearman = stats.spearmanr(predicted, truth).correlation
    variance = float(np.var(truth))
    print(f"regression: loss (MSE) {before['loss']:.4f} -> {after['loss']:.4f} (predict-the-mean "
          f"baseline {variance:.4f}), Pearson {after['pearson']:.3f}, Spearman {spearman:.3f}")
    assert after["loss"] < variance / 2 and after["loss"] < before["loss"]
    assert after["pearson"] > 0.7 and spearman > 0.7
    transform_output = task_quality.analyze(
        task, context, [{"text": t, "label": float(y)} for t, y in train],
        {"text": STRING, "label": tf.io.FixedLenFeature([], tf.float32)}, str(tmp_path))
    saved = task_quality.export_serving_model(task, context, model, transform_output,
                                              str(tmp_path))
    served = task_quality.serve(saved, "serve_text", {"text": [t for t, _ in held_out]})
    np.testing.assert_allclose(np.array(served["score"]), predicted, atol=1e-4)
