"""electra-tfx fine-tunes an ELECTRA text model on your data with a TFX pipeline, and pushes it
for serving only when it is blessed (it beats the bars and the simple baseline it is evaluated
against).

Try it on the embedded sentiment sentences (what `make run` runs), then on your own data:

  electra-tfx run --checkpoint auto
  electra-tfx run --train train.csv [--eval eval.csv] --text-column TEXT --label-column LABEL

Then look back:

  electra-tfx runs                     every run: status, data, metrics, pushed version
  electra-tfx report [RUN] [--out DIR] a run's summary and its HTML report

Score files with the pushed model:

  electra-tfx predict --model latest --input FILE|GLOB --output scored.jsonl

`electra-tfx COMMAND --help` lists a command's flags; README.md explains them.
"""
import argparse
import dataclasses
import importlib
import logging
import os
import sys
import typing
import warnings
from typing import List, Optional

# Keras 2 (tf-keras) for transformers' TF models; must be set before TensorFlow loads.
os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
# oneDNN CPU kernels: off by default on some CPUs, 13-36% faster training here and needed
# for bfloat16 matmuls (docs/benchmarks.md).
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")

import pipeline_config  # noqa: E402
from pipeline.exit_codes import EXIT_BAD_INPUT  # noqa: E402
from pipeline import beam_options  # noqa: E402
from pipeline import predict  # noqa: E402
from trainer import console  # noqa: E402


class _HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """One default per flag: the config flags state theirs in their help (from the field's
    metadata); other options get argparse's "(default: X)" only when X says something."""

    def _get_help_string(self, action):
        help_ = action.help or ""
        if "(default:" in help_ or action.default in (None, False, [], argparse.SUPPRESS) \
                or action.option_strings == ["-h", "--help"]:
            return help_
        return super()._get_help_string(action)


def _shown_default(f) -> str:
    """The one default a flag's help shows: the field's `default_help`, else its value."""
    if "default_help" in f.metadata:
        return f.metadata["default_help"]
    default = f.default if f.default is not dataclasses.MISSING else f.default_factory()
    if isinstance(default, bool):
        return "on" if default else "off"
    return str(default)


# The order of the flags in --help: the data first, where everything goes last.
_HELP_ORDER = ("data.", "task", "task_options.", "model.", "pretrain.", "train.", "tune.",
               "eval.", "predict.", "", "metadata.", "registry.")


def config_flags(command: str = "run"):
    """(dotted field, field, type) of every flag `command` has for a config field."""
    flags = [(name, f, annotation) for name, f, annotation in pipeline_config.flag_fields()
             if command in f.metadata.get("commands", ("run", "compile"))]

    def rank(item):
        name = item[0]
        if "." not in name and name != "task":
            return _HELP_ORDER.index("")
        return next(i for i, prefix in enumerate(_HELP_ORDER)
                    if prefix and (name.startswith(prefix) or name == prefix))
    return sorted(flags, key=rank)


def flag_help(f, listed: str = "") -> str:
    """A config flag's help: its field's help (and the values a registry lists) and its one
    shown default."""
    return f"{f.metadata['help']}{listed} (default: {_shown_default(f)})".replace("%", "%%")


def _listed(meta) -> str:
    """`listed_by`: a TF-free function naming the allowed values (the task registry's)."""
    if "listed_by" not in meta:
        return ""
    module, _, function = meta["listed_by"].rpartition(".")
    return ": " + ", ".join(getattr(importlib.import_module(module), function)())


def _add_config_flags(parser, command: str) -> None:
    """The flags of the config fields that have one (pipeline_config.py's `flag` metadata).

    Every flag's argparse default is None ("not given"): config_from_args sets only what was
    given, so the config's own defaults are the only defaults."""
    for name, f, annotation in config_flags(command):
        meta = f.metadata
        kwargs = {"help": flag_help(f, _listed(meta)), "default": None, "dest": _dest(f)}
        action = meta.get("action")
        if action == "store_true":
            kwargs["action"] = "store_true"
        elif action == "boolean_optional":
            kwargs["action"] = argparse.BooleanOptionalAction
        else:
            if action == "append":
                kwargs["action"] = "append"
            scalar = _scalar_type(annotation)
            if scalar in (int, float):
                kwargs["type"] = scalar
            for key in ("metavar", "choices"):
                if key in meta:
                    kwargs[key] = meta[key]
        parser.add_argument(meta["flag"], **kwargs)


def _dest(f) -> str:
    """argparse's own name for the flag (`--text-column` -> text_column), as before."""
    return f.metadata["flag"].lstrip("-").replace("-", "_")


def _scalar_type(annotation):
    """int, float or str for Optional[int] etc.; None for lists (parsed by set_field)."""
    args = [a for a in typing.get_args(annotation) if a is not type(None)]
    base = args[0] if typing.get_origin(annotation) is typing.Union and len(args) == 1 \
        else annotation
    return base if base in (int, float, str) else None


def _add_run_parser(sub) -> None:
    run = sub.add_parser("run", help="run the pipeline end to end (local Beam, SQLite metadata)",
                         formatter_class=_HelpFormatter)
    _add_pipeline_arguments(run, "run")


# The options of `run` and `compile` that are no config field's flag.
CLI_ONLY_FLAGS = ("--set", "-v", "--beam-preset", "--beam-arg")


def _add_pipeline_arguments(run, command: str = "run") -> None:
    """The data, model, task and training flags, shared by `run` and `compile`."""
    _add_config_flags(run, command)
    run.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                     help="set any config field (pipeline_config.py), e.g. --set "
                     "train.layer_decay=0.9 (repeatable)")
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
        formatter_class=_HelpFormatter)
    compile_.add_argument("--target", default="kubeflow-v2", choices=["kubeflow-v2"],
                          help="the orchestrator to compile for")
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
    _add_pipeline_arguments(compile_, "compile")


