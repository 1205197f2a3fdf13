"""The --on-bad-rows policy and the row checks of a run, from the config, the task and the
pre-pipeline data scan (what a bad row is: components/bad_rows.py)."""
import os

import pipeline_config
from components.bad_rows import POLICIES, RowChecks

QUARANTINE_DIR = "quarantine"


def is_single_label(cfg: pipeline_config.PipelineConfig) -> bool:
    """One class per row (the label type and, for --eval, the label set are checked)."""
    return (cfg.task in ("text-classification", "text-pair-classification")
            and not cfg.task_options.multi_label and not cfg.task_options.regression)


def quarantine_dir(cfg: pipeline_config.PipelineConfig) -> str:
    return os.path.join(cfg.output_dir, QUARANTINE_DIR)


def row_checks(cfg: pipeline_config.PipelineConfig, task, scan) -> RowChecks:
    if cfg.data.on_bad_rows not in POLICIES:
        raise pipeline_config.ConfigError(
            f"--on-bad-rows must be one of {', '.join(POLICIES)}, got {cfg.data.on_bad_rows!r}")
    if not 0 <= cfg.data.max_bad_rows_fraction <= 1:
        raise pipeline_config.ConfigError(
            f"--max-bad-rows-fraction must be from 0 to 1, got {cfg.data.max_bad_rows_fraction}")
    single = is_single_label(cfg)
    return RowChecks(
        text_columns=list(task.raw_text_columns(cfg)),
        label_column=task.raw_label_column(cfg),
        label_kind=scan.label_kind if single else None,
        # With a hash split every label comes from the training files; with --eval an eval
        # label never seen in training cannot be predicted: a bad row.
        known_labels=sorted(scan.label_counts) if single and cfg.data.eval else None,
        on_bad_rows=cfg.data.on_bad_rows,
        max_bad_rows_fraction=cfg.data.max_bad_rows_fraction,
        quarantine_dir=quarantine_dir(cfg))
