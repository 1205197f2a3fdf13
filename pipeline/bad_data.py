"""The --on-bad-rows policy and the row checks of a run, from the config, the task and the
pre-pipeline data scan (what a bad row is: components/bad_rows.py); the declared labels
(--labels) and the warnings about suspect labels printed before training."""
import json
import os
import shlex
from typing import List, Optional

import pipeline_config
from components import tfds_example_gen
from components.bad_rows import POLICIES, RowChecks
from trainer import label_order, tasks

QUARANTINE_DIR = "quarantine"


def is_single_label(cfg: pipeline_config.PipelineConfig) -> bool:
    """One class per row (the label type and, for --eval, the label set are checked)."""
    from trainer import tasks  # the task's traits (its module loads TensorFlow)
    return tasks.task_class(cfg).single_label


def quarantine_dir(cfg: pipeline_config.PipelineConfig) -> str:
    return os.path.join(cfg.output_dir, QUARANTINE_DIR)


def declared_labels(cfg: pipeline_config.PipelineConfig) -> Optional[List[str]]:
    """--labels (data.labels) in natural order, checked against the task; None: not given."""
    labels = label_order.declared_labels(cfg)
    if labels is None:
        if cfg.data.labels is not None and list(cfg.data.labels):
            raise pipeline_config.ConfigError("--labels names no label")
        return None
    if not tasks.task_class(cfg).has_classes:
        raise pipeline_config.ConfigError(
            f"--labels declares classes or tags; {cfg.task}"
            f"{' --regression' if cfg.task_options.regression else ''} has none")
    if tfds_example_gen.is_tfds(cfg.data.train):
        raise pipeline_config.ConfigError(
            "--labels is not supported with tfds: inputs (their ClassLabel names are fixed)")
    if tasks.task_class(cfg).multi_label:
        joined = [label for label in labels if cfg.data.label_separator in label]
        if joined:
            raise pipeline_config.ConfigError(
                f"--labels: {joined[0]!r} holds the label separator "
                f"{cfg.data.label_separator!r}; name each label on its own")
    return labels


def scan_options(cfg: pipeline_config.PipelineConfig) -> dict:
    """The data scan's label options for this run (pipeline/data_scan.py)."""
    multi = tasks.task_class(cfg).multi_label
    return {"labels": declared_labels(cfg),
            "label_separator": cfg.data.label_separator if multi else None,
            "find_suspects": is_single_label(cfg) or multi}


def labels_flag(labels: List[str]) -> str:
    """`--labels ...` as typed in a shell: comma-separated, or a JSON list when a label holds
    a comma."""
    value = (json.dumps(labels, ensure_ascii=False) if any("," in label for label in labels)
             else ",".join(labels))
    # "--labels=-1,0": a value starting with "-" would be taken for a flag.
    return f"--labels{'=' if value.startswith('-') else ' '}{shlex.quote(value)}"


def label_warnings(cfg: pipeline_config.PipelineConfig, scan) -> List[str]:
    """What the user must read before training: suspect labels (with their rows and the
    --labels flag that makes them bad rows), declared labels the training data lacks."""
    warnings = []
    if scan.suspect_labels:
        rows = max(scan.num_examples, 1)
        lines = [f"Suspect labels in {cfg.data.train}: "
                 f"{len(scan.suspect_labels)} label value(s) in a tiny share of the "
                 f"{scan.num_examples:,} training rows; each becomes a class of its own:"]
        for suspect in scan.suspect_labels:
            lines.append(f"  {suspect.label!r}: {suspect.count:,} row(s) "
                         f"({suspect.count / rows:.2%})")
            lines += [f"    - {where}" for where in suspect.rows]
            if suspect.count > len(suspect.rows):
                lines.append(f"    ... and {suspect.count - len(suspect.rows):,} more")
        suspects = {s.label for s in scan.suspect_labels}
        kept = [label for label in label_order.natural_label_order(
            label_order.labels_in_counts(cfg, scan.label_counts, tasks.task_class(cfg).multi_label)) if label not in suspects]
        lines.append("If they are mistakes, declare the labels; rows with any other label are "
                     "then bad rows (--on-bad-rows fail stops the run and lists them, "
                     f"quarantine sets them aside):\n  {labels_flag(kept)}")
        warnings.append("\n".join(lines))
    return warnings


def check_declared_labels(scan) -> None:
    """More labels declared than the training data has: refused before anything runs (a class
    that no training row has can never be learned, only mispredicted)."""
    if scan.missing_labels:
        shown = ", ".join(repr(label) for label in scan.missing_labels)
        raise pipeline_config.ConfigError(
            f"--labels declares labels that no training row has: {shown}. A model cannot learn "
            "a class it never sees; declare only the labels of the training data.")


def row_checks(cfg: pipeline_config.PipelineConfig, task, scan) -> RowChecks:
    if cfg.data.on_bad_rows not in POLICIES:
        raise pipeline_config.ConfigError(
            f"--on-bad-rows must be one of {', '.join(POLICIES)}, got {cfg.data.on_bad_rows!r}")
    if not 0 <= cfg.data.max_bad_rows_fraction <= 1:
        raise pipeline_config.ConfigError(
            f"--max-bad-rows-fraction must be from 0 to 1, got {cfg.data.max_bad_rows_fraction}")
    single = is_single_label(cfg)
    multi = tasks.task_class(cfg).multi_label
    declared = declared_labels(cfg)
    return RowChecks(
        text_columns=list(task.raw_text_columns(cfg)),
        label_column=task.raw_label_column(cfg),
        label_kind=scan.label_kind if single else None,
        # With a hash split every label comes from the training files; with --eval an eval
        # label never seen in training cannot be predicted: a bad row (unless declared). A
        # multi-label cell's labels are checked one by one.
        known_labels=(sorted(set(label_order.labels_in_counts(cfg, scan.label_counts, multi)))
                      if (single or multi) and cfg.data.eval and not declared else None),
        # --labels: any other label, in any split, is a bad row.
        allowed_labels=declared,
        label_separator=cfg.data.label_separator if multi else None,
        on_bad_rows=cfg.data.on_bad_rows,
        max_bad_rows_fraction=cfg.data.max_bad_rows_fraction,
        quarantine_dir=quarantine_dir(cfg))
