"""Trivial predictors through the real TFMA metrics and the real gate.

Each task variant's own EvalConfig metrics are computed by TFMA (model-agnostic: the predictions
are stored in the examples) for a one-class, a constant, a random and a good predictor on
balanced and imbalanced eval splits; the task's gate bars are then checked on exactly what TFMA
reported, by name. Only the good predictor may pass.
"""
import random

import pytest
import tensorflow as tf
import tensorflow_model_analysis as tfma

import pipeline_config
from components import blessing_gate as gate
from trainer import gate_bars, tasks
from trainer.run_context import RunContext
from trainer.tasks import text_classification as tc


def _context(**options):
    cfg = pipeline_config.PipelineConfig()
    for name, value in options.items():
        setattr(cfg.task_options, name, value)
    return RunContext(cfg, "/nonexistent", True, 2)


def _evaluate(tmp_path, context, label_counts, rows_by_predictor, label_key, prediction_key):
    """One TFMA run over every predictor's rows of (label values, prediction values), with the
    task's metrics, sliced by predictor: {predictor: overall metrics of its rows}."""
    from components.metric_names import metric_name
    task = tasks.create(context)
    config = task.eval_config(context, label_counts)
    del config.model_specs[:]
    config.model_specs.add(label_key=label_key, prediction_key=prediction_key)
    for spec in config.metrics_specs:  # the change thresholds need a baseline model
        for metric in spec.metrics:
            metric.ClearField("threshold")
    del config.slicing_specs[:]
    config.slicing_specs.add(feature_keys=["predictor"])
    data = str(tmp_path / "examples.tfrecord")
    with tf.io.TFRecordWriter(data) as writer:
        for predictor, rows in rows_by_predictor.items():
            for label, prediction in rows:
                example = tf.train.Example()
                feature = example.features.feature
                feature["predictor"].bytes_list.value.append(predictor.encode())
                if isinstance(label, int):
                    feature[label_key].int64_list.value.append(label)
                else:
                    feature[label_key].float_list.value.extend(label)
                feature[prediction_key].float_list.value.extend(prediction)
                writer.write(example.SerializeToString())
    output = str(tmp_path / "evaluation")
    tfma.run_model_analysis(eval_config=config, data_location=data, output_path=output)
    found = {}
    for metrics in tfma.load_metrics(output):
        key = dict(tfma.slicer.deserialize_slice_key(metrics.slice_key))
        predictor = key.get("predictor")
        predictor = predictor.decode() if isinstance(predictor, bytes) else predictor
        found[predictor] = {metric_name(kv.key): kv.value.double_value.value
                            for kv in metrics.metric_keys_and_values
                            if kv.value.HasField("double_value")}
    return found


def _judge(context, train_counts, eval_counts, metrics):
    bars = tasks.create(context).gate_bars(context, train_counts, eval_counts)
    outcomes = {o.rule: o for o in gate.rule_outcomes(
        bars, metrics, tfma.ValidationResult(validation_ok=True), True, False)}
    return outcomes[gate.ABSOLUTE], outcomes[gate.CHANCE]


TRAIN = {"neg": 100, "pos": 100}


def _single_label_rows(counts, predict):
    rows = []
    for label_id, n in enumerate([counts["neg"], counts["pos"]]):
        rows += [(label_id, predict(label_id)) for _ in range(n)]
    return rows


@pytest.mark.parametrize("counts", [{"neg": 30, "pos": 30}, {"neg": 54, "pos": 6}],
                         ids=["balanced", "90/10"])
def test_single_label_one_class_and_random_models_fail_good_one_passes(tmp_path, counts):
    context = _context()
    rng = random.Random(3)
    predictors = {
        "one class (majority)": lambda y: [0.8, 0.2],
        "one class (minority)": lambda y: [0.3, 0.7],
        "random": lambda y: (lambda p: [1 - p, p])(rng.random()),
        "good": lambda y: [0.1, 0.9] if y else [0.9, 0.1],
    }
    rows = {name: _single_label_rows(counts, predict) for name, predict in predictors.items()}
    measured = _evaluate(tmp_path, context, TRAIN, rows, tc.TextClassificationTask.label_feature,
                         "probabilities")
    results = {}
    for name in predictors:
        absolute, chance = _judge(context, TRAIN, counts, measured[name])
        results[name] = (absolute.passed, chance.passed, measured[name])
    for name in ("one class (majority)", "one class (minority)", "random"):
        absolute_ok, chance_ok, metrics = results[name]
        assert not (absolute_ok and chance_ok), (name, metrics)
    assert not results["one class (majority)"][0]  # accuracy == the majority rate: not above
    assert not results["one class (majority)"][1] and not results["one class (minority)"][1]
    assert results["good"][:2] == (True, True), results["good"][2]


