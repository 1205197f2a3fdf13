"""BlessingGate: the one ModelBlessing the Pusher reads, and which rule decided it.

TFX's Evaluator compares a candidate with one baseline model, so two Evaluators run:
`Evaluator` (candidate vs the last blessed model: no regression) and `baseline_evaluator`
(candidate vs the simple baseline trained in the same run). The gate applies four rules, in
this order, and blesses the candidate only when every rule that applies passed:

  1. absolute bar      the headline metric beats a trivial predictor on the eval split
                       (trainer/gate_bars.py; eval.min_accuracy replaces it when set);
  2. above chance      a model whose ranking is random fails (AUC, correlation, entity F1,
                       the QA span heuristic), whatever the class balance;
  3. no regression     no worse than the last blessed model by more than eval.max_accuracy_drop
                       (applies once a model has been blessed);
  4. beat the simple baseline  by eval.baseline_margin, for every task that has one and every
                       checkpoint; waived only by --no-require-beat-baseline, and then the
                       outcome says by how much the candidate is worse.

Rules 1 and 2 are computed here from the candidate's measured metrics (the bars are passed in
as JSON), so each rule carries its threshold and measured value; rules 3 and 4 come from the
Evaluators' ValidationResults.

Its blessing carries the Evaluator's custom properties (`blessed`, `current_model`,
`current_model_id`, and `baseline_model`/`baseline_model_id` for the last blessed model) so the
LatestBlessedModelStrategy and the Pusher read it as usual, plus:
  `decided_by`  the first rule that failed, or ALL_PASSED;
  `rules`       JSON list of {"rule", "applied", "passed", "detail", "checks"} for RULES in
                order; each check is {"metric", "value", "threshold", "higher_is_better",
                "reason", "passed", "text"};
  `require_beat_baseline` (int), `baseline_margin` (float), `simple_baseline` (its description),
  `baseline_gap` (float: candidate minus simple baseline on the headline metric, when measured).
"""
import dataclasses
import json
import os
from typing import Dict, List, Mapping, Optional

import tensorflow as tf
from tfx import v1 as tfx
from tfx.components.evaluator import constants as evaluator_constants

from trainer import gate_bars

ABSOLUTE = gate_bars.ABSOLUTE
CHANCE = gate_bars.CHANCE
NO_REGRESSION = "no regression vs the last blessed model"
BEAT_BASELINE = "beat the simple baseline"
RULES = (ABSOLUTE, CHANCE, NO_REGRESSION, BEAT_BASELINE)
ALL_PASSED = "all rules passed"

LAST_BLESSED = "the last blessed model"
SIMPLE_BASELINE = "the simple baseline"


@dataclasses.dataclass
class RuleOutcome:
    rule: str
    # False when the rule did not take part in the decision (no last blessed model yet; the
    # baseline comparison waived). `passed` is still reported when it was measured.
    applied: bool
    passed: bool
    detail: str = ""
    checks: List[Dict] = dataclasses.field(default_factory=list)


@dataclasses.dataclass
class Decision:
    blessed: bool
    decided_by: str
    outcomes: List[RuleOutcome]


# The no-regression rule's detail in a quick run (pipeline/evaluation.py).
NOT_COMPARED = "not compared: a quick run (--quick) is not compared with the last blessed model"
# Why beat-the-baseline did not apply, when no simple baseline ran.
NO_BASELINE = "this task has no simple baseline"
BASELINE_OFF = "the simple baseline is switched off by eval.simple_baseline=false"


def describe_failure(failure, versus: str = LAST_BLESSED) -> str:
    """E.g. 'accuracy 0.4035 is not above the bar 0.5' or 'accuracy change vs the last
    blessed model -0.03 is beyond the allowed change -0.01'."""
    key = failure.metric_key
    name = key.name
    if key.HasField("sub_key"):
        if key.sub_key.HasField("class_id"):
            name += f"/class_{key.sub_key.class_id.value}"
        elif key.sub_key.HasField("top_k"):
            name += f"/top_{key.sub_key.top_k.value}"
    if key.is_diff:
        name += f" change vs {versus}"
    value = failure.metric_value.double_value.value
    threshold = failure.metric_threshold
    if threshold.HasField("value_threshold"):
        bound = threshold.value_threshold
        if bound.HasField("lower_bound"):
            return f"{name} {value:.4g} is not above the bar {bound.lower_bound.value:.4g}"
        if bound.HasField("upper_bound"):
            return f"{name} {value:.4g} is above the limit {bound.upper_bound.value:.4g}"
    if threshold.HasField("change_threshold"):
        change = threshold.change_threshold
        return (f"{name} {value:+.4g} is beyond the allowed change "
                f"{change.absolute.value:+.4g}")
    return f"{name} {value:.4g}: {failure.message or 'threshold failed'}"


def _failures(validation_result, diff: Optional[bool], versus: str) -> List[str]:
    """Overall-slice failures of value (diff=False) or change (diff=True) thresholds."""
    found = []
    for per_slice in validation_result.metric_validations_per_slice:
        for failure in per_slice.failures:
            if diff is None or failure.metric_key.is_diff == diff:
                found.append(describe_failure(failure, versus))
    return found


