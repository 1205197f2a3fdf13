"""`electra-tfx`: the command line.

    electra-tfx run --train data.csv [--eval eval.csv] [--checkpoint ID|DIR|auto] ...
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

import pipeline_config  # noqa: E402


def _add_run_parser(sub) -> None:
    run = sub.add_parser("run", help="run the pipeline end to end (local Beam, SQLite metadata)",
                         formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    defaults = pipeline_config.PipelineConfig()
    run.add_argument("--train", help="training data: a file, glob or folder of CSV (with header), "
                     "JSON Lines or TFRecord of tf.Example (default: the embedded sentiment sentences)")
    run.add_argument("--eval", help="evaluation data (same formats); without it a deterministic "
                     f"hash split holds out {defaults.data.eval_percent}%% of --train")
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


def config_from_args(args: argparse.Namespace) -> pipeline_config.PipelineConfig:
    cfg = pipeline_config.PipelineConfig()
    cfg.pipeline_name = args.pipeline_name
    cfg.task = args.task
    cfg.output = args.output
    cfg.enable_cache = not args.no_cache
    if args.train:
        cfg.data.train = args.train
    cfg.data.eval = args.eval
    cfg.data.text_column = args.text_column
    cfg.data.label_column = args.label_column
    cfg.data.text_pair_column = args.text_pair_column
    cfg.data.label_separator = args.label_separator
    cfg.task_options.multi_label = args.multi_label
    cfg.task_options.regression = args.regression
    cfg.task_options.doc_stride = args.doc_stride
    cfg.data.schema = args.schema
    if not args.train and not args.schema:
        # The embedded default data comes with its curated schema.
        cfg.data.schema = pipeline_config.DEFAULT_DATA_SCHEMA
    cfg.model.checkpoint = args.checkpoint
    cfg.model.max_seq_length = args.max_seq_length
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
    return cfg


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="electra-tfx", description=__doc__.strip().splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    _add_run_parser(sub)
    args = parser.parse_args(argv)

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
    from pipeline import runner  # heavy imports only after argument parsing

    if args.command == "run":
        try:
            cfg = config_from_args(args)
        except pipeline_config.ConfigError as e:
            print(f"electra-tfx: error: {e}", file=sys.stderr)
            return 2
        return runner.run_and_report(cfg, verbose=args.verbose)
    return 2


if __name__ == "__main__":
    sys.exit(main())
