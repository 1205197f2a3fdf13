"""The one-paragraph run summary printed at the end of `electra-tfx run`."""
from typing import Dict

import pipeline_config
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
                   seconds: float) -> str:
    parts = []
    counts = ", ".join(f"{n:,} {split}" for split, n in sorted(record.split_counts.items()))
    labels = ", ".join(f"{label!r}: {n:,}" for label, n in sorted(scan.label_counts.items()))
    parts.append(f"Run {record.run_id} ({cfg.task}) finished in {seconds:.0f} s. "
                 f"Data: {counts or 'no statistics'} examples (training labels {labels}); "
                 f"{record.anomalies_found} anomal{'y' if record.anomalies_found == 1 else 'ies'}.")
    if record.quarantined_rows:
        parts.append(_quarantine_text(record))
    source = {"hub": "from the hub", "local": "local directory",
              "scratch": "built from scratch"}.get(checkpoint.source, checkpoint.source)
    parts.append(f"Checkpoint: {checkpoint.requested} ({source}: {checkpoint.path}).")
    if checkpoint.warning:
        parts.append(checkpoint.warning)
    if record.pretraining:
        parts.append(_pretraining_text(record))
    parts.append(f"Candidate: {_fmt_metrics(record.candidate_metrics)}.")
    if record.simple_baseline_metrics:
        parts.append(f"Simple baseline ({record.simple_baseline or 'trained in this run'}): "
                     f"{_fmt_metrics(record.simple_baseline_metrics)}.")
    if record.baseline_metrics:
        parts.append(f"Baseline (last blessed model): {_fmt_metrics(record.baseline_metrics)}.")
    elif record.decided_by is not None:
        parts.append("Last blessed model: none yet, so no regression check.")
    else:
        parts.append("Baseline: none yet (no blessed model before this run), "
                     "so only the absolute threshold applied.")
    comparison = _comparison(record)
    if comparison:
        parts.append(comparison)
    if record.blessed is None:
        parts.append("Not evaluated: the run stopped before the Evaluator.")
    elif record.decided_by is not None:
        parts.append(_decision(cfg, record))
    elif record.blessed:
        parts.append("BLESSED: every threshold passed "
                     f"({_threshold_text(cfg, record)}).")
    else:
        parts.append("NOT BLESSED: " + ("; ".join(record.failed_checks) or "a threshold failed")
                     + f" ({_threshold_text(cfg, record)}).")
    if record.pushed_path:
        parts.append(f"Pushed to {record.pushed_path}.")
    else:
        parts.append("Nothing pushed.")
    timing = ", ".join(f"{c.name} {c.seconds:.1f}s{' (cached)' if c.state == 'cached' else ''}"
                       + ("" if c.state in ("ran", "cached") else f" ({c.state})")
                       for c in record.components)
    parts.append(f"Component times: {timing}.")
    return " ".join(parts)


def _quarantine_text(record: RunRecord) -> str:
    from components.bad_rows import split_label
    shares = ", ".join(f"{split_label(split)} {c['bad']:,} of {c['rows']:,}"
                       for split, c in sorted(record.bad_rows.items()) if c["bad"])
    return (f"Quarantined {record.quarantined_rows:,} bad rows ({shares}), trained on the rest; "
            f"they are listed with their problems in {record.quarantine_dir}.")


def _threshold_text(cfg, record: RunRecord) -> str:
    single_label = (cfg.task in ("text-classification", "text-pair-classification")
                    and not cfg.task_options.multi_label and not cfg.task_options.regression)
    if not single_label:
        return ("the task's thresholds on its headline metric, and no regression beyond "
                f"{cfg.eval.max_accuracy_drop} against the last blessed model")
    rules = []
    if cfg.eval.min_accuracy is None:
        rules.append("accuracy must beat the majority-class rate")
    else:
        rules.append(f"accuracy must be at least {cfg.eval.min_accuracy}")
    if record.baseline_metrics:
        rules.append(f"and may not drop more than {cfg.eval.max_accuracy_drop} "
                     "below the last blessed model")
    return " ".join(rules)


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


def _decision(cfg, record: RunRecord) -> str:
    """The gate's verdict, the rule that decided it and every rule's outcome."""
    rules = []
    for rule in record.blessing_rules:
        state = ("passed" if rule["passed"] else "FAILED") if rule["applied"] else "not applied"
        rules.append(f"{rule['rule']}: {state}" + (f", {rule['detail']}" if rule["detail"] else ""))
    if record.blessed:
        head = "BLESSED: every rule that applies passed"
    else:
        head = f"NOT BLESSED: decided by the rule '{record.decided_by}'"
    margin = record.baseline_margin if record.baseline_margin is not None else 0.0
    beat = ("the candidate must beat the simple baseline by " f"{margin:g}"
            if record.require_beat_baseline else "beating the simple baseline not required")
    return f"{head} ({'; '.join(rules)}). Rules: {_threshold_text(cfg, record)}; {beat}."
