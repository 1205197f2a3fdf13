"""BlessingGate: the one ModelBlessing the Pusher reads, and which rule decided it.

TFX's Evaluator compares a candidate with one baseline model, so two Evaluators run:
`Evaluator` (candidate vs the last blessed model: the absolute threshold and no regression) and
`baseline_evaluator` (candidate vs the simple baseline trained in the same run: the headline
metric must beat it by eval.baseline_margin). The gate blesses the candidate when the first
blessed it and, when the run requires it (`--require-beat-baseline`), the second did too.

Its blessing carries the Evaluator's custom properties (`blessed`, `current_model`,
`current_model_id`, and `baseline_model`/`baseline_model_id` for the last blessed model) so the
LatestBlessedModelStrategy and the Pusher read it as usual, plus:
  `decided_by`  the first rule that failed, or ALL_PASSED;
  `rules`       JSON list of {"rule", "applied", "passed", "detail"} for RULES in order;
  `require_beat_baseline` (int), `baseline_margin` (float), `simple_baseline` (its description).
"""
import dataclasses
import json
import os
from typing import List, Optional

import tensorflow as tf
from tfx import v1 as tfx
from tfx.components.evaluator import constants as evaluator_constants

ABSOLUTE = "absolute threshold"
NO_REGRESSION = "no regression vs the last blessed model"
BEAT_BASELINE = "beat the simple baseline"
RULES = (ABSOLUTE, NO_REGRESSION, BEAT_BASELINE)
ALL_PASSED = "all rules passed"

LAST_BLESSED = "the last blessed model"
SIMPLE_BASELINE = "the simple baseline"


@dataclasses.dataclass
class RuleOutcome:
    rule: str
    # False when the rule did not take part in the decision (no last blessed model yet; the
    # baseline comparison not required). `passed` is still reported when it was measured.
    applied: bool
    passed: bool
    detail: str = ""


@dataclasses.dataclass
class Decision:
    blessed: bool
    decided_by: str
    outcomes: List[RuleOutcome]


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


def rule_outcomes(evaluation_result, evaluator_blessed: bool, has_last_blessed: bool,
                  baseline_result=None, baseline_blessed: Optional[bool] = None,
                  require_beat_baseline: bool = False,
                  baseline_margin: float = 0.0) -> List[RuleOutcome]:
    """The three rules from the two Evaluators' ValidationResults and blessings."""
    absolute = _failures(evaluation_result, False, LAST_BLESSED)
    if evaluation_result.missing_thresholds:
        absolute.append("a metric with a threshold is missing from the evaluation")
    regression = _failures(evaluation_result, True, LAST_BLESSED)
    if not evaluator_blessed and not absolute and not regression:
        absolute.append("the Evaluator did not bless the candidate")
    outcomes = [
        RuleOutcome(ABSOLUTE, True, not absolute, "; ".join(absolute)),
        RuleOutcome(NO_REGRESSION, has_last_blessed, not regression,
                    "; ".join(regression) if has_last_blessed else "no blessed model yet"),
    ]
    if baseline_result is None:
        outcomes.append(RuleOutcome(BEAT_BASELINE, False, False,
                                    "this task has no simple baseline"))
    else:
        beaten = _failures(baseline_result, None, SIMPLE_BASELINE)
        if not baseline_blessed and not beaten:
            beaten.append("the baseline Evaluator did not bless the candidate")
        detail = "; ".join(beaten) or f"beaten by at least {baseline_margin:g}"
        if not require_beat_baseline:
            detail += " (not required)"
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


def _is_blessed(blessing) -> bool:
    return (blessing.get_int_custom_property(evaluator_constants.ARTIFACT_PROPERTY_BLESSED_KEY)
            == evaluator_constants.BLESSED_VALUE)


@tfx.dsl.components.component
def BlessingGate(
    model: tfx.dsl.components.InputArtifact[tfx.types.standard_artifacts.Model],
    evaluation: tfx.dsl.components.InputArtifact[tfx.types.standard_artifacts.ModelEvaluation],
    evaluator_blessing: tfx.dsl.components.InputArtifact[
        tfx.types.standard_artifacts.ModelBlessing],
    blessing: tfx.dsl.components.OutputArtifact[tfx.types.standard_artifacts.ModelBlessing],
    baseline_evaluation: tfx.dsl.components.InputArtifact[
        tfx.types.standard_artifacts.ModelEvaluation] = None,
    baseline_blessing: tfx.dsl.components.InputArtifact[
        tfx.types.standard_artifacts.ModelBlessing] = None,
    require_beat_baseline: tfx.dsl.components.Parameter[int] = 0,
    baseline_margin: tfx.dsl.components.Parameter[float] = 0.0,
    simple_baseline: tfx.dsl.components.Parameter[str] = "",
) -> None:
    """Combines the Evaluators' blessings into one (see the module doc)."""
    c = evaluator_constants
    has_last_blessed = evaluator_blessing.has_custom_property(
        c.ARTIFACT_PROPERTY_BASELINE_MODEL_ID_KEY)
    outcomes = rule_outcomes(
        _load_validation(evaluation.uri), _is_blessed(evaluator_blessing), has_last_blessed,
        baseline_result=(_load_validation(baseline_evaluation.uri)
                         if baseline_evaluation is not None else None),
        baseline_blessed=(_is_blessed(baseline_blessing)
                          if baseline_blessing is not None else None),
        require_beat_baseline=bool(require_beat_baseline), baseline_margin=baseline_margin)
    decision = decide(outcomes)

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