def _bar_outcome(rule: str, bars: List[gate_bars.Bar], metrics: Mapping[str, float],
                 baseline_metrics: Mapping[str, float]) -> RuleOutcome:
    checks = [gate_bars.check(bar, metrics, baseline_metrics) for bar in bars if bar.rule == rule]
    if not checks:
        return RuleOutcome(rule, False, True, "no bar of this kind for the task")
    failed = [c for c in checks if not c.passed]
    detail = "; ".join(c.describe() for c in (failed or checks))
    return RuleOutcome(rule, True, not failed, detail, [c.to_dict() for c in checks])


def headline_gap(bars: List[gate_bars.Bar], candidate: Mapping[str, float],
                 simple_baseline: Mapping[str, float]) -> Optional[float]:
    """Candidate minus simple baseline on the headline metric (the first absolute bar's),
    signed so that a negative gap means the candidate is worse."""
    headline = next((b for b in bars if b.rule == ABSOLUTE), None)
    if headline is None:
        return None
    ours, theirs = gate_bars.measure(headline, candidate), gate_bars.measure(headline, simple_baseline)
    if ours is None or theirs is None:
        return None
    return (ours - theirs) if headline.higher_is_better else (theirs - ours)


def rule_outcomes(bars: List[gate_bars.Bar], metrics: Mapping[str, float],
                  evaluation_result, evaluator_blessed: bool, has_last_blessed: bool,
                  baseline_result=None, baseline_blessed: Optional[bool] = None,
                  simple_baseline_metrics: Optional[Mapping[str, float]] = None,
                  require_beat_baseline: bool = True,
                  baseline_margin: float = 0.0,
                  compared_with_last_blessed: bool = True,
                  no_baseline_reason: str = NO_BASELINE) -> List[RuleOutcome]:
    """The four rules from the candidate's metrics, the bars, and the two Evaluators'
    ValidationResults and blessings. `compared_with_last_blessed=False`: the pipeline has no
    Evaluator against the last blessed model (--quick); `evaluation_result` is then the
    baseline Evaluator's, whose change thresholds are the beat-the-baseline rule's.
    `no_baseline_reason`: why no simple baseline ran, when `baseline_result` is None."""
    simple = simple_baseline_metrics or {}
    absolute = _bar_outcome(ABSOLUTE, bars, metrics, simple)
    chance = _bar_outcome(CHANCE, bars, metrics, simple)
    # Value thresholds in a task's TFMA config still count as absolute bars.
    extra = _failures(evaluation_result, False, LAST_BLESSED)
    # The Evaluator's own thresholds are the change thresholds against the last blessed model;
    # without one, TFMA has nothing to validate (it reports missing thresholds, not blessed).
    regression = (_failures(evaluation_result, True, LAST_BLESSED)
                  if compared_with_last_blessed else [])
    if has_last_blessed and not regression:
        if evaluation_result.missing_thresholds:
            regression.append("a metric with a threshold is missing from the evaluation")
        elif not evaluator_blessed and not extra:
            regression.append("the Evaluator did not bless the candidate")
    if extra:
        absolute = RuleOutcome(ABSOLUTE, True, False,
                               "; ".join(filter(None, [absolute.detail] + extra)), absolute.checks)
    outcomes = [
        absolute, chance,
        RuleOutcome(NO_REGRESSION, has_last_blessed, not regression,
                    "; ".join(regression) if has_last_blessed else
                    "no blessed model yet" if compared_with_last_blessed else NOT_COMPARED),
    ]
    if baseline_result is None:
        outcomes.append(RuleOutcome(BEAT_BASELINE, False, False, no_baseline_reason))
    else:
        beaten = _failures(baseline_result, None, SIMPLE_BASELINE)
        if not baseline_blessed and not beaten:
            beaten.append("the baseline Evaluator did not bless the candidate")
        gap = headline_gap(bars, metrics, simple)
        if beaten:
            detail = "; ".join(beaten)
            if gap is not None and gap < 0:
                detail = f"the candidate is worse than the simple baseline by {-gap:.4g} ({detail})"
        else:
            detail = f"beaten by at least {baseline_margin:g}"
            if gap is not None:
                detail = f"the candidate is better by {gap:.4g} (margin {baseline_margin:g})"
        if not require_beat_baseline:
            detail += " (waived by --no-require-beat-baseline)"
        outcomes.append(RuleOutcome(BEAT_BASELINE, require_beat_baseline, not beaten, detail))
    return outcomes


def decide(outcomes: List[RuleOutcome]) -> Decision:
    """Blessed when every applied rule passed; otherwise the first failing rule decided."""
    for outcome in outcomes:
        if outcome.applied and not outcome.passed:
            return Decision(False, outcome.rule, outcomes)
    return Decision(True, ALL_PASSED, outcomes)


def _load_validation(uri: str):
    import tensorflow_model_analysis as tfma
    return tfma.load_validation_result(uri)