def _add_history_parsers(sub) -> None:
    default_output = pipeline_config.PipelineConfig().output_dir
    runs = sub.add_parser(
        "runs", formatter_class=_HelpFormatter,
        help="list the runs of an output directory: status (blessed, not blessed, failed and "
        "why), data, checkpoint, metrics, pushed version")
    report = sub.add_parser(
        "report", formatter_class=_HelpFormatter,
        help="print a run's summary, lineage and report path; --out DIR writes the report there")
    report.add_argument("run_id", nargs="?", metavar="RUN",
                        help="a run id from `electra-tfx runs` (default: the latest run)")
    report.add_argument("--run", dest="run_flag", metavar="RUN", help="the same as RUN")
    report.add_argument("--out", metavar="DIR",
                        help="write the report (index.html and the images and data beside it) "
                        "to DIR instead of the run's folder OUTPUT/report/runs/RUN/")
    for parser in (runs, report):
        parser.add_argument("--output", metavar="DIR", default=default_output,
                            help="the --output of `electra-tfx run`")
        parser.add_argument("-v", "--verbose", action="store_true", help="log at INFO")


def _history_command(args: argparse.Namespace) -> int:
    from pipeline.report import runs
    try:
        if args.command == "runs":
            print(runs.format_runs(runs.list_runs(args.output)))
        else:
            data, path = runs.run_report(args.output, args.run_id or args.run_flag, args.out)
            print(runs.format_report(data, path))
    except runs.NoRunsError as e:
        print(f"electra-tfx: {e}", file=sys.stderr)
        return 2
    return 0


def config_from_args(args: argparse.Namespace) -> pipeline_config.PipelineConfig:
    """The checked config of `run`/`compile`: the fields' defaults, the flags given, then
    every --set, in that order; nothing heavy is imported."""
    cfg = pipeline_config.PipelineConfig()
    if getattr(args, "quick", None):
        pipeline_config.apply_quick(cfg)  # first: the flags and --set below override it
    for name, f, annotation in config_flags(getattr(args, "command", None) or "run"):
        value = getattr(args, _dest(f), None)
        if value is None:
            continue
        section, _, leaf = name.rpartition(".")
        target = getattr(cfg, section) if section else cfg
        if f.metadata.get("invert"):
            value = not value
        if isinstance(value, str) and _scalar_type(annotation) is None:
            pipeline_config.set_field(cfg, name, value)  # a list given as one value: --labels
        else:
            setattr(target, leaf, list(value) if isinstance(value, list) else value)
    if not getattr(args, "train", None) and not getattr(args, "schema", None):
        # The embedded default data comes with its curated schema.
        cfg.data.schema = pipeline_config.DEFAULT_DATA_SCHEMA
    for assignment in args.set:
        key, sep, value = assignment.partition("=")
        if not sep:
            raise pipeline_config.ConfigError(f"--set {assignment}: expected KEY=VALUE")
        pipeline_config.set_field(cfg, key.strip(), value.strip())
    from trainer import tasks  # TensorFlow-free: the registry and the tasks' Traits
    pipeline_config.validate(cfg, tasks.traits(cfg.task))
    if args.beam_preset or args.beam_arg:
        cfg.beam_args = beam_options.beam_args(cfg.beam_args, args.beam_preset, args.beam_arg)
    return cfg


def build_parser() -> argparse.ArgumentParser:
    """The command line: `run`, `compile`, `runs`, `report` and `predict`."""
    parser = argparse.ArgumentParser(prog="electra-tfx", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    _add_run_parser(sub)
    _add_compile_parser(sub)
    _add_history_parsers(sub)
    predict.add_parser(sub, _HelpFormatter)
    return parser


def main(argv: Optional[List[str]] = None) -> int:
    started = console.process_started() if argv is None else None  # the command's own time
    parser = build_parser()
    args = parser.parse_args(beam_options.join_option_values(
        sys.argv[1:] if argv is None else argv, "--beam-arg"))
    with console.output(args.verbose):  # without -v: no third-party noise (trainer/console.py)
        code = _command(args, started)
    if argv is None:  # the command's process: its time is the summary's (no slow teardown)
        console.end_process(code)
    return code


def _command(args: argparse.Namespace, started: Optional[float]) -> int:
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
    if args.command == "predict":
        return predict.main(args, started)
    # Settings are checked before TensorFlow loads: a mistake is reported in a second.
    try:
        cfg = config_from_args(args)
    except pipeline_config.ConfigError as e:
        print(f"electra-tfx: error: {e}", file=sys.stderr)
        return EXIT_BAD_INPUT
    from pipeline import precheck  # the data files and the checkpoint folder, in a second
    try:
        # compile --label-counts reads no data: its paths may exist only where it runs.
        precheck.check(cfg, on_cluster=args.command == "compile",
                       read_data=args.command == "run" or not args.label_counts)
    except precheck.ERRORS as e:
        print(f"electra-tfx: {e}", file=sys.stderr)
        return EXIT_BAD_INPUT
    if args.command == "run":
        console.say("Loading TensorFlow and TFX ...")
        from pipeline import runner  # heavy imports only after the settings are checked
        return runner.run_and_report(cfg, verbose=args.verbose, started=started)
    if args.command == "compile":
        from pipeline import compiler
        return compiler.compile_and_report(cfg, args)
    return EXIT_BAD_INPUT


if __name__ == "__main__":
    sys.exit(main())
