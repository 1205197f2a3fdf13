"""The typed configuration and its command-line mapping."""
import pytest

import pipeline_config
from pipeline.cli import _add_run_parser, config_from_args
from trainer import tasks
from trainer.run_context import RunContext


def _parse(*argv):
    import argparse
    parser = argparse.ArgumentParser()
    _add_run_parser(parser.add_subparsers(dest="command"))
    return config_from_args(parser.parse_args(["run", *argv]))


def test_flags_and_set_reach_the_config():
    cfg = _parse("--train", "x.csv", "--eval", "y.csv", "--text-column", "review",
                 "--label-column", "stars", "--checkpoint", "/ckpt", "--max-seq-length", "64",
                 "--epochs", "5", "--batch-size", "8", "--learning-rate", "2e-5",
                 "--set", "train.layer_decay=0.9", "--set", "use_xla=true",
                 "--set", "train.bucket_boundaries=10,20", "--set", "eval.min_accuracy=0.7",
                 "--set", "beam_args=[\"--direct_num_workers=2\"]")
    assert (cfg.data.train, cfg.data.eval) == ("x.csv", "y.csv")
    assert (cfg.data.text_column, cfg.data.label_column) == ("review", "stars")
    assert cfg.model.checkpoint == "/ckpt" and cfg.model.max_seq_length == 64
    assert (cfg.train.epochs, cfg.train.batch_size, cfg.train.learning_rate) == (5, 8, 2e-5)
    assert cfg.train.layer_decay == 0.9 and cfg.train.use_xla is True
    assert cfg.train.bucket_boundaries == [10, 20]
    assert cfg.eval.min_accuracy == 0.7
    assert cfg.beam_args == ["--direct_num_workers=2"]


def test_defaults():
    cfg = _parse()
    assert cfg.data.train == pipeline_config.DEFAULT_DATA
    assert cfg.data.schema == pipeline_config.DEFAULT_DATA_SCHEMA
    assert _parse("--train", "x.csv").data.schema is None
    assert cfg.data.eval is None and cfg.data.text_column == "text" and cfg.data.label_column == "label"
    assert cfg.model.checkpoint == "google/electra-small-discriminator"
    assert cfg.model.max_seq_length is None
    facts = pipeline_config.CheckpointFacts
    assert pipeline_config.resolve(
        cfg, facts("hub"), tasks.traits(cfg.task)).model.max_seq_length == 128
    cfg.task = "question-answering"
    assert pipeline_config.resolve(
        cfg, facts("hub"), tasks.traits(cfg.task)).model.max_seq_length == 384
    cfg.task = "text-classification"
    assert cfg.output_dir.endswith("runs/electra-tfx")
    small = pipeline_config.resolve(cfg, facts("hub", hidden_size=256), tasks.traits(cfg.task))
    assert (small.train.learning_rate, small.train.layer_decay) == (3e-4, 0.8)
    assert small.pretrain.steps == 0 and pipeline_config.unresolved(small) == []
    base = pipeline_config.resolve(cfg, facts("local", hidden_size=768), tasks.traits(cfg.task))
    assert base.train.learning_rate == 1e-4
    large = pipeline_config.resolve(cfg, facts("local", hidden_size=1024), tasks.traits(cfg.task))
    assert large.train.learning_rate == 5e-5
    scratch = pipeline_config.resolve(cfg, facts("scratch"), tasks.traits(cfg.task))
    assert (scratch.train.learning_rate, scratch.train.layer_decay) == (1e-3, 1.0)
    assert scratch.pretrain.steps == cfg.pretrain.scratch_steps
    assert cfg.train.learning_rate is None, "resolve must not modify its input"
    assert pipeline_config.unresolved(cfg) == list(pipeline_config.RESOLVED_FIELDS)


def test_resolve_asks_the_task_and_keeps_what_the_user_set():
    cfg = _parse("--learning-rate", "2e-5", "--set", "train.layer_decay=0.9")
    resolved = pipeline_config.resolve(cfg, pipeline_config.CheckpointFacts("scratch"),
                                       tasks.Traits(default_max_seq_length=200))
    assert resolved.model.max_seq_length == 200
    assert (resolved.train.learning_rate, resolved.train.layer_decay) == (2e-5, 0.9)
    assert _parse("--max-seq-length", "64").model.max_seq_length == 64


