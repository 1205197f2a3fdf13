"""The blessing decision: the two Evaluators' validations combined by components/blessing_gate.py."""
from tensorflow_model_analysis.proto import validation_result_pb2

from components import blessing_gate as gate


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
BELOW_BAR = _result(("accuracy", False, 0.5, "lower"))
REGRESSED = _result(("accuracy", True, -0.05, -0.01))
LOSES_TO_BASELINE = _result(("accuracy", True, -0.3, 0.0))


def _decide(evaluation=PASSED, has_last_blessed=True, baseline=PASSED, required=True):
    outcomes = gate.rule_outcomes(evaluation, evaluation.validation_ok, has_last_blessed,
                                  baseline_result=baseline,
                                  baseline_blessed=None if baseline is None else baseline.validation_ok,
                                  require_beat_baseline=required, baseline_margin=0.0)
    return gate.decide(outcomes)


def test_every_rule_passed():
    decision = _decide()
    assert decision.blessed and decision.decided_by == gate.ALL_PASSED
    assert [o.rule for o in decision.outcomes] == list(gate.RULES)
    assert all(o.applied and o.passed for o in decision.outcomes)


def test_a_candidate_worse_than_the_baseline_is_refused_when_required():
    decision = _decide(baseline=LOSES_TO_BASELINE)
    assert not decision.blessed and decision.decided_by == gate.BEAT_BASELINE
    detail = decision.outcomes[2].detail
    assert "accuracy change vs the simple baseline -0.3" in detail and "+0" in detail


def test_losing_to_the_baseline_is_only_reported_when_not_required():
    decision = _decide(baseline=LOSES_TO_BASELINE, required=False)
    assert decision.blessed and decision.decided_by == gate.ALL_PASSED
    beat = decision.outcomes[2]
    assert not beat.applied and not beat.passed and "(not required)" in beat.detail


def test_the_first_failing_rule_decides():
    decision = _decide(evaluation=BELOW_BAR, baseline=LOSES_TO_BASELINE)
    assert not decision.blessed and decision.decided_by == gate.ABSOLUTE
    assert decision.outcomes[0].detail == "accuracy 0.5 is not above the bar 0.6"
    decision = _decide(evaluation=REGRESSED)
    assert decision.decided_by == gate.NO_REGRESSION
    assert "vs the last blessed model -0.05" in decision.outcomes[1].detail


def test_no_last_blessed_model_and_no_baseline():
    decision = _decide(has_last_blessed=False, baseline=None)
    assert decision.blessed
    regression, beat = decision.outcomes[1:]
    assert not regression.applied and regression.detail == "no blessed model yet"
    assert not beat.applied and "no simple baseline" in beat.detail


def test_an_unblessed_evaluation_without_listed_failures_still_refuses():
    outcomes = gate.rule_outcomes(PASSED, False, True, baseline_result=PASSED,
                                  baseline_blessed=True, require_beat_baseline=True)
    decision = gate.decide(outcomes)
    assert not decision.blessed and decision.decided_by == gate.ABSOLUTE


def test_missing_thresholds_fail_the_absolute_rule():
    result = validation_result_pb2.ValidationResult(validation_ok=False, missing_thresholds=True)
    decision = gate.decide(gate.rule_outcomes(result, False, False))
    assert decision.decided_by == gate.ABSOLUTE and "missing" in decision.outcomes[0].detail
