"""What the report's banner and rule table say, as plain data (no TensorFlow): the decision,
the headline metric of each model, every warning, and each blessing rule with its threshold,
measured value and result in words; which direction is better for a metric; the natural order
of slices."""
import math
import re
from typing import Dict, List, Optional, Tuple

from pipeline.report.model import BASELINE, CANDIDATE, LAST_BLESSED, OVERALL, ReportData

# The gate's rule names (components/blessing_gate.py; not imported: it loads TensorFlow).
ABSOLUTE = "absolute bar"
CHANCE = "above chance"
NO_REGRESSION = "no regression vs the last blessed model"
BEAT_BASELINE = "beat the simple baseline"

# Each task's headline metric, in the run record's names (trainer/gate_bars.py: the metric of
# the absolute bar), for runs whose rules do not name it.
_HEADLINES = ("sparse_categorical_accuracy", "f1_score", "mean_squared_error", "token_accuracy",
              "f1", "example_count")
_LOWER_IS_BETTER = re.compile(r"(^|_)(error|loss|mse|mae|rmse|perplexity|crossentropy)($|_)|"
                              r"mean_squared|mean_absolute|cosine_similarity")
_NEUTRAL = ("example_count", "calibration", "mean_label", "mean_prediction")


def higher_is_better(name: str) -> Optional[bool]:
    """True or False for a metric (run record name, e.g. "recall/class_1"); None when neither
    direction is better (example count, TFMA's calibration ratio)."""
    base = name.split("/", 1)[0]
    if base in _NEUTRAL:
        return None
    return not _LOWER_IS_BETTER.search(base)


def comparison(name: str, diff: Optional[float]) -> str:
    """"better", "worse" or "" for the candidate's difference to another model."""
    direction = higher_is_better(name)
    if diff is None or direction is None or diff == 0 or not math.isfinite(diff):
        return ""
    return "better" if (diff > 0) == direction else "worse"


def _fmt(value: Optional[float]) -> str:
    if value is None or not math.isfinite(value):
        return "not measured"
    return f"{value:.4f}"


def headline(data: ReportData) -> Optional[Dict]:
    """{"metric": run record name, "label": how the gate calls it, "higher_is_better",
    "values": role -> value} of the headline metric (the absolute bar's)."""
    label, direction = None, None
    for rule in data.blessing_rules:
        if rule.get("rule") == ABSOLUTE and rule.get("checks"):
            label = rule["checks"][0].get("metric")
            direction = rule["checks"][0].get("higher_is_better")
    candidate = data.models.get(CANDIDATE, {})
    threshold = next(iter(data.change_thresholds.values()), {})
    names = [threshold.get("metric")] + list(_HEADLINES)
    name = next((n for n in names if n and n in candidate), None)
    if name is None:
        return None
    if direction is None:
        direction = higher_is_better(name) is not False
    return {"metric": name, "label": label or data.metric_label(name),
            "higher_is_better": direction,
            "values": {role: data.models.get(role, {}).get(name)
                       for role in (CANDIDATE, BASELINE, LAST_BLESSED)}}


def banner_rows(data: ReportData) -> List[Dict]:
    """The headline metric of the candidate, the simple baseline and the last blessed model,
    each other model with the candidate's difference to it in words."""
    top = headline(data)
    if top is None:
        return []
    rows = []
    mine = top["values"][CANDIDATE]
    for role in (CANDIDATE, BASELINE, LAST_BLESSED):
        value = top["values"][role]
        row = {"role": role, "value": value, "class": "", "note": ""}
        if role != CANDIDATE:
            if value is None:
                row["note"] = ("none yet (no model has been blessed before)" if role == LAST_BLESSED
                               else "not trained in this run")
            elif mine is not None:
                diff = mine - value
                better = (diff > 0) == top["higher_is_better"]
                row["class"] = "" if diff == 0 else ("better" if better else "worse")
                row["note"] = ("the candidate is the same" if diff == 0 else
                               f"the candidate is {'better' if better else 'worse'} "
                               f"by {abs(diff):.4f}")
        rows.append(row)
    return [dict(r, metric=top["label"]) for r in rows]


def warnings(data: ReportData) -> List[str]:
    """Every warning of the run, for the banner."""
    found = list(data.warnings)
    if data.checkpoint.get("warning"):
        found.append(data.checkpoint["warning"])
    worse = data.worse_than_baseline_text()
    if worse:
        found.append(worse)
    if data.predictions is not None and data.predictions.first_examples_only:
        found.append(f"The example predictions and the reliability diagram cover the first "
                     f"{data.predictions.predicted:,} eval examples only.")
    return list(dict.fromkeys(found))


def _threshold_of_comparison(data: ReportData,
                             role: str) -> Optional[Tuple[str, float, float, bool]]:
    """(metric, other model's value, threshold, higher is better) of the change threshold
    against `role`, when both are known."""
    change = data.change_thresholds.get(role)
    if change is None:
        return None
    top = headline(data)
    other_metrics = data.models.get(role, {})
    names = [change.get("metric"), top["metric"] if top else None]
    name = next((n for n in names if n and n in other_metrics), None)
    if name is None:
        return None
    other = other_metrics[name]
    return name, other, other + change["change"], change["higher_is_better"]


