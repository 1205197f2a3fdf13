"""`electra-tfx`: the command line.

    electra-tfx run --train data.csv [--eval eval.csv] [--checkpoint ID|DIR|auto] ...
    electra-tfx runs --output DIR                 past runs, from ML Metadata
    electra-tfx report --output DIR [--run ID]    a run's summary, lineage and report path
"""
import argparse
import logging
import os
import sys
import warnings
from typing import List, Optional

# Keras 2 (tf-keras) for transformers' TF models; must be set before TensorFlow loads.
os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
# oneDNN CPU kernels: off by default on some CPUs, 13-36% faster training here and needed
# for bfloat16 matmuls (docs/benchmarks.md).
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")

import pipeline_config  # noqa: E402
from pipeline import beam_options  # noqa: E402


def _add_run_parser(sub) -> None:
    run = sub.add_parser("run", help="run the pipeline end to end (local Beam, SQLite metadata)",
                         formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    _add_pipeline_arguments(run)
    run.add_argument("--metadata-mysql", metavar="HOST[:PORT]/DB",
                     help="record ML Metadata in this MySQL database (user and password from "
                     "ELECTRA_TFX_MYSQL_USER, ELECTRA_TFX_MYSQL_PASSWORD); default: SQLite in the "
                     "output directory")
    run.add_argument("--metadata-config", metavar="FILE.pbtxt",
                     help="ML Metadata connection as a ml_metadata ConnectionConfig text proto")


def _add_pipeline_arguments(run) -> None:
    """The data, model, task and training flags, shared by `run` and `compile`."""
    defaults = pipeline_config.PipelineConfig()
    run.add_argument("--train", help="training data: a file, glob or folder of CSV (with header), "
                     "JSON Lines or TFRecord of tf.Example, or tfds:NAME[/CONFIG][:SPLIT] "
                     "(default: the embedded sentiment sentences)")
    run.add_argument("--eval", help="evaluation data (same formats); without it a deterministic "
                     f"hash split holds out {defaults.data.eval_percent}%% of --train")
    run.add_argument("--tfds-data-dir", help="TensorFlow Datasets' data directory, for "
                     "--train/--eval tfds:NAME[/CONFIG][:SPLIT] (default: TFDS' own)")
    run.add_argument("--text-column", default=defaults.data.text_column)
    run.add_argument("--label-column", default=defaults.data.label_column)
    run.add_argument("--text-pair-column", default=defaults.data.text_pair_column,
                     help="text-pair-classification: the column with the second text")
    run.add_argument("--task", default=defaults.task, help="the task to train: text-classification, "
                     "text-pair-classification, token-classification, question-answering, embedding")
    run.add_argument("--multi-label", action="store_true",
                     help="text-classification: several labels per text, separated by --label-separator")
    run.add_argument("--label-separator", default=defaults.data.label_separator)
    run.add_argument("--regression", action="store_true",
                     help="text-classification: a float label (e.g. a similarity score)")
    run.add_argument("--doc-stride", type=int, default=defaults.task_options.doc_stride,
                     help="question-answering: stride of the windows over long contexts")
    run.add_argument("--checkpoint", default=defaults.model.checkpoint,
                     help="hub id, local HuggingFace-format directory, 'auto' (the default hub "
                     "checkpoint, else a small ELECTRA from scratch) or 'scratch'")
    run.add_argument("--on-bad-rows", choices=("fail", "quarantine"), default=defaults.data.on_bad_rows,
                     help="a bad row (malformed, no text, unknown label, ...) stops the run (fail), "
                     "or goes to OUTPUT/quarantine/ while the run trains on the rest (quarantine)")
    run.add_argument("--max-bad-rows-fraction", type=float,
                     default=defaults.data.max_bad_rows_fraction,
                     help="with --on-bad-rows quarantine, the run still fails when more than this "
                     "share of a split's rows is bad")
    run.add_argument("--pretrain-steps", type=int, default=None,
                     help="ELECTRA pre-training (replaced-token detection) steps before "
                     "fine-tuning; default: "
                     f"{defaults.pretrain.scratch_steps} for a checkpoint built from scratch "
                     "('scratch', or 'auto' without the hub), else 0")
    run.add_argument("--pretrain-corpus", help="unlabelled text to pre-train on besides the "
                     "training text: a file, folder or glob of .txt (one text a line), JSON "
                     "Lines or CSV (field/column 'text', see --set pretrain.corpus_text_column)")
    run.add_argument("--schema", help="a curated schema.pbtxt (ImportSchemaGen); default: inferred")
    run.add_argument("--output", help="output directory (default: runs/<pipeline name>)")
    run.add_argument("--pipeline-name", default=defaults.pipeline_name)
    run.add_argument("--max-seq-length", type=int, default=None,
                     help="WordPiece tokens per input, longer inputs are truncated or windowed "
                     "(default: 384 for question-answering, else 128)")
    run.add_argument("--epochs", type=int, default=defaults.train.epochs)
    run.add_argument("--batch-size", type=int, default=defaults.train.batch_size)
    run.add_argument("--learning-rate", type=float, default=None,
                     help="peak learning rate (default: ELECTRA's by model size: 3e-4 Small, 1e-4 "
                     f"Base, 5e-5 Large; {defaults.model.scratch_learning_rate} from scratch)")
    run.add_argument("--require-beat-baseline", action=argparse.BooleanOptionalAction,
                     default=None, help="push only a candidate that beats the simple baseline "
                     "trained in the same run by eval.baseline_margin (default: on for "
                     "text(-pair) classification, off for --regression and the other tasks)")
    run.add_argument("--slice-column", action="append", default=[], metavar="COLUMN",
                     help="also report the evaluation metrics per value of this raw column "
                     "(repeatable)")
    run.add_argument("--no-cache", action="store_true", help="re-run every component")
    run.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                     help="set any config field, e.g. --set train.layer_decay=0.9 (repeatable)")
    run.add_argument("-v", "--verbose", action="store_true", help="log TFX and Beam at INFO")
    run.add_argument("--beam-preset", choices=sorted(beam_options.PRESETS),
                     help="Beam runner options for every Beam-powered component (default: "
                     "in-memory DirectRunner); see README, \"Running at scale\"")
    run.add_argument("--beam-arg", action="append", default=[], metavar="--NAME=VALUE",
                     help="a Beam pipeline option, applied after the preset (repeatable)")