def test_multi_label_constant_label_sets_fail_good_one_passes(tmp_path):
    context = _context(multi_label=True)
    cells = {"a": 20, "a,b": 20, "c": 20}
    train = {"a": 50, "a,b": 50, "c": 50}
    truth = [[1, 0, 0]] * 20 + [[1, 1, 0]] * 20 + [[0, 0, 1]] * 20
    predictors = {"every label": lambda t: [0.9, 0.9, 0.9], "most frequent": lambda t: [0.9, 0.1, 0.1],
                  "nothing": lambda t: [0.1, 0.1, 0.1],
                  "good": lambda t: [0.2 + 0.7 * v for v in t]}
    rows = {name: [([float(v) for v in t], predict(t)) for t in truth]
            for name, predict in predictors.items()}
    measured = _evaluate(tmp_path, context, train, rows, tc.MULTI_HOT_FEATURE, "probabilities")
    for name in predictors:
        absolute, chance = _judge(context, train, cells, measured[name])
        if name == "good":
            assert absolute.passed and chance.passed, measured[name]
        else:
            assert not absolute.passed and not chance.passed, (name, measured[name])


def test_regression_mean_predictor_fails_good_one_passes(tmp_path):
    context = _context(regression=True)
    train = {"1.0": 50, "3.0": 50}                    # mean 2
    values = [1.0, 2.0, 3.0, 4.0] * 10
    evals = {str(v): values.count(v) for v in set(values)}
    rng = random.Random(5)
    predictors = {"training mean": lambda y: 2.0, "random": lambda y: rng.uniform(1, 4),
                  "good": lambda y: y + rng.uniform(-0.3, 0.3)}
    rows = {name: [([y], [predict(y)]) for y in values] for name, predict in predictors.items()}
    measured = _evaluate(tmp_path, context, train, rows, tc.REGRESSION_FEATURE, "score")
    for name in predictors:
        absolute, chance = _judge(context, train, evals, measured[name])
        if name == "good":
            assert absolute.passed and chance.passed, measured[name]
        else:
            assert not chance.passed, (name, measured[name])


def test_metric_names_the_bars_use_are_what_tfma_reports(tmp_path):
    """A renamed metric would make every bar 'not measured' (and block every model)."""
    context = _context()
    rows = {"half": _single_label_rows({"neg": 5, "pos": 5}, lambda y: [0.5, 0.5])}
    metrics = _evaluate(tmp_path, context, TRAIN, rows, tc.TextClassificationTask.label_feature,
                        "probabilities")["half"]
    bars = tasks.create(context).gate_bars(context, TRAIN, {"neg": 5, "pos": 5})
    for bar in bars:
        assert gate_bars.measure(bar, metrics) is not None, (bar.metrics, sorted(metrics))


def test_token_classification_majority_and_random_taggers_fail_good_one_passes():
    """Scored by the project's own entity metrics (what the Evaluator's TFMA metrics compute)."""
    from trainer import entity_metrics
    rng = random.Random(1)
    sentences = []
    for _ in range(40):
        tags = ["O"] * rng.randint(3, 8)
        start = rng.randrange(len(tags) - 1)
        tags[start:start + 2] = ["B-PER", "I-PER"]
        sentences.append(tags)
    eval_tags = {}
    for tags in sentences:
        for tag in tags:
            eval_tags[tag] = eval_tags.get(tag, 0) + 1
    context = RunContext(pipeline_config.PipelineConfig(task="token-classification"),
                         "/nonexistent", True, 3)
    bars = tasks.create(context).gate_bars(context, eval_tags, eval_tags)
    tag_set = sorted(eval_tags)
    taggers = {"majority": lambda tags: ["O"] * len(tags),
               "random": lambda tags: [rng.choice(tag_set) for _ in tags],
               "good": lambda tags: list(tags)}
    for name, tagger in taggers.items():
        scores = entity_metrics.score(sentences, [tagger(tags) for tags in sentences])
        metrics = {"token_accuracy": scores["token_accuracy"], "entity_f1": scores["f1"]}
        checks = [gate_bars.check(bar, metrics) for bar in bars]
        assert all(c.passed for c in checks) == (name == "good"), (name, metrics)


def test_question_answering_span_heuristic_is_the_chance_bar():
    """The simple baseline (the first words of the context) is a trivial predictor: a
    candidate answering the same spans scores the same F1 and fails."""
    from trainer import qa_postprocess
    contexts = [("Paris is the capital of France.", "Paris"),
                ("The river that runs through London is the Thames.", "the Thames"),
                ("Mount Everest, the highest mountain, is in Nepal.", "Nepal")]
    heuristic = [" ".join(c.split()[:2]) for c, _ in contexts]
    golds = [[answer] for _, answer in contexts]
    baseline_f1 = qa_postprocess.squad_scores(heuristic, golds)["f1"] / 100
    context = RunContext(pipeline_config.PipelineConfig(task="question-answering"),
                         "/nonexistent", True, 0)
    bars = tasks.create(context).gate_bars(context, {}, {})
    same = {"f1": baseline_f1}
    assert not all(gate_bars.check(b, same, {"f1": baseline_f1}).passed for b in bars)
    good = {"f1": qa_postprocess.squad_scores([a for _, a in contexts], golds)["f1"] / 100}
    assert all(gate_bars.check(b, good, {"f1": baseline_f1}).passed for b in bars)
