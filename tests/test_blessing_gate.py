"""The blessing decision (components/blessing_gate.py) and its bars (trainer/gate_bars.py).

Trivial predictors first: a one-class model, a random ranking and an untrained model must never
pass, on balanced and imbalanced eval splits, for every task; then the happy path.
"""
import math
import random

import pytest
from tensorflow_model_analysis.proto import validation_result_pb2

from components import blessing_gate as gate
from trainer import gate_bars


def _result(*failures):
    """A TFMA ValidationResult with overall-slice failures given as (metric, diff, value, kind)."""
    result = validation_result_pb2.ValidationResult(validation_ok=not failures)
    if failures:
        per_slice = result.metric_validations_per_slice.add()
        for name, is_diff, value, threshold in failures:
            failure = per_slice.failures.add()
            failure.metric_key.name = name
            failure.metric_key.is_diff = is_diff
            failure.metric_value.double_value.value = value
            if threshold == "lower":
                failure.metric_threshold.value_threshold.lower_bound.value = 0.6
            else:
                failure.metric_threshold.change_threshold.absolute.value = threshold
    return result


PASSED = _result()
REGRESSED = _result(("sparse_categorical_accuracy", True, -0.05, -0.01))
LOSES_TO_BASELINE = _result(("sparse_categorical_accuracy", True, -0.3, 0.0))

BALANCED = {"neg": 30, "pos": 30}
IMBALANCED = {"neg": 54, "pos": 6}       # 90/10
IDS = {"neg": 0, "pos": 1}


def _bars(eval_counts=BALANCED, min_accuracy=None):
    return gate_bars.single_label_bars(eval_counts, IDS, min_accuracy, 0.95)


GOOD = {"sparse_categorical_accuracy": 0.9, "auc/class_0": 0.95, "auc/class_1": 0.95}
GOOD_BASELINE = {"sparse_categorical_accuracy": 0.8, "auc/class_0": 0.85, "auc/class_1": 0.85}


def _decide(metrics=GOOD, bars=None, evaluation=PASSED, has_last_blessed=True, baseline=PASSED,
            required=True, simple=GOOD_BASELINE):
    outcomes = gate.rule_outcomes(
        _bars() if bars is None else bars, metrics, evaluation, evaluation.validation_ok,
        has_last_blessed, baseline_result=baseline,
        baseline_blessed=None if baseline is None else baseline.validation_ok,
        simple_baseline_metrics=simple, require_beat_baseline=required, baseline_margin=0.0)
    return gate.decide(outcomes)


# ---- Trivial models -----------------------------------------------------------------------

@pytest.mark.parametrize("eval_counts", [BALANCED, IMBALANCED], ids=["balanced", "90/10"])
@pytest.mark.parametrize("predicted", ["neg", "pos"])
def test_a_one_class_model_is_never_blessed(eval_counts, predicted):
    """Predicting one class for every row: accuracy is that class's rate, every AUC 0.5."""
    accuracy = eval_counts[predicted] / sum(eval_counts.values())
    metrics = {"sparse_categorical_accuracy": accuracy, "auc/class_0": 0.5, "auc/class_1": 0.5}
    # Even when the simple baseline is just as bad and beating it is waived.
    decision = _decide(metrics, _bars(eval_counts), has_last_blessed=False, required=False,
                       simple=metrics)
    assert not decision.blessed
    assert decision.decided_by == gate.ABSOLUTE
    chance = decision.outcomes[1]
    assert chance.rule == gate.CHANCE and chance.applied and not chance.passed


def test_the_absolute_bar_is_the_eval_splits_majority_rate_not_the_training_one():
    """The seen case: training majority 0.504, eval majority 0.533, a one-class model scoring
    0.533 was blessed."""
    eval_counts = {"0": 32, "1": 28}
    (accuracy, _) = gate_bars.single_label_bars(eval_counts, {"0": 0, "1": 1}, None, 0.95)
    assert accuracy.threshold == pytest.approx(32 / 60)
    assert "eval split's majority-class rate" in accuracy.reason and "'0' in 32 of 60" in accuracy.reason
    check = gate_bars.check(accuracy, {"sparse_categorical_accuracy": 32 / 60})
    assert not check.passed