def _not_applied(rule: Dict) -> str:
    detail = rule.get("detail", "")
    if rule["rule"] == BEAT_BASELINE and "waived" in detail:
        outcome = "it would have passed" if rule.get("passed") else "it would have failed"
        return f"waived by --no-require-beat-baseline ({outcome})"
    if "no blessed model yet" in detail:
        return "does not apply: no model has been blessed yet"
    if "a quick run" in detail:
        return "does not apply: a quick run is not compared with the last blessed model"
    if "no simple baseline" in detail or "eval.simple_baseline=false" in detail:
        return f"does not apply: {detail}"
    return "does not apply to this task"


def _row(rule: Dict, metric: str, side: str, threshold: Optional[float],
         value: Optional[float], why: str, passed: Optional[bool]) -> Dict:
    """A rule row; `passed`: whether this check passed (None: the rule's outcome)."""
    applied = rule.get("applied")
    passed = rule.get("passed") if passed is None else passed
    requirement = f"{metric} {side} {_fmt(threshold)}" if metric else ""
    if not applied:
        result, css = _not_applied(rule), "na"
    else:
        result, css = ("passed" if passed else "FAILED"), ("pass" if passed else "fail")
    if metric and value is not None and threshold is not None and math.isfinite(threshold):
        holds = {"above": value > threshold, "below": value < threshold,
                 "at least": value >= threshold, "at most": value <= threshold}[side]
        result += (":" if applied else ";") + \
            f" {_fmt(value)} is {'' if holds else 'not '}{side} {_fmt(threshold)}"
    elif metric and applied and value is None:
        result += ": not measured"
    return {"rule": rule["rule"], "metric": metric, "side": side, "threshold": threshold,
            "value": value, "requirement": requirement, "why": why, "result": result,
            "class": css}


def rule_rows(data: ReportData) -> List[Dict]:
    """One row per check of each blessing rule: {"rule", "requirement" (e.g. "accuracy above
    0.5333"), "why" (where the threshold comes from), "threshold", "value" (the candidate's),
    "result" (in words, e.g. "passed: 0.9667 is above 0.5333"), "class" (pass, fail, na)}."""
    rows = []
    for rule in data.blessing_rules:
        name = rule["rule"]
        checks = rule.get("checks") or []
        for check in checks:
            rows.append(_row(rule, check.get("metric", ""),
                             "above" if check.get("higher_is_better", True) else "below",
                             check.get("threshold"), check.get("value"), check.get("reason", ""),
                             bool(check.get("passed"))))
        if checks:
            continue
        role = {NO_REGRESSION: LAST_BLESSED, BEAT_BASELINE: BASELINE}.get(name)
        found = _threshold_of_comparison(data, role) if role else None
        if found is None:
            detail = rule.get("detail", "")
            rows.append(_row(rule, "", "", None, None,
                             detail if rule.get("applied") else "", None))
            continue
        metric, other, threshold, higher = found
        change = threshold - other
        if role == LAST_BLESSED:
            why = (f"the last blessed model's {_fmt(other)} {'minus' if change <= 0 else 'plus'} "
                   f"the allowed {'drop' if higher else 'increase'} {abs(change):.4g} "
                   "(eval.max_accuracy_drop)")
        else:
            why = (f"the simple baseline's {_fmt(other)} {'plus' if change >= 0 else 'minus'} "
                   f"the margin {abs(change):.4g} (eval.baseline_margin)")
        rows.append(_row(rule, data.metric_label(metric), "at least" if higher else "at most",
                         threshold, data.models.get(CANDIDATE, {}).get(metric), why, None))
    return rows


def verdict(data: ReportData) -> str:
    """The decision in one sentence, with the rule that decided it and why."""
    if data.stopped_at or data.blessed is None:
        return data.decision_text()
    if data.blessed:
        return "BLESSED: every rule that applies passed."
    failed = [r for r in rule_rows(data) if r["class"] == "fail"]
    first = next((r for r in failed if r["rule"] == data.deciding_rule),
                 failed[0] if failed else None)
    if first is None:
        return f"NOT BLESSED: the rule '{data.deciding_rule or '?'}' failed."
    text = f"NOT BLESSED: the rule '{first['rule']}' failed"
    if first["requirement"] and first["value"] is not None:
        text += (f": {first['metric']} {_fmt(first['value'])} is not {first['side']} "
                 f"{_fmt(first['threshold'])} ({first['why']})")
    elif first["why"]:
        text += f": {first['why']}"
    return text + "."


_NUMBER = re.compile(r"(\d+(?:\.\d+)?)")


def _natural(text: str):
    """Sort key: numbers inside the text compare as numbers ("9-16" before "17-32")."""
    return [(float(part) if i % 2 else part.lower()) for i, part in enumerate(_NUMBER.split(text))]


def slice_order(names: List[str]) -> List[str]:
    """Slices grouped by their column in order of first appearance, each column's values in
    natural order (numeric ranges numerically); the overall slice first."""
    columns: List[str] = []
    for name in names:
        column = name.split(":", 1)[0]
        if name != OVERALL and column not in columns:
            columns.append(column)
    return sorted(names, key=lambda n: (n != OVERALL, columns.index(n.split(":", 1)[0])
                                        if n != OVERALL else -1, _natural(n.split(":", 1)[-1])))
