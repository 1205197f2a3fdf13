"""Checkpoints referenced by URI are resolved where the component runs (compiled pipelines)."""
import os

import pytest
import tensorflow as tf

import pipeline_config
from tests import fixtures
from trainer import checkpoint as checkpoint_lib
from trainer import remote_checkpoint
from trainer.run_context import RunContext


@pytest.fixture(scope="module")
def tiny_checkpoint(tmp_path_factory):
    config = pipeline_config.ModelConfig(scratch_vocab_size=120, scratch_hidden_size=32,
                                         scratch_num_layers=1, scratch_num_heads=2,
                                         scratch_intermediate_size=64)
    texts = [t for t, _ in fixtures.sentiment_rows(50)]
    return checkpoint_lib.build_scratch_checkpoint(
        texts, str(tmp_path_factory.mktemp("ckpt") / "tiny"), config)


def _upload(local_dir: str, uri: str) -> None:
    tf.io.gfile.makedirs(uri)
    for name in os.listdir(local_dir):
        tf.io.gfile.copy(os.path.join(local_dir, name), f"{uri}/{name}", overwrite=True)


def _context(reference):
    return RunContext(config=pipeline_config.PipelineConfig(), checkpoint_dir=reference,
                      lower_case=None)


def test_a_uri_checkpoint_is_copied_to_a_local_directory(tiny_checkpoint, tmp_path, monkeypatch):
    monkeypatch.setenv(remote_checkpoint.CACHE_ENV, str(tmp_path / "cache"))
    uri = "ram://bucket/checkpoints/tiny"  # TensorFlow's in-memory file system stands in for gs://
    _upload(tiny_checkpoint, uri)
    local = remote_checkpoint.localize(_context(uri))
    assert local.checkpoint_dir.startswith(str(tmp_path / "cache"))
    with open(os.path.join(local.checkpoint_dir, "vocab.txt")) as f, \
            open(os.path.join(tiny_checkpoint, "vocab.txt")) as g:
        assert f.read() == g.read()
    assert local.lower_case is True  # read from tokenizer_config.json
    # A second component on the same machine reuses the copy.
    assert remote_checkpoint.localize(_context(uri)).checkpoint_dir == local.checkpoint_dir
    # The round trip through TFX's custom_config keeps "lower_case unknown".
    assert RunContext.from_custom_config(_context(uri).to_custom_config()).lower_case is None


def test_a_uri_without_weights_is_a_checkpoint_error(tiny_checkpoint, tmp_path, monkeypatch):
    monkeypatch.setenv(remote_checkpoint.CACHE_ENV, str(tmp_path / "cache"))
    uri = "ram://bucket/checkpoints/broken"
    _upload(tiny_checkpoint, uri)
    tf.io.gfile.remove(f"{uri}/tf_model.h5")
    with pytest.raises(checkpoint_lib.CheckpointError, match="tf_model.h5 does not exist"):
        remote_checkpoint.localize(_context(uri))


def test_a_resolved_local_checkpoint_is_left_alone(tiny_checkpoint):
    context = RunContext(config=pipeline_config.PipelineConfig(), checkpoint_dir=tiny_checkpoint,
                         lower_case=False)
    assert remote_checkpoint.localize(context) is context
