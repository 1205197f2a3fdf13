"""What the end-to-end test modules share: the `electra-tfx` command, the tiny model's
settings and checkpoint. Two modules, so pytest-xdist runs the long pipeline runs and the
runs that stop early on different workers."""
import json
import pathlib
import re
import subprocess
import sys
import textwrap

from tests import fixtures

CLI = str(pathlib.Path(sys.executable).parent / "electra-tfx")
# A 1-layer random-init ELECTRA needs a high learning rate and ~200 steps to leave its plateau.
TINY_ARGS = ["--epochs", "6", "--batch-size", "16", "--learning-rate", "1e-2",
             "--max-seq-length", "24", "--set", "train.layer_decay=1.0",
             "--set", "train.bucket_boundaries=8,12"]
# Continued ELECTRA pre-training of the checkpoint (a few steps) before fine-tuning.
PRETRAIN_ARGS = ["--pretrain-steps", "3", "--set", "pretrain.batch_size=16",
                 "--set", "pretrain.bucket_boundaries=8,12", "--set", "pretrain.log_every=1"]


def run_cli(*args, timeout=900):
    proc = subprocess.run([CLI, "run", *args], capture_output=True, text=True, timeout=timeout)
    return proc


def cli(*args, timeout=300):
    """Another `electra-tfx` command (runs, report)."""
    return subprocess.run([CLI, *args], capture_output=True, text=True, timeout=timeout)


def report_images(page: pathlib.Path):
    """The <img> files of a report page; each must exist beside it."""
    images = re.findall(r'<img src="([^"]+)"', page.read_text())
    for image in images:
        assert (page.parent / image).is_file(), image
    return set(images)


def build_tiny_checkpoint(tmp_path_factory):
    """A 1-layer ELECTRA with a WordPiece vocabulary learned from the fixture sentences."""
    from pipeline_config import ModelConfig
    from trainer.checkpoint import build_scratch_checkpoint
    out = tmp_path_factory.mktemp("ckpt") / "tiny"
    texts = [t for t, _ in fixtures.sentiment_rows(400, seed=1)]
    config = ModelConfig(scratch_vocab_size=400, scratch_hidden_size=32, scratch_num_layers=1,
                         scratch_num_heads=2, scratch_intermediate_size=64)
    return build_scratch_checkpoint(texts, str(out), config)


def serve(model_dir, code):
    """Runs `code` against the SavedModel in a fresh interpreter: TensorFlow and TF Text only."""
    script = textwrap.dedent("""
        import json, sys
        import tensorflow as tf
        import tensorflow_text  # noqa: F401
        assert "transformers" not in sys.modules
        model = tf.saved_model.load(sys.argv[1])
    """) + textwrap.dedent(code) + textwrap.dedent("""
        assert not any(m.split(".")[0] in ("transformers", "trainer", "pipeline", "components")
                       for m in sys.modules), "the served model needed project code"
    """)
    proc = subprocess.run([sys.executable, "-c", script, str(model_dir)], capture_output=True,
                          text=True, timeout=300, env={"TF_CPP_MIN_LOG_LEVEL": "2", "PATH": "/usr/bin:/bin"})
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])
