"""Runs the pipeline locally (LocalDagRunner, Beam DirectRunner, SQLite ML Metadata) and
prints the run summary."""
import logging
import os
import sys
import time
import traceback
from typing import Optional

from tfx import v1 as tfx

import pipeline_config
from components.anomaly_gate import AnomaliesFoundError
from components.input_files import InputError
from pipeline import data_scan, evaluation, summary
from pipeline.pipeline import create_pipeline
from pipeline.run_record import read_run
from trainer.checkpoint import CheckpointError, resolve_checkpoint
from trainer import tasks
from trainer.run_context import RunContext

# Errors whose message is the whole story for the user: no traceback.
try:
    from components.text_example_gen import BadInputError
except ImportError:  # pragma: no cover
    BadInputError = InputError
USER_ERRORS = (AnomaliesFoundError, InputError, BadInputError, CheckpointError,
               pipeline_config.ConfigError, data_scan.DataError)


def _user_error(exc: BaseException) -> Optional[BaseException]:
    """The user-facing error behind `exc`, if any (TFX may wrap what a component raised)."""
    seen = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        if isinstance(exc, USER_ERRORS):
            return exc
        exc = exc.__cause__ or exc.__context__
    return None


def _hidden_size(checkpoint_dir: str) -> Optional[int]:
    import json
    with open(os.path.join(checkpoint_dir, "config.json")) as f:
        return json.load(f).get("hidden_size")


def run_locally(pipeline) -> None:
    """Runs `pipeline` with LocalDagRunner.

    TFX's Beam executors parse `sys.argv + beam_pipeline_args` with absl flags, so a caller's own
    arguments leak into Beam (pytest's `-v` is absl's `--verbosity` and swallows the next Beam
    flag). Run with a bare argv; the pipeline's own `beam_pipeline_args` are unaffected.
    """
    saved_argv = sys.argv
    sys.argv = saved_argv[:1]
    try:
        tfx.orchestration.LocalDagRunner().run(pipeline)
    finally:
        sys.argv = saved_argv


def run_pipeline(cfg: pipeline_config.PipelineConfig):
    """Runs the whole pipeline; returns (RunRecord, ResolvedCheckpoint). Raises on failure."""
    os.makedirs(cfg.output_dir, exist_ok=True)
    task = tasks.get_task(cfg.task)
    scan = data_scan.scan(cfg.data.train, task.raw_text_columns(cfg), task.raw_label_column(cfg))
    evaluation.check_slice_columns(cfg, scan)
    checkpoint = resolve_checkpoint(cfg.model.checkpoint, work_dir=cfg.output_dir,
                                    model_config=cfg.model, texts=lambda: scan.texts)
    if checkpoint.warning:
        print(f"\n{'!' * 80}\n{checkpoint.warning}\n{'!' * 80}\n", file=sys.stderr, flush=True)
    cfg = pipeline_config.with_training_defaults(cfg, checkpoint.source,
                                                 _hidden_size(checkpoint.path))
    context = RunContext(config=cfg, checkpoint_dir=checkpoint.path,
                         lower_case=checkpoint.lower_case, num_labels=len(scan.label_counts))
    pipeline = create_pipeline(
        context, scan.label_counts,
        metadata_connection_config=tfx.orchestration.metadata.sqlite_metadata_connection_config(
            cfg.metadata_path))
    run_locally(pipeline)
    return read_run(cfg.metadata_path), checkpoint, scan, cfg


def run_and_report(cfg: pipeline_config.PipelineConfig, verbose: bool = False) -> int:
    started = time.time()
    try:
        record, checkpoint, scan, cfg = run_pipeline(cfg)
    except Exception as exc:  # noqa: BLE001 — every failure ends in a readable message
        user_error = _user_error(exc)
        if user_error is None:
            traceback.print_exc()
            print(f"\nelectra-tfx: the run failed: {type(exc).__name__}: {exc}", file=sys.stderr)
            return 1
        print(f"\nelectra-tfx: {user_error}", file=sys.stderr)
        if os.path.exists(cfg.metadata_path):
            print(f"(run metadata: {cfg.metadata_path})", file=sys.stderr)
        return 2
    print()
    print(summary.format_summary(cfg, record, checkpoint, scan, time.time() - started))
    return 0
