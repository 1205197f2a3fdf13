"""The run summary printed at the end of `electra-tfx run`: a short block of lines."""
import dataclasses
import os
import textwrap
from typing import Dict, List, Optional

import pipeline_config
from components import small_data
from pipeline.report import tuning
from pipeline.run_record import RunRecord

# Shown first when present; then every other overall metric of the task (per-class
# break-downs stay in the evaluation artifact), the example count last.
_FIRST = ("sparse_categorical_accuracy", "auc/class_1")
_LABELS = {"sparse_categorical_accuracy": "accuracy", "auc/class_1": "AUC",
           "example_count": "examples"}
_MAX_SHOWN = 8


def _fmt_metrics(metrics: Dict[str, float]) -> str:
    names = [k for k in _FIRST if k in metrics]
    names += sorted(k for k in metrics
                    if k not in names and "/class_" not in k and k != "example_count")
    names = names[:_MAX_SHOWN] + (["example_count"] if "example_count" in metrics else [])
    shown = [f"{_LABELS.get(k, k)} {metrics[k]:.4g}" for k in names]
    return ", ".join(shown) if shown else "no metrics"


def format_summary(cfg: pipeline_config.PipelineConfig, record: RunRecord, checkpoint, scan,
                   seconds: float, report_path: Optional[str] = None) -> str:
    """A short block of lines: data, checkpoint, candidate vs simple baseline vs last blessed
    model, the decision and each rule with its threshold and measured value, the push, the
    report, the component times. `seconds`: the whole command's time."""
    lines = []
    counts = ", ".join(f"{n:,} {split}" for split, n in sorted(record.split_counts.items()))
    labels = ", ".join(f"{label!r}: {n:,}" for label, n in sorted(scan.label_counts.items()))
    lines.append(f"Run {record.run_id} ({cfg.task}) finished in {seconds:.0f} s.")
    if cfg.quick:
        lines.append(pipeline_config.quick_note(cfg))
    lines.append(f"Data: {counts or 'no statistics'} examples"
                 + (f" (labels in --train{'' if cfg.data.eval else ', before the eval split'}: "
                    f"{labels})" if labels else "")
                 + f"; {record.anomalies_found} anomal{'y' if record.anomalies_found == 1 else 'ies'}.")
    small = small_data.small_data_warning(record.split_counts.get("train", scan.num_examples),
                                          record.split_counts.get("eval"))
    if small:
        lines.append(small)
    if record.quarantined_rows:
        lines.append(_quarantine_text(record))
    source = {"hub": "from the hub", "local": "local directory",
              "scratch": "built from scratch"}.get(checkpoint.source, checkpoint.source)
    lines.append(f"Checkpoint: {checkpoint.requested} ({source}: {checkpoint.path}).")
    if checkpoint.warning:
        lines.append(checkpoint.warning)
    if getattr(checkpoint, "description", None):
        lines.append(checkpoint.description)
    if record.pretraining:
        lines.append(_pretraining_text(record))
    if record.tuning:
        lines += textwrap.wrap(tuning.tuning_text(dataclasses.asdict(cfg.tune), record.tuning),
                               width=100,
                               subsequent_indent="  ", break_on_hyphens=False)
    lines.append(f"Candidate: {_fmt_metrics(record.candidate_metrics)}.")
    if record.simple_baseline_metrics:
        lines.append(f"Simple baseline ({record.simple_baseline or 'trained in this run'}): "
                     f"{_fmt_metrics(record.simple_baseline_metrics)}.")
    if record.baseline_metrics:
        lines.append(f"Last blessed model: {_fmt_metrics(record.baseline_metrics)}.")
    elif cfg.quick:
        lines.append("Last blessed model: not compared (a quick run).")
    elif record.blessed is not None:
        lines.append("Last blessed model: none yet.")
    comparison = _comparison(record)
    if comparison:
        lines.append(comparison)
    if record.blessed is None:
        lines.append("Not evaluated: the run stopped before the Evaluator.")
    elif record.decided_by is not None:
        decision = _decision(record)
        lines += [f"Decision: {decision[0]}"] + decision[1:]
    elif record.blessed:
        lines.append("Decision: BLESSED: every threshold passed.")
    else:
        lines.append("Decision: NOT BLESSED: "
                     + ("; ".join(record.failed_checks) or "a threshold failed") + ".")
    if record.pushed_path:
        lines.append(f"Pushed to {record.pushed_path}.")
        gap = record.baseline_gap
        if record.require_beat_baseline is False and gap is not None and gap < 0:
            lines.append(f"WARNING: the pushed model is worse than the simple baseline by "
                         f"{-gap:.4g} (beating it was waived with --no-require-beat-baseline).")
    elif record.not_pushed_reason:
        lines.append(f"Nothing pushed: {record.not_pushed_reason}.")
    else:
        lines.append("Nothing pushed.")
    timing = ", ".join(f"{c.name} {c.seconds:.1f}s{' (cached)' if c.state == 'cached' else ''}"
                       + ("" if c.state in ("ran", "cached") else f" ({c.state})")
                       for c in record.components)
    if report_path:
        lines.append(f"Run report: {report_path}")
    card = os.path.join(record.pushed_path or "", "model_card.md")
    if record.pushed_path and os.path.isfile(card):
        lines.append(f"Model card: {card}")
    lines += textwrap.wrap(f"Component times: {timing}.", width=100, subsequent_indent="  ",
                           break_on_hyphens=False)
    return "\n".join(lines)