def _random_auc(n_pos, n_neg, rng):
    """AUC of random scores (Mann-Whitney)."""
    scored = sorted([(rng.random(), 1) for _ in range(n_pos)] +
                    [(rng.random(), 0) for _ in range(n_neg)])
    rank_sum = sum(rank for rank, (_, positive) in enumerate(scored, start=1) if positive)
    return (rank_sum - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg)


@pytest.mark.parametrize("counts", [BALANCED, IMBALANCED, {"a": 300, "b": 300}],
                         ids=["60 balanced", "60 at 90/10", "600 balanced"])
def test_a_random_ranking_passes_the_chance_bar_about_five_percent_of_the_time(counts):
    rng = random.Random(0)
    (_, auc) = _bars(counts) if counts is not BALANCED else _bars()
    if set(counts) != set(IDS):
        auc = gate_bars.single_label_bars(counts, {k: i for i, k in enumerate(sorted(counts))},
                                          None, 0.95)[1]
    n_pos, n_neg = sorted(counts.values())
    passed = sum(_random_auc(n_pos, n_neg, rng) > auc.threshold for _ in range(400))
    assert passed / 400 < 0.09, (passed, auc.threshold)
    # ...while a model that ranks (AUC 0.9) passes it on the same split.
    assert gate_bars.check(auc, {m: 0.9 for m in auc.metrics}).passed or n_pos < 10


def test_an_untrained_model_with_slightly_varying_outputs_is_refused():
    """Untrained: near-constant probabilities, argmax mostly one class, AUC near 0.5."""
    metrics = {"sparse_categorical_accuracy": 0.52, "auc/class_0": 0.56, "auc/class_1": 0.56}
    decision = _decide(metrics, has_last_blessed=False, simple={})
    # Slightly above the majority rate by luck: the absolute bar alone would pass it.
    assert decision.outcomes[0].passed
    assert not decision.blessed and decision.decided_by == gate.CHANCE
    assert "AUC 0.56, must be above 0.62" in decision.outcomes[1].detail


def test_a_missing_metric_fails_its_bar():
    decision = _decide({"sparse_categorical_accuracy": 0.9})
    assert not decision.blessed and decision.decided_by == gate.CHANCE
    assert "not measured" in decision.outcomes[1].detail


def test_an_eval_split_with_one_class_cannot_show_a_ranking():
    (_, auc) = gate_bars.single_label_bars({"pos": 20}, IDS, None, 0.95)
    assert math.isinf(auc.threshold)
    assert not gate_bars.check(auc, {"auc/class_0": 1.0, "auc/class_1": 1.0}).passed


def test_three_classes_average_the_one_vs_rest_aucs_of_the_classes_present():
    ids = {"a": 0, "b": 1, "c": 2, "d": 3}
    (_, auc) = gate_bars.single_label_bars({"a": 20, "b": 20, "c": 20}, ids, None, 0.95)
    assert auc.metrics == ["auc/class_0", "auc/class_1", "auc/class_2"]
    assert gate_bars.measure(auc, {"auc/class_0": 0.9, "auc/class_1": 0.6, "auc/class_2": 0.6}) \
        == pytest.approx(0.7)


def test_multi_label_bars_best_constant_label_set():
    cells = {"a": 40, "a,b": 40, "c": 20}  # a in 80%, b 40%, c 20% of 100 rows
    f1, chosen = gate_bars.best_constant_micro_f1(cells, ",")
    # always {a}: TP 80, 1*100 + 140 -> 160/240; {a,b}: 120 TP -> 240/340 = 0.706 (best)
    assert chosen == ["a", "b"] and f1 == pytest.approx(240 / 340)
    micro, auc = gate_bars.multi_label_bars(cells, {"a": 0, "b": 1, "c": 2}, ",", None, 0.95)
    assert micro.threshold == pytest.approx(240 / 340)
    # Predicting every label for every row is one of the constant predictors: it cannot pass.
    all_labels = 2 * 140 / (3 * 100 + 140)
    assert not gate_bars.check(micro, {"f1_score": all_labels}).passed
    assert not gate_bars.check(auc, {m: 0.5 for m in auc.metrics}).passed