def test_a_compiled_config_is_resolved_once_by_the_trainer():
    """The compiler cannot know the checkpoint's size: it resolves everything else and marks the
    context; the Trainer resolves the learning rate with the size it reads. A context that is
    not marked must arrive resolved: nothing re-resolves it silently."""
    cfg = pipeline_config.resolve(_parse(), pipeline_config.ON_CLUSTER,
                                  tasks.traits("text-classification"))
    assert pipeline_config.unresolved(cfg) == ["train.learning_rate"]
    assert (cfg.model.max_seq_length, cfg.train.layer_decay, cfg.pretrain.steps) == (128, 0.8, 0)
    compiled = RunContext(config=cfg, checkpoint_dir="gs://b/c", lower_case=None,
                          resolve_in_trainer=True)
    arrived = RunContext.from_custom_config(compiled.to_custom_config())
    assert arrived.resolve_in_trainer
    trained = arrived.resolved_for_training(768, tasks.traits(cfg.task))
    assert trained.config.train.learning_rate == 1e-4 and not trained.resolve_in_trainer
    assert trained.resolved_for_training(256, tasks.traits(cfg.task)) == trained
    unmarked = RunContext(config=cfg, checkpoint_dir="/c", lower_case=True)
    with pytest.raises(pipeline_config.ConfigError, match="train.learning_rate unset"):
        unmarked.resolved_for_training(256, tasks.traits(cfg.task))


@pytest.mark.parametrize("assignment, message", [
    ("train.nope=1", "unknown field"),
    ("nope=1", "unknown field"),
    ("train.epoch=1", "unknown field; did you mean train.epochs"),
    ("lerning_rate=1", "did you mean train.learning_rate"),
    ("trian.epochs=1", "did you mean train.epochs"),
    ("learning_rate=1", "ambiguous field; one of "),
    ("train.epochs=many", "expected int"),
    ("train.use_xla=maybe", "expected bool"),
    ("epochs", "expected KEY=VALUE"),
])
def test_bad_set_is_a_clear_error(assignment, message):
    with pytest.raises(pipeline_config.ConfigError, match=message):
        _parse("--set", assignment)


def test_round_trip_through_custom_config():
    cfg = _parse("--epochs", "7", "--set", "train.bucket_boundaries=8,16")
    context = RunContext(config=cfg, checkpoint_dir="/c", lower_case=False, labels=["a", "b"])
    again = RunContext.from_custom_config(context.to_custom_config())
    assert again == context


def test_num_labels_is_gone_from_the_context():
    """It was serialized (and in cache keys) but never read; RunContext.labels is what is."""
    context = RunContext(config=_parse(), checkpoint_dir="/c", lower_case=True)
    assert "num_labels" not in context.to_custom_config()
    assert not hasattr(context, "num_labels")


def test_a_missing_field_is_an_error_not_a_default():
    full = _parse("--epochs", "7").to_dict()
    del full["train"]["epochs"]
    with pytest.raises(pipeline_config.ConfigError, match="train.*epochs"):
        pipeline_config.from_dict(full)
    del full["train"]
    with pytest.raises(pipeline_config.ConfigError, match="lacks train"):
        pipeline_config.from_dict(full)
    with pytest.raises(pipeline_config.ConfigError, match="no field nope"):
        pipeline_config.from_dict({**_parse().to_dict(), "nope": 1})


def test_transform_reads_only_what_it_was_given():
    """Transform's custom_config leaves the training sections out (its cache key); reading one
    there is an error naming the component, not the default (epochs read 3 whatever was asked)."""
    context = RunContext(config=_parse("--epochs", "7", "--max-seq-length", "64"),
                         checkpoint_dir="/c", lower_case=True)
    transform = RunContext.from_custom_config(context.transform_custom_config())
    assert transform.config.model.max_seq_length == 64
    assert transform.config.data.text_column == "text" and transform.config.task == context.config.task
    with pytest.raises(pipeline_config.ConfigError, match="train.epochs is not passed to Transform"):
        transform.config.train.epochs
    with pytest.raises(pipeline_config.ConfigError, match="output is not passed to Transform"):
        transform.config.output_dir
    partial = RunContext.from_custom_config(context.view_custom_config(
        "the baseline Trainer", {"train": ("batch_size", "seed")}))
    assert partial.config.train.batch_size == 32
    with pytest.raises(pipeline_config.ConfigError, match="the baseline Trainer"):
        partial.config.train.epochs


def test_training_settings_do_not_invalidate_transform():
    a = RunContext(config=_parse("--epochs", "1"), checkpoint_dir="/c", lower_case=True)
    b = RunContext(config=_parse("--epochs", "9", "--learning-rate", "1"), checkpoint_dir="/c",
                   lower_case=True)
    assert a.transform_custom_config() == b.transform_custom_config()
    c = RunContext(config=_parse("--max-seq-length", "64"), checkpoint_dir="/c", lower_case=True)
    assert a.transform_custom_config() != c.transform_custom_config()


