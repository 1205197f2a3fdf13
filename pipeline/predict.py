"""`electra-tfx predict`: scores files with a pushed model (Beam RunInference on its
`serving_default` or `serve_text` signature); every row keeps its columns and gains the task's
outputs. The flags, and the checks that take a second (before TensorFlow loads): the model
folder, the input files and their format, the output's format. The scoring itself:
pipeline/batch_predict.py.

    electra-tfx predict --model latest --input 'new/*.csv.gz' --output scored.jsonl
"""
import argparse
import os
import sys
from typing import List, Optional

import pipeline_config
from components import bad_rows
from pipeline.exit_codes import EXIT_BAD_INPUT, EXIT_BLESSED
from trainer import console

# The checks' modules are imported when `predict` runs, not when the CLI builds its parser:
# components/input_files.py loads TFX's protos, which the other commands do not need.

SIGNATURES = ("serving_default", "serve_text")
OUTPUT_FORMATS = {".jsonl": "jsonl", ".json": "jsonl", ".csv": "csv"}
# Rows per call of the signature: the best of those tried in bench/bench_predict.py.
DEFAULT_BATCH_SIZE = 32
# Input files whose heads are read before TensorFlow loads (the rest are read when scored).
MAX_CHECKED_FILES = 20


def errors() -> tuple:
    """The mistakes whose one-line message is the whole story (exit 2, no traceback)."""
    from components.input_files import InputError
    from components.model_versions import ModelNotFoundError
    from components.readers.errors import BadInputError
    return InputError, BadInputError, ModelNotFoundError, pipeline_config.ConfigError


def add_parser(sub, formatter_class) -> argparse.ArgumentParser:
    default_output_dir = pipeline_config.PipelineConfig().output_dir
    predict = sub.add_parser(
        "predict", formatter_class=formatter_class,
        help="score CSV, JSON Lines or TFRecord files with a pushed model: each row keeps its "
        "columns and gains the model's outputs (Beam RunInference)")
    predict.add_argument("--model", required=True, metavar="DIR|latest",
                         help="the SavedModel folder (a pushed version OUTPUT/serving/<model>/"
                         "<version>, or a model's serving folder: its newest version), or "
                         "`latest`: the newest complete version pushed under --output-dir")
    predict.add_argument("--input", required=True, metavar="FILE|GLOB|DIR",
                         help="the rows to score: a file, a glob or a folder of .csv, .tsv, "
                         ".jsonl, .tfrecord or .conll files, optionally gzipped (.gz)")
    predict.add_argument("--output", required=True, metavar="FILE",
                         help="where the scored rows go: .jsonl (JSON Lines) or .csv (lists as "
                         "JSON); written whole at the end, in input order")
    predict.add_argument("--output-dir", metavar="DIR", default=default_output_dir,
                         help="the --output of `electra-tfx run` whose serving/ folder "
                         "`--model latest` reads (OUTPUT/quick for a --quick run)")
    predict.add_argument("--model-name", metavar="NAME",
                         help="with --model latest: only this model's versions (default: the "
                         "newest push of any model under OUTPUT/serving/)")
    predict.add_argument("--signature", choices=SIGNATURES, default="serving_default",
                         help="serving_default reads each row's columns as the model was trained "
                         "on them (tf.Example features); serve_text reads the signature's "
                         "inputs (text, text_pair; question, context) from columns of the same "
                         "name, or as --column maps them")
    predict.add_argument("--column", action="append", default=[], metavar="INPUT=COLUMN",
                         help="with --signature serve_text: feed the input INPUT from COLUMN, "
                         "e.g. --column text=review (repeatable); several values of a column "
                         "are joined by spaces")
    predict.add_argument("--batch-size", type=int, default=DEFAULT_BATCH_SIZE, metavar="N",
                         help="rows per call of the signature")
    predict.add_argument("--on-bad-rows", choices=bad_rows.POLICIES, default=bad_rows.FAIL,
                         help="a row without the text the model reads (missing, blank, not "
                         "UTF-8, malformed): fail stops before scoring and lists them; "
                         "quarantine scores the rest. Both write them to OUTPUT.bad_rows.jsonl")
    predict.add_argument("-v", "--verbose", action="store_true", help="log TensorFlow and Beam")
    return predict


class Request:
    """The checked arguments: the model folder, the input files, the output and its format."""

    def __init__(self, args: argparse.Namespace):
        from components.input_files import InputError
        from components.model_versions import resolve_model
        self.output = os.path.abspath(os.path.expanduser(args.output))
        self.output_format = output_format(self.output)
        if args.batch_size < 1:
            raise pipeline_config.ConfigError(f"--batch-size {args.batch_size}: must be at least 1")
        self.columns = parse_columns(args.column)
        if self.columns and args.signature != "serve_text":
            raise pipeline_config.ConfigError("--column maps serve_text's inputs; add "
                                              "--signature serve_text")
        self.model_dir = resolve_model(args.model, args.output_dir, args.model_name)
        self.files = input_files(args.input)
        if os.path.abspath(self.output) in self.files:
            raise InputError(f"--output {args.output} is one of the --input files")
        self.signature = args.signature
        self.batch_size = args.batch_size
        self.on_bad_rows = args.on_bad_rows
        self.bad_rows_file = self.output + ".bad_rows.jsonl"


def output_format(path: str) -> str:
    extension = os.path.splitext(path)[1].lower()
    if extension not in OUTPUT_FORMATS:
        raise pipeline_config.ConfigError(
            f"--output {path}: unknown format {extension or '(no extension)'}; name it "
            f"{', '.join(sorted(OUTPUT_FORMATS))}")
    parent = os.path.dirname(path)
    if parent and os.path.exists(parent) and not os.path.isdir(parent):
        raise pipeline_config.ConfigError(f"--output {path}: {parent} is not a folder")
    return OUTPUT_FORMATS[extension]


def parse_columns(assignments: List[str]) -> dict:
    columns = {}
    for assignment in assignments:
        name, sep, column = assignment.partition("=")
        if not sep or not name.strip() or not column.strip():
            raise pipeline_config.ConfigError(f"--column {assignment}: expected INPUT=COLUMN")
        columns[name.strip()] = column.strip()
    return columns


def input_files(path: str) -> List[str]:
    """The files `--input` names, each of a recognised format whose head reads as such."""
    from components.input_files import (InputError, RECOGNISED_EXTENSIONS, file_kind,
                                         resolve_files)
    from components.readers.head import check_head
    if os.path.isfile(path) and not file_kind(path):
        raise InputError(f"--input {path}: unknown format; expected one of "
                         f"{', '.join(RECOGNISED_EXTENSIONS)}")
    files = resolve_files(path, "--input")
    for file in files[:MAX_CHECKED_FILES]:
        check_head(file)
    return files


def main(args: argparse.Namespace, started: Optional[float] = None) -> int:
    try:
        request = Request(args)
    except errors() as e:
        message = str(e)
        print(f"electra-tfx: {'error: ' if isinstance(e, pipeline_config.ConfigError) else ''}"
              f"{message}", file=sys.stderr)
        return EXIT_BAD_INPUT
    console.say("Loading TensorFlow and Beam ...")
    from pipeline import batch_predict  # heavy imports only after the arguments are checked
    from components.readers.errors import BadInputError
    try:
        batch_predict.predict(request)
    except (BadInputError, bad_rows.BadRowsError, batch_predict.SignatureError) as e:
        print(f"electra-tfx: {e}", file=sys.stderr)
        return EXIT_BAD_INPUT
    return EXIT_BLESSED