def test_regression_bars_mean_predictor_and_chance_correlation():
    train = {"1.0": 10, "3.0": 10}            # mean 2
    evals = {"2.0": 10, "4.0": 10}            # mean 3, variance 1: MSE of predicting 2 is 2
    mse, pearson = gate_bars.regression_bars(train, evals, 0.95)
    assert mse.threshold == pytest.approx(2.0) and not mse.higher_is_better
    # Predicting the training mean: MSE 2 (not below), Pearson undefined (not measured).
    assert not gate_bars.check(mse, {"mean_squared_error": 2.0}).passed
    assert not gate_bars.check(pearson, {"pearson": float("nan")}).passed
    assert 0.3 < pearson.threshold < 0.5  # 20 rows: tanh(1.645 / sqrt(17))
    assert gate_bars.check(pearson, {"pearson": 0.8}).passed


def test_token_bars_majority_tag_and_entity_f1():
    tags = {"O": 80, "B-PER": 10, "I-PER": 10}
    accuracy, entity = gate_bars.token_bars(tags, None, bio_tags=True)
    assert accuracy.threshold == pytest.approx(0.8)
    majority_tagger = {"token_accuracy": 0.8, "entity_f1": 0.0}
    assert not gate_bars.check(accuracy, majority_tagger).passed
    assert not gate_bars.check(entity, majority_tagger).passed


def test_qa_chance_bar_is_the_span_heuristic():
    _, chance = gate_bars.span_bars(None)
    assert chance.versus_baseline
    # The candidate no better than the span heuristic (the simple baseline's F1) fails.
    assert not gate_bars.check(chance, {"f1": 0.3}, {"f1": 0.3}).passed
    assert gate_bars.check(chance, {"f1": 0.5}, {"f1": 0.3}).passed
    # Without the baseline's measurement the bar cannot be checked: it fails.
    assert not gate_bars.check(chance, {"f1": 0.5}, {}).passed


def test_embedding_bar_refuses_a_constant_embedding():
    _, spread = gate_bars.embedding_bars()
    assert not gate_bars.check(spread, {"mean_cosine_similarity": 1.0}).passed
    assert gate_bars.check(spread, {"mean_cosine_similarity": 0.4}).passed


# ---- The rules ----------------------------------------------------------------------------

def test_every_rule_passed():
    decision = _decide()
    assert decision.blessed and decision.decided_by == gate.ALL_PASSED
    assert [o.rule for o in decision.outcomes] == list(gate.RULES)
    assert all(o.applied and o.passed for o in decision.outcomes)
    absolute = decision.outcomes[0]
    (check,) = absolute.checks
    assert check["value"] == 0.9 and check["threshold"] == 0.5 and check["passed"]


def test_a_candidate_worse_than_the_baseline_is_refused_by_default():
    decision = _decide(baseline=LOSES_TO_BASELINE,
                       simple={**GOOD_BASELINE, "sparse_categorical_accuracy": 0.95})
    assert not decision.blessed and decision.decided_by == gate.BEAT_BASELINE
    detail = decision.outcomes[3].detail
    assert "worse than the simple baseline by 0.05" in detail


def test_waiving_the_baseline_says_by_how_much_the_candidate_is_worse():
    decision = _decide(baseline=LOSES_TO_BASELINE, required=False,
                       simple={**GOOD_BASELINE, "sparse_categorical_accuracy": 0.95})
    assert decision.blessed and decision.decided_by == gate.ALL_PASSED
    beat = decision.outcomes[3]
    assert not beat.applied and not beat.passed
    assert "worse than the simple baseline by 0.05" in beat.detail and "waived" in beat.detail


def test_the_first_failing_rule_decides():
    decision = _decide({"sparse_categorical_accuracy": 0.4, "auc/class_1": 0.9},
                       baseline=LOSES_TO_BASELINE)
    assert not decision.blessed and decision.decided_by == gate.ABSOLUTE
    assert decision.outcomes[0].detail.startswith("accuracy 0.4, must be above 0.5 (")
    decision = _decide(evaluation=REGRESSED)
    assert decision.decided_by == gate.NO_REGRESSION
    assert "vs the last blessed model -0.05" in decision.outcomes[2].detail