NONSENSE = [
    (["--epochs", "0"], "--epochs must be at least 1, got 0"),
    (["--epochs", "-2"], "--epochs must be at least 1"),
    (["--batch-size", "0"], "--batch-size must be at least 1"),
    (["--set", "train.steps_per_epoch=0"], "train.steps_per_epoch must be at least 1"),
    (["--learning-rate", "0"], "--learning-rate must be above 0"),
    (["--learning-rate=-1e-3"], "--learning-rate must be above 0"),
    (["--max-seq-length", "2"], "--max-seq-length must be at least 3"),
    (["--task", "text-pair-classification", "--max-seq-length", "4"],
     "--max-seq-length must be at least 5"),
    (["--max-seq-length", "1000"], "--max-seq-length must be at most 512"),
    (["--set", "train.warmup_ratio=1.5"], "train.warmup_ratio"),
    (["--set", "train.layer_decay=0"], "train.layer_decay"),
    (["--set", "eval.chance_confidence=1"], "eval.chance_confidence"),
    (["--set", "data.eval_percent=0"], "data.eval_percent"),
    (["--pretrain-steps", "-1"], "--pretrain-steps must be at least 0"),
    (["--multi-label", "--regression"], "cannot be combined"),
    (["--set", "train.strategy=cluster"], "train.strategy=cluster: expected one of"),
    (["--set", "pretrain.mask_token_rate=2"], "pretrain.mask_token_rate must be from 0 to 1"),
    (["--set", "pretrain.mask_rate=0"], "pretrain.mask_rate must be above 0"),
    (["--set", "pretrain.temperature=0"], "pretrain.temperature must be above 0"),
    (["--pretrain-steps", "5", "--set", "pretrain.use_training_text=false"],
     "leaves nothing to pre-train on"),
    (["--pretrain-steps", "0", "--pretrain-corpus", "c.txt"], "pass --pretrain-steps N"),
    (["--require-beat-baseline", "--set", "eval.simple_baseline=false"],
     "--require-beat-baseline needs the simple baseline"),
    (["--task", "question-answering", "--set", "eval.simple_baseline=false"],
     "question-answering task's chance-level rule compares the candidate with its simple"),
]


@pytest.mark.parametrize("argv,message", NONSENSE, ids=[" ".join(a) for a, _ in NONSENSE])
def test_nonsense_settings_are_refused(argv, message):
    with pytest.raises(pipeline_config.ConfigError, match=message.replace("+", r"\+")):
        _parse(*argv)


def test_the_defaults_are_valid():
    cfg = _parse()
    pipeline_config.validate(cfg, tasks.traits(cfg.task))


def test_epochs_zero_is_refused_in_seconds_without_loading_tensorflow():
    """Exit 2 with one line, before TensorFlow (or anything heavy) is imported."""
    import subprocess
    import sys
    import time
    code = ("import sys\nfrom pipeline import cli\nrc = cli.main(['run', '--epochs', '0'])\n"
            "heavy = [m for m in sys.modules if m.split('.')[0] in "
            "('tensorflow', 'tfx', 'transformers', 'apache_beam')]\n"
            "print(rc, heavy)\n")
    started = time.monotonic()
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=60)
    elapsed = time.monotonic() - started
    assert proc.stdout.strip() == "2 []", proc.stdout + proc.stderr
    assert proc.stderr.strip().splitlines() == [
        "electra-tfx: error: --epochs must be at least 1, got 0 (a model that does not train "
        "is never worth evaluating)"]
    assert elapsed < 3, elapsed


def _option_help(command):
    """option string -> help of every option of `electra-tfx COMMAND`."""
    import argparse
    from pipeline import cli
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers(dest="command")
    cli._add_run_parser(sub)
    cli._add_compile_parser(sub)
    sub_parser = sub.choices[command]
    formatter = sub_parser._get_formatter()
    return {option: formatter._expand_help(action) if action.help else ""
            for action in sub_parser._actions for option in action.option_strings
            if option.startswith("--") and option != "--help"}


@pytest.mark.parametrize("command", ["run", "compile"])
def test_every_flag_has_help_and_exactly_one_default(command):
    import re
    from pipeline import cli
    helps = _option_help(command)
    assert all(helps.values()), [option for option, h in helps.items() if not h]
    for name, f, _ in cli.config_flags(command):
        help_ = helps[f.metadata["flag"]]
        assert help_.startswith(f.metadata["help"]), (name, help_)
        assert len(re.findall(r"\(default: ", help_)) == 1, (name, help_)
    assert not [o for o, h in helps.items() if h.count("(default:") > 1]


