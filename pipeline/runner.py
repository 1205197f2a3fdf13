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
from components import pretrain_corpus
from components.anomaly_gate import AnomaliesFoundError
from components.bad_rows import BadRowsError
from components.input_files import InputError
from pipeline import bad_data, data_scan, evaluation, metadata_config, report, run_lock, summary
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
               pipeline_config.ConfigError, data_scan.DataError, BadRowsError)

# Another run holds OUTPUT/.lock (pipeline/run_lock.py).
USER_ERRORS += (run_lock.RunLockedError,)


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


def check_pretraining(cfg: pipeline_config.PipelineConfig) -> None:
    """Pre-training settings that cannot work together (a user error, before anything runs)."""
    if cfg.pretrain.corpus and not cfg.pretrain.steps:
        raise pipeline_config.ConfigError(
            "--pretrain-corpus is given but no pre-training will run: pre-training is on by "
            "default only for --checkpoint scratch; pass --pretrain-steps N to pre-train "
            f"{cfg.model.checkpoint} on it")
    if cfg.pretrain.steps and cfg.pretrain.steps < 0:
        raise pipeline_config.ConfigError(f"--pretrain-steps must be >= 0, got {cfg.pretrain.steps}")
    if cfg.pretrain.steps and not cfg.pretrain.use_training_text and not cfg.pretrain.corpus:
        raise pipeline_config.ConfigError(
            "pretrain.use_training_text=false leaves nothing to pre-train on: give "
            "--pretrain-corpus PATH")
    if cfg.pretrain.steps:
        from trainer.pretraining import check_settings
        check_settings(cfg.pretrain)


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
    """Runs the whole pipeline; returns (RunRecord, ResolvedCheckpoint). Raises on failure.

    Holds OUTPUT/.lock throughout: a second run on the same output fails at once."""
    with run_lock.exclusive(cfg.output_dir):
        return _run_pipeline_locked(cfg)


def _run_pipeline_locked(cfg: pipeline_config.PipelineConfig):
    os.makedirs(cfg.output_dir, exist_ok=True)
    connection = metadata_config.connection_config(cfg)  # bad flags fail before any work
    task = tasks.get_task(cfg.task)
    scan = data_scan.scan(cfg.data.train, task.raw_text_columns(cfg), task.raw_label_column(cfg),
                          single_label=bad_data.is_single_label(cfg),
                          tfds_data_dir=cfg.data.tfds_data_dir)
    row_checks = bad_data.row_checks(cfg, task, scan)
    # Read (and checked) before anything runs; a scratch vocabulary also learns from it.
    corpus = pretrain_corpus.read_corpus(cfg.pretrain.corpus, cfg.pretrain.corpus_text_column) \
        if cfg.pretrain.corpus else []
    evaluation.check_slice_columns(cfg, scan)
    checkpoint = resolve_checkpoint(cfg.model.checkpoint, work_dir=cfg.output_dir,
                                    model_config=cfg.model, texts=lambda: scan.texts + corpus)
    if checkpoint.warning:
        print(f"\n{'!' * 80}\n{checkpoint.warning}\n{'!' * 80}\n", file=sys.stderr, flush=True)
    cfg = pipeline_config.with_training_defaults(cfg, checkpoint.source,
                                                 _hidden_size(checkpoint.path))
    check_pretraining(cfg)
    context = RunContext(config=cfg, checkpoint_dir=checkpoint.path,
                         lower_case=checkpoint.lower_case, num_labels=len(scan.label_counts),
                         pretrain_corpus_fingerprint=pretrain_corpus.fingerprint(corpus))
    pipeline = create_pipeline(context, scan.label_counts, metadata_connection_config=connection,
                               row_checks=row_checks)
    run_locally(pipeline)
    store = cfg.metadata_path if connection.HasField("sqlite") else connection
    return read_run(store), checkpoint, scan, cfg


def run_and_report(cfg: pipeline_config.PipelineConfig, verbose: bool = False) -> int:
    started = time.time()
    try:
        record, checkpoint, scan, cfg = run_pipeline(cfg)
    except Exception as exc:  # noqa: BLE001 — every failure ends in a readable message
        user_error = _user_error(exc)
        if user_error is None:
            traceback.print_exc()
            print(f"\nelectra-tfx: the run failed: {type(exc).__name__}: {exc}", file=sys.stderr)
            report.write_after_run(cfg, since=started)
            return 1
        print(f"\nelectra-tfx: {user_error}", file=sys.stderr)
        if os.path.exists(cfg.metadata_path):
            print(f"(run metadata: {cfg.metadata_path})", file=sys.stderr)
        report.write_after_run(cfg, since=started)
        return 2
    print()
    print(summary.format_summary(cfg, record, checkpoint, scan, time.time() - started))
    report.write_after_run(cfg, checkpoint, since=started)
    return 0
