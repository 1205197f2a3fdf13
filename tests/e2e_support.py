"""What the end-to-end test modules share: the `electra-tfx` command, the tiny model's
settings and checkpoint. Two modules, so pytest-xdist runs the long pipeline runs and the
runs that stop early on different workers."""
import contextlib
import json
import os
import pathlib
import re
import subprocess
import sys
import tempfile
import textwrap
import time

from tests import fixtures

CLI = str(pathlib.Path(sys.executable).parent / "electra-tfx")
# A 1-layer random-init ELECTRA needs a high learning rate and ~200 steps to leave its plateau.
TINY_ARGS = ["--epochs", "6", "--batch-size", "16", "--learning-rate", "1e-2",
             "--max-seq-length", "24", "--set", "train.layer_decay=1.0",
             "--set", "train.bucket_boundaries=8,12"]
# Continued ELECTRA pre-training of the checkpoint (a few steps) before fine-tuning.
PRETRAIN_ARGS = ["--pretrain-steps", "3", "--set", "pretrain.batch_size=16",
                 "--set", "pretrain.bucket_boundaries=8,12", "--set", "pretrain.log_every=1"]


def run_cli(*args, timeout=900, own_process=False):
    """`electra-tfx run ARGS`: a CompletedProcess with what it printed and its exit code;
    `.seconds`: its wall time, measured here.

    By default the command runs in this process (cli.main, as the entry point calls it), with
    file descriptors 1 and 2 captured: a test process has TensorFlow, TFX and Beam loaded
    already, which a new process spends ~15 s of each run importing. `own_process=True` runs
    the real `electra-tfx` executable, for what only a process of its own shows: the log of
    a start-up (third-party noise while importing), the command's total time, a kill; only
    such a run can be stopped after `timeout` seconds."""
    started = time.time()
    if own_process:
        proc = subprocess.run([CLI, "run", *args], capture_output=True, text=True,
                              timeout=timeout)
    else:
        from pipeline import cli as command
        with _captured_output() as captured:
            code = command.main(["run", *map(str, args)])
        proc = subprocess.CompletedProcess([CLI, "run", *args], code, *captured)
    proc.seconds = time.time() - started
    return proc


@contextlib.contextmanager
def _captured_output():
    """Yields [stdout, stderr], filled in when the block ends: what the block wrote to file
    descriptors 1 and 2, C++ and Python writes alike (sys.stdout and sys.stderr point at
    them meanwhile: pytest replaces both with its own capture objects)."""
    captured = []
    files = [tempfile.TemporaryFile() for _ in range(2)]
    streams = sys.stdout, sys.stderr
    for stream in streams:
        stream.flush()
    saved = [os.dup(1), os.dup(2)]
    try:
        os.dup2(files[0].fileno(), 1)
        os.dup2(files[1].fileno(), 2)
        sys.stdout, sys.stderr = (open(fd, "w", buffering=1, closefd=False, errors="replace")
                                  for fd in (1, 2))
        yield captured
    finally:
        for stream in (sys.stdout, sys.stderr):
            if stream not in streams:
                stream.close()  # flushes; fds 1 and 2 stay open (closefd=False)
        sys.stdout, sys.stderr = streams
        for fd, copy in zip((1, 2), saved):
            os.dup2(copy, fd)
            os.close(copy)
        for f in files:
            f.seek(0)
            captured.append(f.read().decode("utf-8", errors="replace"))
            f.close()


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


def run_in_process(*args, stop_after=None, summary=False):
    """`electra-tfx run ARGS` in this process; returns its exit code (read what it printed
    with pytest's capfd). With `stop_after` (a component id), only that component and the
    components it depends on run (a TFX partial run), and no report is written (nor the
    summary, unless `summary`): a check and what feeds it, without training."""
    from unittest import mock

    from tfx.orchestration.local.local_dag_runner import LocalDagRunner
    from tfx.orchestration.pipeline import RunOptions

    from pipeline import cli, runner

    def run_until(pipeline):
        runner.apply_local_beam_settings(pipeline)  # as runner.run_locally
        saved_argv = sys.argv
        sys.argv = saved_argv[:1]  # as runner.run_locally: pytest's flags are not Beam's
        try:
            LocalDagRunner().run(pipeline, run_options=RunOptions(to_nodes=[stop_after]))
        finally:
            sys.argv = saved_argv

    if stop_after is None:
        return cli.main(["run", *args])
    with mock.patch.object(runner, "run_locally", run_until), \
            mock.patch.object(runner.summary, "format_summary",
                              runner.summary.format_summary if summary else lambda *a, **k: ""), \
            mock.patch.object(runner.report, "write_after_run", lambda *a, **k: None):
        return cli.main(["run", *args])


def component_states(output):
    """{component id: "ran" | "cached" | "failed" | ...} of the latest run in OUTPUT."""
    from pipeline.run_record import read_run
    record = read_run(str(pathlib.Path(output) / "metadata.sqlite"))
    return {c.name: c.state for c in record.components}