def _quarantine_text(record: RunRecord) -> str:
    from components.bad_rows import split_label
    shares = ", ".join(f"{split_label(split)} {c['bad']:,} of {c['rows']:,}"
                       for split, c in sorted(record.bad_rows.items()) if c["bad"])
    return (f"Quarantined {record.quarantined_rows:,} bad rows ({shares}), trained on the rest; "
            f"they are listed with their problems in {record.quarantine_dir}.")


def _pretraining_text(record: RunRecord) -> str:
    """What ElectraPretrainer did (trainer/pretraining.py's pretraining.json)."""
    p = record.pretraining
    m = p.get("metrics", {})
    cached = ", cached from an earlier run" if record.pretraining_cached else ""
    text = (f"Pre-trained here (ELECTRA replaced-token detection{cached}): "
            f"{p['steps']:,} steps on {p['num_texts']:,} texts ({p['num_tokens']:,} tokens) in "
            f"{p['seconds']:.0f} s ({p['tokens_per_second']:,.0f} tokens/s); last "
            f"window: discriminator accuracy {m.get('discriminator_accuracy', float('nan')):.3f}, "
            f"AUC {m.get('discriminator_auc', float('nan')):.3f}, generator MLM accuracy "
            f"{m.get('generator_accuracy', float('nan')):.3f}")
    if p.get("output_dir"):
        text += f"; weights: {p['output_dir']}"
    return text + "."


# The metric the side-by-side comparison shows: the first of these the candidate has.
_HEADLINE = ("sparse_categorical_accuracy", "f1_score", "token_accuracy", "f1",
             "mean_squared_error")


def _comparison(record: RunRecord) -> str:
    """E.g. 'accuracy: candidate 0.97, simple baseline 0.91 (+0.06), last blessed 0.96 (+0.01).'"""
    name = next((k for k in _HEADLINE if k in record.candidate_metrics), None)
    if name is None or not (record.simple_baseline_metrics or record.baseline_metrics):
        return ""
    value = record.candidate_metrics[name]
    shown = [f"candidate {value:.4g}"]
    for label, metrics in (("simple baseline", record.simple_baseline_metrics),
                           ("last blessed", record.baseline_metrics)):
        if name in metrics:
            shown.append(f"{label} {metrics[name]:.4g} (candidate {value - metrics[name]:+.4g})")
    return f"{_LABELS.get(name, name)}: {', '.join(shown)}."


def _decision(record: RunRecord) -> List[str]:
    """The gate's verdict, the rule that decided it, and every rule's checks: the threshold,
    the measured value and where the threshold comes from."""
    if record.blessed:
        lines = ["BLESSED: every rule that applies passed."]
    else:
        lines = [f"NOT BLESSED: decided by the rule '{record.decided_by}'."]
    for rule in record.blessing_rules:
        state = ("passed" if rule["passed"] else "FAILED") if rule["applied"] else "not applied"
        checks = rule.get("checks") or []
        if checks:
            lines.append(f"  {rule['rule']}: {state}")
            lines += [f"    {check['text']}" for check in checks]
        else:
            lines.append(f"  {rule['rule']}: {state}"
                         + (f" ({rule['detail']})" if rule["detail"] else ""))
    return lines