def _load_metrics(uri: str):
    """(candidate, baseline) overall metrics of an evaluation, named as the run record names
    them."""
    from components.metric_names import overall_metrics
    return overall_metrics(uri)


def _is_blessed(blessing) -> bool:
    return (blessing.get_int_custom_property(evaluator_constants.ARTIFACT_PROPERTY_BLESSED_KEY)
            == evaluator_constants.BLESSED_VALUE)


@tfx.dsl.components.component
def BlessingGate(
    model: tfx.dsl.components.InputArtifact[tfx.types.standard_artifacts.Model],
    evaluation: tfx.dsl.components.InputArtifact[tfx.types.standard_artifacts.ModelEvaluation],
    blessing: tfx.dsl.components.OutputArtifact[tfx.types.standard_artifacts.ModelBlessing],
    evaluator_blessing: tfx.dsl.components.InputArtifact[
        tfx.types.standard_artifacts.ModelBlessing] = None,
    baseline_evaluation: tfx.dsl.components.InputArtifact[
        tfx.types.standard_artifacts.ModelEvaluation] = None,
    baseline_blessing: tfx.dsl.components.InputArtifact[
        tfx.types.standard_artifacts.ModelBlessing] = None,
    require_beat_baseline: tfx.dsl.components.Parameter[int] = 1,
    baseline_margin: tfx.dsl.components.Parameter[float] = 0.0,
    simple_baseline: tfx.dsl.components.Parameter[str] = "",
    bars: tfx.dsl.components.Parameter[str] = "[]",
    no_baseline_reason: tfx.dsl.components.Parameter[str] = NO_BASELINE,
) -> None:
    """Combines the Evaluators' blessings into one (see the module doc). Without an
    `evaluator_blessing` (a quick run has no Evaluator against the last blessed model),
    `evaluation` is the baseline Evaluator's and no-regression is not applied."""
    c = evaluator_constants
    compared = evaluator_blessing is not None
    has_last_blessed = compared and evaluator_blessing.has_custom_property(
        c.ARTIFACT_PROPERTY_BASELINE_MODEL_ID_KEY)
    the_bars = [gate_bars.Bar.from_dict(b) for b in json.loads(bars)]
    candidate_metrics, _ = _load_metrics(evaluation.uri)
    simple_metrics = (_load_metrics(baseline_evaluation.uri)[1]
                      if baseline_evaluation is not None else {})
    outcomes = rule_outcomes(
        the_bars, candidate_metrics,
        _load_validation(evaluation.uri), compared and _is_blessed(evaluator_blessing),
        has_last_blessed, compared_with_last_blessed=compared,
        baseline_result=(_load_validation(baseline_evaluation.uri)
                         if baseline_evaluation is not None else None),
        baseline_blessed=(_is_blessed(baseline_blessing)
                          if baseline_blessing is not None else None),
        simple_baseline_metrics=simple_metrics,
        require_beat_baseline=bool(require_beat_baseline), baseline_margin=baseline_margin,
        no_baseline_reason=no_baseline_reason)
    decision = decide(outcomes)
    gap = headline_gap(the_bars, candidate_metrics, simple_metrics)
    if gap is not None:
        blessing.set_float_custom_property("baseline_gap", float(gap))

    blessing.set_int_custom_property(
        c.ARTIFACT_PROPERTY_BLESSED_KEY,
        c.BLESSED_VALUE if decision.blessed else c.NOT_BLESSED_VALUE)
    blessing.set_string_custom_property(c.ARTIFACT_PROPERTY_CURRENT_MODEL_URI_KEY, model.uri)
    blessing.set_int_custom_property(c.ARTIFACT_PROPERTY_CURRENT_MODEL_ID_KEY, model.id)
    if has_last_blessed:
        blessing.set_string_custom_property(
            c.ARTIFACT_PROPERTY_BASELINE_MODEL_URI_KEY,
            evaluator_blessing.get_string_custom_property(
                c.ARTIFACT_PROPERTY_BASELINE_MODEL_URI_KEY))
        blessing.set_int_custom_property(
            c.ARTIFACT_PROPERTY_BASELINE_MODEL_ID_KEY,
            evaluator_blessing.get_int_custom_property(c.ARTIFACT_PROPERTY_BASELINE_MODEL_ID_KEY))
    blessing.set_string_custom_property("decided_by", decision.decided_by)
    blessing.set_string_custom_property(
        "rules", json.dumps([dataclasses.asdict(o) for o in decision.outcomes]))
    blessing.set_int_custom_property("require_beat_baseline", int(require_beat_baseline))
    blessing.set_float_custom_property("baseline_margin", float(baseline_margin))
    blessing.set_string_custom_property("simple_baseline", simple_baseline)
    # The Evaluator's marker files, for tools that look at the blessing's directory.
    tf.io.gfile.makedirs(blessing.uri)
    marker = c.BLESSED_FILE_NAME if decision.blessed else c.NOT_BLESSED_FILE_NAME
    with tf.io.gfile.GFile(os.path.join(blessing.uri, marker), "w"):
        pass