def test_every_flag_maps_to_a_config_field():
    """The flags of `run` are the config fields' (pipeline_config.py `flag` metadata) and the
    few options of the command line itself; none is copied into the config by hand."""
    from pipeline import cli
    field_flags = {f.metadata["flag"] for _, f, _ in cli.config_flags("run")}
    flags = set(_option_help("run"))
    assert flags - field_flags == {flag for flag in cli.CLI_ONLY_FLAGS if flag.startswith("--")} | {
        "--verbose", "--no-require-beat-baseline"}
    assert {"--train", "--eval", "--tfds-data-dir", "--text-column", "--label-column",
            "--text-pair-column", "--task", "--multi-label", "--label-separator", "--regression",
            "--doc-stride", "--checkpoint", "--on-bad-rows", "--max-bad-rows-fraction",
            "--pretrain-steps", "--pretrain-corpus", "--schema", "--output", "--pipeline-name",
            "--max-seq-length", "--epochs", "--batch-size", "--learning-rate",
            "--require-beat-baseline", "--labels", "--slice-column", "--no-cache", "--quick",
            "--metadata-mysql", "--metadata-config",
            "--registry", "--registry-uri", "--registry-model", "--predict", "--tune",
            "--tune-trials"} == field_flags


def test_flags_keep_their_meaning():
    cfg = _parse("--no-cache", "--multi-label", "--labels", "b,a", "--slice-column", "x",
                 "--slice-column", "y", "--no-require-beat-baseline", "--on-bad-rows",
                 "quarantine", "--max-bad-rows-fraction", "0.2", "--pretrain-steps", "3",
                 "--pretrain-corpus", "c.txt", "--doc-stride", "64", "--output", "o",
                 "--pipeline-name", "p", "--tfds-data-dir", "t", "--text-pair-column", "tp",
                 "--label-separator", ";", "--metadata-mysql", "h/db", "--schema", "s.pbtxt")
    assert cfg.enable_cache is False and cfg.task_options.multi_label is True
    assert cfg.data.labels == ["b", "a"] and cfg.eval.slice_columns == ["x", "y"]
    assert cfg.eval.require_beat_baseline is False
    assert (cfg.data.on_bad_rows, cfg.data.max_bad_rows_fraction) == ("quarantine", 0.2)
    assert (cfg.pretrain.steps, cfg.pretrain.corpus, cfg.task_options.doc_stride) == (3, "c.txt", 64)
    assert (cfg.output, cfg.pipeline_name, cfg.data.tfds_data_dir) == ("o", "p", "t")
    assert (cfg.data.text_pair_column, cfg.data.label_separator) == ("tp", ";")
    assert (cfg.metadata.mysql, cfg.data.schema) == ("h/db", "s.pbtxt")
    defaults = _parse()
    assert defaults == _with_schema(pipeline_config.PipelineConfig())
    assert _parse("--require-beat-baseline").eval.require_beat_baseline is True


def _with_schema(cfg):
    cfg.data.schema = pipeline_config.DEFAULT_DATA_SCHEMA
    return cfg


def _run_cli_fresh(argv):
    """`cli.main(argv)` in a fresh interpreter: (exit code, heavy modules imported, stderr)."""
    import subprocess
    import sys
    code = ("import sys\nfrom pipeline import cli\n"
            f"try:\n    rc = cli.main({argv!r})\nexcept SystemExit as e:\n    rc = e.code\n"
            "heavy = [m for m in sys.modules if m.split('.')[0] in "
            "('tensorflow', 'tfx', 'transformers', 'apache_beam')]\n"
            "print(rc, heavy, file=sys.stderr)\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=60)
    *lines, last = proc.stderr.strip().splitlines()
    return last, lines, proc.stdout


def test_an_unknown_set_key_is_refused_with_a_suggestion_without_loading_tensorflow():
    import time
    started = time.monotonic()
    result, lines, _ = _run_cli_fresh(["run", "--set", "train.epoch=2"])
    assert result == "2 []"
    assert lines == ["electra-tfx: error: --set train.epoch: unknown field; did you mean "
                     "train.epochs?"], lines
    assert time.monotonic() - started < 3


@pytest.mark.parametrize("argv", [["--help"], ["run", "--help"], ["compile", "--help"]])
def test_help_does_not_load_tensorflow(argv):
    result, _, stdout = _run_cli_fresh(argv)
    assert result == "0 []", result
    assert "usage: electra-tfx" in stdout
