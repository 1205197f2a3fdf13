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
from components import loaded_models, pretrain_corpus, small_data
from components.anomaly_gate import AnomaliesFoundError
from components.bad_rows import BadRowsError
from components.input_files import InputError
from pipeline import (bad_data, beam_options, data_scan, evaluation, metadata_config, progress,
                      report, run_lock, sample, summary)
from pipeline.exit_codes import EXIT_BAD_INPUT, EXIT_BLESSED, EXIT_FAILED, EXIT_NOT_BLESSED
from pipeline.pipeline import create_pipeline
from pipeline.run_record import read_run
from trainer.checkpoint import CheckpointError, resolve_checkpoint
from trainer import label_order, tasks
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
    from trainer.checkpoints.files import CheckpointInfo
    return CheckpointInfo.read(checkpoint_dir).hidden_size


def check_pretraining(cfg: pipeline_config.PipelineConfig) -> None:
    """The resolved config's checks (pipeline_config.validate: once pretrain.steps is known,
    a corpus without pre-training is refused) and the pre-training component's own."""
    pipeline_config.validate(cfg, tasks.traits(cfg.task))
    if cfg.pretrain.steps:
        from trainer.pretraining import check_settings
        check_settings(cfg.pretrain)


def apply_local_beam_settings(pipeline) -> None:
    """What a local run sets in Beam and TFX before its components run (the state cache, the
    cached DoFn signatures and option views, no TFX sdist: pipeline/beam_options.py)."""
    beam_options.apply_in_memory_state_cache(pipeline.beam_pipeline_args or [])
    beam_options.cache_method_signatures()
    beam_options.cache_option_views()
    beam_options.skip_tfx_sdist_for_local_runs()


def run_locally(pipeline) -> None:
    """Runs `pipeline` with LocalDagRunner.

    TFX's Beam executors parse `sys.argv + beam_pipeline_args` with absl flags, so a caller's own
    arguments leak into Beam (pytest's `-v` is absl's `--verbosity` and swallows the next Beam
    flag). Run with a bare argv; the pipeline's own `beam_pipeline_args` are unaffected.
    """
    apply_local_beam_settings(pipeline)
    saved_argv = sys.argv
    sys.argv = saved_argv[:1]
    try:
        with progress.component_lines(pipeline):  # "[ 9/15] Transform done in 41 s"
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
    if cfg.quick:
        print(pipeline_config.quick_note(cfg), flush=True)
    cfg = sample.sample_inputs(cfg)  # data.sample_rows (--quick): the rows every step reads
    task = tasks.create(cfg)
    scan = data_scan.scan(cfg.data.train, task.raw_text_columns(cfg), task.raw_label_column(cfg),
                          single_label=bad_data.is_single_label(cfg),
                          tfds_data_dir=cfg.data.tfds_data_dir, eval=cfg.data.eval,
                          eval_percent=cfg.data.eval_percent, **bad_data.scan_options(cfg))
    row_checks = bad_data.row_checks(cfg, task, scan)
    bad_data.check_declared_labels(scan)  # more labels declared than the data has: exit 2
    for label_warning in bad_data.label_warnings(cfg, scan):  # suspect labels
        print(f"\n{'!' * 80}\n{label_warning}\n{'!' * 80}\n", file=sys.stderr, flush=True)
    # Read (and checked) before anything runs; a scratch vocabulary also learns from it.
    corpus = pretrain_corpus.read_corpus(cfg.pretrain.corpus, cfg.pretrain.corpus_text_column) \
        if cfg.pretrain.corpus else []
    evaluation.check_slice_columns(cfg, scan)
    checkpoint = resolve_checkpoint(cfg.model.checkpoint, work_dir=cfg.output_dir,
                                    model_config=cfg.model, texts=lambda: scan.texts + corpus)
    if checkpoint.warning:
        print(f"\n{'!' * 80}\n{checkpoint.warning}\n{'!' * 80}\n", file=sys.stderr, flush=True)
    eval_rows = scan.eval_num_examples  # components/small_data.py: figures on few rows are noisy
    warning = small_data.small_data_warning(
        scan.num_examples - (0 if cfg.data.eval else eval_rows), eval_rows or None)
    if warning:
        print(f"\n{warning}\n", file=sys.stderr, flush=True)
    # The one place the defaults that depend on the checkpoint and the task are filled in.
    cfg = pipeline_config.resolve(
        cfg, pipeline_config.CheckpointFacts(checkpoint.source, _hidden_size(checkpoint.path)),
        task.traits)
    check_pretraining(cfg)
    context = RunContext(config=cfg, checkpoint_dir=checkpoint.path,
                         lower_case=checkpoint.lower_case,
                         pretrain_corpus_fingerprint=pretrain_corpus.fingerprint(corpus),
                         labels=label_order.label_vocabulary(cfg, scan.label_counts,
                                                             scan.label_kind, task=task))
    pipeline = create_pipeline(context, scan.label_counts, metadata_connection_config=connection,
                               row_checks=row_checks, eval_label_counts=scan.eval_label_counts)
    run_locally(pipeline)
    store = cfg.metadata_path if connection.HasField("sqlite") else connection
    return read_run(store), checkpoint, scan, cfg


def run_and_report(cfg: pipeline_config.PipelineConfig, verbose: bool = False,
                   started: Optional[float] = None) -> int:
    """Runs the pipeline and prints the summary; `started`: when the command started (its
    time is the summary's), default now."""
    started = time.time() if started is None else started
    try:
        return _run_and_report(cfg, started)
    finally:
        loaded_models.forget()  # the candidate the Pusher and the report shared


def _run_and_report(cfg: pipeline_config.PipelineConfig, started: float) -> int:
    try:
        record, checkpoint, scan, cfg = run_pipeline(cfg)
    except Exception as exc:  # noqa: BLE001 — every failure ends in a readable message
        user_error = _user_error(exc)
        if user_error is None:
            traceback.print_exc()
            print(f"\nelectra-tfx: the run failed: {type(exc).__name__}: {exc}", file=sys.stderr)
            report.write_after_run(cfg, since=started)
            return EXIT_FAILED
        print(f"\nelectra-tfx: {user_error}", file=sys.stderr)
        if os.path.exists(cfg.metadata_path):
            print(f"(run metadata: {cfg.metadata_path})", file=sys.stderr)
        report.write_after_run(cfg, since=started)
        return EXIT_BAD_INPUT
    # The report first: the summary ends with its path, and with the command's whole time.
    report_path = report.write_after_run(cfg, checkpoint, since=started, announce=False)
    _registered_card(cfg, record)
    print()
    print(summary.format_summary(cfg, record, checkpoint, scan, time.time() - started,
                                 report_path=report_path), flush=True)
    return exit_code(record)


def _registered_card(cfg: pipeline_config.PipelineConfig, record) -> None:
    """--registry mlflow: the model card joins the registered version (never fails the run)."""
    from components import model_registry
    try:
        line = model_registry.after_run(cfg, record.pushed_path, [
            os.path.join(record.pushed_path or "", name) for name in ("model_card.md",
                                                                      "model_card.json")])
    except Exception as exc:  # noqa: BLE001
        print(f"electra-tfx: could not add the model card to the registry: "
              f"{type(exc).__name__}: {exc}", file=sys.stderr, flush=True)
        return
    if line:
        print(line, flush=True)


def exit_code(record) -> int:
    """0 when the candidate was blessed and pushed; 3 when the run completed without that."""
    return EXIT_BLESSED if record.blessed and record.pushed_path else EXIT_NOT_BLESSED
