"""Multi-worker training as a cluster runs it: the Trainer's `run_fn` in two processes on
127.0.0.1, each with its own TF_CONFIG (`train.strategy=multi-worker`), on a tiny scratch
checkpoint and transformed examples made without a pipeline.

One run, killed and restarted as a training service would restart a failed job: worker 1 dies
(SIGKILL, by its own hand at a fixed step, so that the test does not race the training) after
the first checkpoint; the chief, left waiting in a collective, is killed too; both start again
and training continues from the checkpoint, not from step 0. Then: identical final weights in
both workers, one export (the chief's), one history (the chief's), the backup folder gone.
"""
import json
import os
import pathlib
import signal
import socket
import subprocess
import sys
import textwrap
import time
import types

import numpy as np
import pytest

import pipeline_config
from tests import fixtures
from tests.e2e_support import build_tiny_checkpoint
from trainer import tasks
from trainer.run_context import RunContext

REPO = str(pathlib.Path(__file__).resolve().parent.parent)
EVERY_STEPS, KILL_AT_STEP = 3, 5

WORKER_SCRIPT = textwrap.dedent("""
    import json, os, signal, sys
    fn_args_file, weights_file, kill_at = sys.argv[1], sys.argv[2], int(sys.argv[3])
    import types
    import numpy as np
    import tf_keras
    from trainer import keras_progress, run, training

    class KillAt(tf_keras.callbacks.Callback):
        # This process dies as a preempted machine would, after `kill_at` steps of this run.
        def __init__(self):
            super().__init__()
            self.steps = 0
        def on_train_batch_end(self, batch, logs=None):
            self.steps += 1
            if self.steps == kill_at:
                print("killing myself at step", self.steps, flush=True)
                os.kill(os.getpid(), signal.SIGKILL)

    if kill_at:
        fit_options = keras_progress.fit_options
        def with_kill(label, *a, **k):
            callbacks, verbose = fit_options(label, *a, **k)
            return callbacks + [KillAt()], verbose
        run.keras_progress.fit_options = with_kill

    export = training.export
    def export_and_record(task, model, *a, **k):
        np.savez(weights_file, *model.get_weights())
        return export(task, model, *a, **k)
    training.export = export_and_record

    run.run_fn(types.SimpleNamespace(**json.load(open(fn_args_file))))
    print("worker done", flush=True)
""")


def _free_ports(n):
    sockets = [socket.socket() for _ in range(n)]
    for s in sockets:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


def _transformed_examples(tmp_path, checkpoint):
    """(RunContext, transformed examples file, transform graph dir) of 48 sentiment rows."""
    import tensorflow as tf

    from tests.test_task_contract import _transform
    from trainer import tasks

    cfg = pipeline_config.PipelineConfig(output=str(tmp_path / "out"))
    cfg.model.max_seq_length = 16
    cfg.train.batch_size = cfg.train.eval_batch_size = 8
    cfg.train.epochs = 2
    cfg.train.bucket_boundaries = [8, 12]
    cfg.train.strategy = "multi-worker"
    cfg.train.checkpoint_every_steps = EVERY_STEPS
    cfg.train.learning_rate = 1e-3
    cfg = pipeline_config.resolve(cfg, pipeline_config.CheckpointFacts("scratch", 32),
                                  tasks.traits("text-classification"))
    context = RunContext(cfg, checkpoint, True, labels=["neg", "pos"])
    rows = [{"text": t, "label": y} for t, y in fixtures.sentiment_rows(48, seed=3)]
    string = tf.io.FixedLenFeature([], tf.string)
    data = types.SimpleNamespace(rows=rows, raw_spec={"text": string, "label": string})
    _, examples = _transform(tasks.create(context), context, data, str(tmp_path / "data"))
    return context, examples, str(tmp_path / "data" / "transform")


def _start(tmp_path, attempt, fn_args, ports, kill_at):
    """Both workers of one attempt; returns [(process, log path, weights path)]."""
    workers = []
    for index in range(2):
        tf_config = {"cluster": {"worker": [f"127.0.0.1:{p}" for p in ports]},
                     "task": {"type": "worker", "index": index}}
        own = dict(fn_args, model_run_dir=str(tmp_path / f"model_run{index}"),
                   serving_model_dir=str(tmp_path / f"serving{index}"))
        args_file = tmp_path / f"fn_args{index}.json"
        args_file.write_text(json.dumps(own))
        log = tmp_path / f"{attempt}-worker{index}.log"
        weights = tmp_path / f"{attempt}-weights{index}.npz"
        env = dict(os.environ, TF_CONFIG=json.dumps(tf_config), TF_USE_LEGACY_KERAS="1",
                   TF_CPP_MIN_LOG_LEVEL="2", PYTHONPATH=REPO, CUDA_VISIBLE_DEVICES="")
        with open(log, "w") as out:
            proc = subprocess.Popen(
                [sys.executable, "-c", WORKER_SCRIPT, str(args_file), str(weights),
                 str(kill_at if index == 1 else 0)],
                stdout=out, stderr=subprocess.STDOUT, env=env, start_new_session=True)
        workers.append((proc, log, weights))
    return workers