def _add_compile_parser(sub) -> None:
    compile_ = sub.add_parser(
        "compile", help="compile the same pipeline for Kubeflow Pipelines v2 / Vertex AI "
        "Pipelines (see README, \"Running at scale\")",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    compile_.add_argument("--target", default="kubeflow-v2", choices=["kubeflow-v2"])
    compile_.add_argument("--image", required=True,
                          help="container image of every component (built from the Dockerfile)")
    compile_.add_argument("--pipeline-root", required=True,
                          help="URI the run writes to (artifacts/, serving/), e.g. gs://bucket/x")
    compile_.add_argument("--out", required=True, help="the pipeline file: .json (a Vertex AI "
                          "PipelineJob) or .yaml (the PipelineSpec that the Kubeflow Pipelines "
                          "client takes)")
    compile_.add_argument("--label-counts", metavar="JSON|FILE",
                          help="label -> count of the training data as a JSON object or file, "
                          "for the Evaluator's bars (default: scan --train once)")
    _add_pipeline_arguments(compile_)


def _add_history_parsers(sub) -> None:
    default_output = pipeline_config.PipelineConfig().output_dir
    runs = sub.add_parser("runs", help="list past runs of an output directory (from ML Metadata)")
    runs.add_argument("--output", default=default_output, help="the --output of `electra-tfx run`")
    report = sub.add_parser("report", help="print a run's summary, lineage and report path")
    report.add_argument("--output", default=default_output, help="the --output of `electra-tfx run`")
    report.add_argument("--run", help="a run id from `electra-tfx runs` (default: the latest)")
    for parser in (runs, report):
        parser.add_argument("-v", "--verbose", action="store_true", help="log at INFO")


def _history_command(args: argparse.Namespace) -> int:
    from pipeline.report import runs
    try:
        if args.command == "runs":
            print(runs.format_runs(runs.list_runs(args.output)))
        else:
            data, path = runs.run_report(args.output, args.run)
            print(runs.format_report(data, path))
    except runs.NoRunsError as e:
        print(f"electra-tfx: {e}", file=sys.stderr)
        return 2
    return 0


def config_from_args(args: argparse.Namespace) -> pipeline_config.PipelineConfig:
    cfg = pipeline_config.PipelineConfig()
    cfg.pipeline_name = args.pipeline_name
    cfg.task = args.task
    cfg.output = args.output
    cfg.enable_cache = not args.no_cache
    if args.train:
        cfg.data.train = args.train
    cfg.data.eval = args.eval
    cfg.data.tfds_data_dir = args.tfds_data_dir
    cfg.data.text_column = args.text_column
    cfg.data.label_column = args.label_column
    cfg.data.text_pair_column = args.text_pair_column
    cfg.data.label_separator = args.label_separator
    cfg.task_options.multi_label = args.multi_label
    cfg.task_options.regression = args.regression
    cfg.task_options.doc_stride = args.doc_stride
    cfg.data.schema = args.schema
    cfg.data.on_bad_rows = args.on_bad_rows
    cfg.data.max_bad_rows_fraction = args.max_bad_rows_fraction
    if not args.train and not args.schema:
        # The embedded default data comes with its curated schema.
        cfg.data.schema = pipeline_config.DEFAULT_DATA_SCHEMA
    cfg.model.checkpoint = args.checkpoint
    cfg.model.max_seq_length = args.max_seq_length
    cfg.pretrain.steps = args.pretrain_steps
    cfg.pretrain.corpus = args.pretrain_corpus
    cfg.train.epochs = args.epochs
    cfg.train.batch_size = args.batch_size
    cfg.train.learning_rate = args.learning_rate
    cfg.eval.require_beat_baseline = args.require_beat_baseline
    cfg.eval.slice_columns = list(args.slice_column)
    for assignment in args.set:
        key, sep, value = assignment.partition("=")
        if not sep:
            raise pipeline_config.ConfigError(f"--set {assignment}: expected KEY=VALUE")
        pipeline_config.set_field(cfg, key.strip(), value.strip())
    if getattr(args, "metadata_mysql", None):
        cfg.metadata.mysql = args.metadata_mysql
    if getattr(args, "metadata_config", None):
        cfg.metadata.config_file = args.metadata_config
    from trainer import distribution  # noqa: E402 (TensorFlow: only after parsing)
    distribution.check_config(cfg.train)
    if args.beam_preset or args.beam_arg:
        cfg.beam_args = beam_options.beam_args(cfg.beam_args, args.beam_preset, args.beam_arg)
    return cfg


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="electra-tfx", description=__doc__.strip().splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    _add_run_parser(sub)
    _add_compile_parser(sub)
    _add_history_parsers(sub)
    args = parser.parse_args(beam_options.join_option_values(
        sys.argv[1:] if argv is None else argv, "--beam-arg"))

    # Without -v only errors are logged: TFX, Beam and TFMA warn a lot about their own
    # internals. What the user must see (fallbacks, the summary) is printed instead.
    logging.basicConfig(level=logging.INFO if args.verbose else logging.ERROR,
                        format="%(asctime)s %(levelname)s %(message)s")
    if not args.verbose:
        # Dependencies warn about their own deprecations at import; none is actionable here.
        warnings.filterwarnings("ignore", category=FutureWarning)
        warnings.filterwarnings("ignore", category=DeprecationWarning)
        for name in ("absl", "apache_beam", "tensorflow"):
            logging.getLogger(name).setLevel(logging.ERROR)
        # TFX raises absl's verbosity while it runs; filtering at the handler keeps it quiet.
        for handler in logging.getLogger().handlers:
            handler.setLevel(logging.ERROR)
    if args.command in ("runs", "report"):
        return _history_command(args)
    from pipeline import runner  # heavy imports only after argument parsing

    if args.command == "run":
        try:
            cfg = config_from_args(args)
        except pipeline_config.ConfigError as e:
            print(f"electra-tfx: error: {e}", file=sys.stderr)
            return 2
        return runner.run_and_report(cfg, verbose=args.verbose)
    if args.command == "compile":
        from pipeline import compiler
        try:
            cfg = config_from_args(args)
        except pipeline_config.ConfigError as e:
            print(f"electra-tfx: error: {e}", file=sys.stderr)
            return 2
        return compiler.compile_and_report(cfg, args)
    return 2


if __name__ == "__main__":
    sys.exit(main())