def test_no_last_blessed_model_and_no_baseline():
    decision = _decide(has_last_blessed=False, baseline=None)
    assert decision.blessed
    regression, beat = decision.outcomes[2:]
    assert not regression.applied and regression.detail == "no blessed model yet"
    assert not beat.applied and beat.detail == gate.NO_BASELINE


def test_a_switched_off_baseline_is_not_called_missing():
    """eval.simple_baseline=false on a task that has one: the rule says it was switched off."""
    outcomes = gate.rule_outcomes(_bars(), GOOD, PASSED, True, False, baseline_result=None,
                                  no_baseline_reason=gate.BASELINE_OFF)
    beat = outcomes[3]
    assert not beat.applied and beat.detail == gate.BASELINE_OFF
    assert "eval.simple_baseline=false" in beat.detail and "no simple baseline" not in beat.detail


def test_an_unblessed_evaluation_without_listed_failures_still_refuses():
    outcomes = gate.rule_outcomes(_bars(), GOOD, PASSED, False, True, baseline_result=PASSED,
                                  baseline_blessed=True, simple_baseline_metrics=GOOD_BASELINE)
    decision = gate.decide(outcomes)
    assert not decision.blessed and decision.decided_by == gate.NO_REGRESSION


def test_missing_thresholds_fail_the_regression_rule_once_a_model_was_blessed():
    result = validation_result_pb2.ValidationResult(validation_ok=False, missing_thresholds=True)
    decision = gate.decide(gate.rule_outcomes(_bars(), GOOD, result, False, True))
    assert decision.decided_by == gate.NO_REGRESSION and "missing" in decision.outcomes[2].detail


def test_a_first_run_is_judged_by_the_bars_not_by_the_evaluators_empty_validation():
    """Without a last blessed model TFMA drops the change thresholds and reports missing
    thresholds (not blessed); the bars decide."""
    result = validation_result_pb2.ValidationResult(validation_ok=False, missing_thresholds=True)
    decision = gate.decide(gate.rule_outcomes(_bars(), GOOD, result, False, False))
    assert decision.blessed, decision
    bad = {"sparse_categorical_accuracy": 0.5, "auc/class_0": 0.5, "auc/class_1": 0.5}
    assert not gate.decide(gate.rule_outcomes(_bars(), bad, result, False, False)).blessed


def _quick(metrics, baseline_result, simple=GOOD_BASELINE):
    """A quick run: one Evaluator (vs the simple baseline), whose result is the evaluation."""
    return gate.decide(gate.rule_outcomes(
        _bars(), metrics, baseline_result, False, False, baseline_result=baseline_result,
        baseline_blessed=baseline_result.validation_ok, simple_baseline_metrics=simple,
        compared_with_last_blessed=False))


def test_a_quick_run_is_judged_without_the_last_blessed_model():
    decision = _quick(GOOD, PASSED)
    assert decision.blessed and decision.decided_by == gate.ALL_PASSED
    regression = decision.outcomes[2]
    assert not regression.applied and regression.detail == gate.NOT_COMPARED
    # The baseline Evaluator's change threshold is the beat-the-baseline rule, not a regression.
    decision = _quick(GOOD, LOSES_TO_BASELINE,
                      simple={**GOOD_BASELINE, "sparse_categorical_accuracy": 0.95})
    assert not decision.blessed and decision.decided_by == gate.BEAT_BASELINE
    assert decision.outcomes[2].passed


def test_a_quick_run_still_refuses_trivial_models():
    one_class = {"sparse_categorical_accuracy": 0.5, "auc/class_0": 0.5, "auc/class_1": 0.5}
    decision = _quick(one_class, PASSED, simple={**GOOD_BASELINE,
                                                 "sparse_categorical_accuracy": 0.4})
    assert not decision.blessed and decision.decided_by == gate.ABSOLUTE