def _kill(workers):
    for proc, _, _ in workers:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


def _logs(workers):
    return "\n".join(f"--- {log.name}\n{log.read_text()[-3000:]}" for _, log, _ in workers)


@pytest.mark.slow  # two attempts of two TensorFlow processes each: ~2-3 min on 2 cores
def test_two_workers_train_in_step_export_once_and_resume_after_a_kill(
        tmp_path, tmp_path_factory):
    checkpoint = build_tiny_checkpoint(tmp_path_factory)
    context, examples, transform_dir = _transformed_examples(tmp_path, checkpoint)
    fn_args = {"train_files": [examples], "eval_files": [examples],
               "transform_output": transform_dir, "base_model": None, "hyperparameters": None,
               "custom_config": context.to_custom_config()}
    backups = pathlib.Path(context.config.output_dir) / "checkpoints"

    # Attempt 1: worker 1 dies after step KILL_AT_STEP (a checkpoint was taken at EVERY_STEPS).
    first = _start(tmp_path, "first", fn_args, _free_ports(2), KILL_AT_STEP)
    try:
        first[1][0].wait(timeout=600)
        assert first[1][0].returncode == -signal.SIGKILL, _logs(first)
        assert list(backups.glob("train-*/chief/checkpoint")), _logs(first)
    finally:
        _kill(first)  # the chief waits for its peer in a collective: the job is restarted
    assert not (tmp_path / "serving0").exists()

    # Attempt 2: both again, as the training service restarts the job (new ports here, the old
    # ones may linger in TIME_WAIT).
    second = _start(tmp_path, "second", fn_args, _free_ports(2), 0)
    try:
        deadline = time.time() + 600
        for proc, _, _ in second:
            proc.wait(timeout=max(1, deadline - time.time()))
    finally:
        _kill(second)
    logs = _logs(second)
    assert [proc.returncode for proc, _, _ in second] == [0, 0], logs
    for _, log, _ in second:
        resumed = [line for line in log.read_text().splitlines()
                   if line.startswith("Resumed training from step ")]
        assert len(resumed) == 1 and int(resumed[0].split()[4]) >= EVERY_STEPS, logs

    # The workers trained in step: the same weights, bit for bit or nearly.
    chief, worker = (np.load(weights) for _, _, weights in second)
    assert len(chief.files) == len(worker.files) > 0
    for name in chief.files:
        np.testing.assert_allclose(chief[name], worker[name], rtol=1e-6, atol=1e-7)
    # One export, by the chief; one history, the chief's, saying where training resumed.
    assert (tmp_path / "serving0" / "saved_model.pb").exists()
    assert not (tmp_path / "serving1").exists()
    history = json.loads((tmp_path / "model_run0" / "history.json").read_text())
    assert history["resumed_from_step"] >= EVERY_STEPS
    assert not (tmp_path / "model_run1" / "history.json").exists()
    # The backup went with the success, the other worker's temporary folder with it.
    assert not list(backups.glob("train-*")), list(backups.rglob("*"))


def test_run_fn_creates_the_strategy_before_anything_else(monkeypatch):
    """MultiWorkerMirroredStrategy must come before any other TensorFlow op in the process
    (reading the checkpoint or the data included): the fast guard of the slow test above."""
    from trainer import distribution, run, training

    class Stop(Exception):
        pass

    calls = []

    def record(name, result=None, stop=False):
        def call(*args, **kwargs):
            calls.append(name)
            if stop:
                raise Stop
            return args[0] if result is None else result
        return call

    cfg = pipeline_config.resolve(pipeline_config.PipelineConfig(),
                                  pipeline_config.CheckpointFacts("scratch", 32),
                                  tasks.traits("text-classification"))
    cfg.train.strategy = "multi-worker"
    monkeypatch.setattr(distribution, "setup_strategy", record("strategy", result="S"))
    monkeypatch.setattr(training.remote_checkpoint, "localize", record("checkpoint"))
    monkeypatch.setattr(training.model_lib, "hidden_size", record("checkpoint", result=32))
    monkeypatch.setattr(training, "bind", record("data", stop=True))
    fn_args = types.SimpleNamespace(
        custom_config=RunContext(cfg, "ckpt", True).to_custom_config(), base_model=None,
        transform_output="graph", hyperparameters=None)
    with pytest.raises(Stop):
        run.run_fn(fn_args)
    assert calls[0] == "strategy" and calls.count("strategy") == 1, calls
