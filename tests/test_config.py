"""The typed configuration and its command-line mapping."""
import pytest

import pipeline_config
from pipeline.cli import _add_run_parser, config_from_args
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
    assert pipeline_config.with_training_defaults(cfg, "hub").model.max_seq_length == 128
    cfg.task = "question-answering"
    assert pipeline_config.with_training_defaults(cfg, "hub").model.max_seq_length == 384
    cfg.task = "text-classification"
    assert cfg.output_dir.endswith("runs/electra-tfx")
    small = pipeline_config.with_training_defaults(cfg, "hub", hidden_size=256)
    assert (small.train.learning_rate, small.train.layer_decay) == (3e-4, 0.8)
    base = pipeline_config.with_training_defaults(cfg, "local", hidden_size=768)
    assert base.train.learning_rate == 1e-4
    large = pipeline_config.with_training_defaults(cfg, "local", hidden_size=1024)
    assert large.train.learning_rate == 5e-5
    scratch = pipeline_config.with_training_defaults(cfg, "scratch")
    assert (scratch.train.learning_rate, scratch.train.layer_decay) == (1e-3, 1.0)
    assert cfg.train.learning_rate is None, "with_training_defaults must not modify its input"


@pytest.mark.parametrize("assignment, message", [
    ("train.nope=1", "unknown field"),
    ("nope=1", "unknown field"),
    ("train.epochs=many", "expected int"),
    ("train.use_xla=maybe", "expected bool"),
    ("epochs", "expected KEY=VALUE"),
])
def test_bad_set_is_a_clear_error(assignment, message):
    with pytest.raises(pipeline_config.ConfigError, match=message):
        _parse("--set", assignment)


def test_round_trip_through_custom_config():
    cfg = _parse("--epochs", "7", "--set", "train.bucket_boundaries=8,16")
    context = RunContext(config=cfg, checkpoint_dir="/c", lower_case=False, num_labels=3)
    again = RunContext.from_custom_config(context.to_custom_config())
    assert again == context


def test_training_settings_do_not_invalidate_transform():
    a = RunContext(config=_parse("--epochs", "1"), checkpoint_dir="/c", lower_case=True)
    b = RunContext(config=_parse("--epochs", "9", "--learning-rate", "1"), checkpoint_dir="/c",
                   lower_case=True)
    assert a.transform_custom_config() == b.transform_custom_config()
    c = RunContext(config=_parse("--max-seq-length", "64"), checkpoint_dir="/c", lower_case=True)
    assert a.transform_custom_config() != c.transform_custom_config()
