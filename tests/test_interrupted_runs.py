"""Interrupted and concurrent runs: training resumes from its last checkpoint after a kill,
and a second run on the same output directory is refused while the first holds it.

* fast: Keras-level resumption (weights, optimizer slots and step restored), the stable backup
  location, and the OUTPUT/.lock refusal (exit 2, naming the holder);
* slow: the CLI killed with SIGKILL during the Trainer, then the same command again: the
  finished components come from the cache, training resumes (not from step 0), the model is
  blessed and pushed.
"""
import json
import os
import pathlib
import signal
import subprocess
import sys
import textwrap
import time
import types

import numpy as np
import pytest
import tensorflow as tf
import tf_keras

from pipeline import run_lock
from tests import fixtures
from trainer import optimization, resume

REPO_ROOT = pathlib.Path(__file__).resolve().parent.parent


# ---- resumption, in process -------------------------------------------------------------------

class _Interrupt(tf_keras.callbacks.Callback):
    """Stands in for a kill: stops `fit` with an exception after `after` steps."""

    def __init__(self, after):
        super().__init__()
        self.after, self.steps = after, 0

    def on_train_batch_end(self, batch, logs=None):
        self.steps += 1
        if self.steps == self.after:
            raise KeyboardInterrupt("killed")


class _StateAtStart(tf_keras.callbacks.Callback):
    """Records the weights and optimizer variables fit starts from (after the restore)."""

    def on_train_begin(self, logs=None):
        self.weights = [w.numpy().copy() for w in self.model.weights]
        self.optimizer = [v.numpy().copy() for v in self.model.optimizer.variables]


def _model(total_steps):
    tf_keras.utils.set_random_seed(0)
    inputs = tf_keras.Input((4,))
    hidden = tf_keras.layers.Dense(8, name="dense")(inputs)
    model = tf_keras.Model(inputs, tf_keras.layers.Dense(2, name="classifier")(hidden))
    optimizer = optimization.create_optimizer(
        learning_rate=1e-2, num_train_steps=total_steps, warmup_ratio=0.1, weight_decay=0.01,
        layer_decay=1.0, num_layers=1, clip_norm=1.0)
    optimizer.build(model.trainable_variables)
    model.compile(optimizer=optimizer,
                  loss=tf_keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    return model


def test_training_resumes_from_the_last_checkpoint(tmp_path):
    x = np.random.RandomState(0).randn(80, 4).astype("float32")
    data = tf.data.Dataset.from_tensor_slices((x, (x[:, 0] > 0).astype("int64"))).batch(8)
    epochs, steps_per_epoch, every = 4, 10, 3
    backup = str(tmp_path / "checkpoints" / "train-x")

    first = _model(epochs * steps_per_epoch)
    with pytest.raises(KeyboardInterrupt):
        # Saves after steps 3, 6, 9, at the end of epoch 1 (10), then 13 and 16.
        first.fit(data.repeat(), epochs=epochs, steps_per_epoch=steps_per_epoch, verbose=0,
                  callbacks=[resume.ResumableTraining(backup, every), _Interrupt(16)])
    assert int(first.optimizer.iterations.numpy()) == 16

    second = _model(epochs * steps_per_epoch)  # a new process: fresh weights
    callback, start = resume.ResumableTraining(backup, every), _StateAtStart()
    history = second.fit(data.repeat(), epochs=epochs, steps_per_epoch=steps_per_epoch,
                         verbose=0, callbacks=[callback, start])
    assert callback.resumed_from_step == 16
    # Weights and optimizer slots (Adam moments, step) are the ones of the interrupted run.
    for restored, saved in zip(start.weights, first.weights):
        np.testing.assert_array_equal(restored, saved.numpy())
    for restored, saved in zip(start.optimizer, first.optimizer.variables):
        np.testing.assert_array_equal(restored, saved.numpy())
    # Epoch 2 (index 1) is finished from its 7th step on; the total is the planned one, so the
    # learning-rate schedule ends where it would have without the interruption.
    assert history.epoch == [1, 2, 3]
    assert int(second.optimizer.iterations.numpy()) == epochs * steps_per_epoch
    assert not os.path.exists(backup)  # deleted once training finished


def test_backup_location_is_keyed_by_the_trainers_inputs_and_config(tmp_path):
    def fn_args(transform="t/1", epochs=3):
        return types.SimpleNamespace(
            train_files=[f"{transform}/Split-train/*"], eval_files=[f"{transform}/Split-eval/*"],
            transform_output="graph/1", custom_config={"config": {"train": {"epochs": epochs}}})

    output = str(tmp_path)
    same = resume.backup_dir(output, fn_args())
    assert same == resume.backup_dir(output, fn_args())
    assert os.path.dirname(same) == os.path.join(output, "checkpoints")
    assert os.path.basename(same).startswith("train-")
    assert resume.backup_dir(output, fn_args(transform="t/2")) != same
    assert resume.backup_dir(output, fn_args(epochs=4)) != same
    # A training removes backups of other inputs/settings, not the scratch checkpoints.
    for name in ("train-old", "scratch-abc", os.path.basename(same)):
        (tmp_path / "checkpoints" / name).mkdir(parents=True)
    resume.remove_other_backups(same)
    assert sorted(os.listdir(tmp_path / "checkpoints")) == sorted(
        ["scratch-abc", os.path.basename(same)])


# ---- one run per output directory ---------------------------------------------------------

def _hold_lock(output):
    """A subprocess that takes OUTPUT/.lock and keeps it until killed."""
    script = textwrap.dedent(f"""
        import sys, time
        sys.path.insert(0, {str(REPO_ROOT)!r})
        from pipeline import run_lock
        with run_lock.exclusive({str(output)!r}):
            print("locked", flush=True)
            time.sleep(600)
    """)
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "locked"
    return proc


def test_a_second_run_on_the_same_output_fails_fast(tmp_path, capsys):
    import pipeline_config
    from pipeline import runner
    output = tmp_path / "out"
    holder = _hold_lock(output)
    try:
        cfg = pipeline_config.PipelineConfig(output=str(output))
        cfg.data.train = str(fixtures.write_csv(tmp_path / "train.csv",
                                                fixtures.sentiment_rows(20)))
        assert runner.run_and_report(cfg) == 2
        err = capsys.readouterr().err
        assert f"another run (pid {holder.pid}, started " in err, err
        assert f"is using {output}" in err and "Traceback" not in err
        assert not (output / "metadata.sqlite").exists()  # nothing was started
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()
    # The kernel released the killed holder's lock: the next run is not blocked.
    with run_lock.exclusive(str(output)):
        with pytest.raises(run_lock.RunLockedError, match=f"pid {os.getpid()}"):
            with run_lock.exclusive(str(output)):
                pass


# ---- kill -9 during the Trainer, then the same command again -------------------------------

@pytest.fixture(scope="module")
def tiny_checkpoint(tmp_path_factory):
    from pipeline_config import ModelConfig
    from trainer.checkpoint import build_scratch_checkpoint
    texts = [t for t, _ in fixtures.sentiment_rows(400, seed=1)]
    config = ModelConfig(scratch_vocab_size=400, scratch_hidden_size=32, scratch_num_layers=1,
                         scratch_num_heads=2, scratch_intermediate_size=64)
    return build_scratch_checkpoint(texts, str(tmp_path_factory.mktemp("ckpt") / "tiny"), config)


def _wait_for(predicate, proc, log, timeout=900):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if predicate():
            return
        if proc.poll() is not None:
            pytest.fail(f"the run ended (exit {proc.returncode}) first:\n"
                        + log.read_text()[-4000:])
        time.sleep(0.05)
    pytest.fail("timed out:\n" + log.read_text()[-4000:])


@pytest.mark.slow
def test_killed_run_resumes_training_from_its_checkpoint(tmp_path, tiny_checkpoint):
    from pipeline.run_record import open_store, read_run, run_ids
    from tests.e2e_support import CLI, TINY_ARGS, run_cli
    train = fixtures.write_csv(tmp_path / "train.csv", fixtures.sentiment_rows(480, seed=2))
    output = tmp_path / "out"
    # 12 epochs: the 1-layer model leaves its loss plateau after ~125-150 steps, and the resumed
    # run's batch order differs from an uninterrupted one (6 epochs left it on the plateau:
    # accuracy at the eval split's minority rate, which the gate rightly refuses).
    command = [CLI, "run", "--train", str(train), "--checkpoint", tiny_checkpoint,
               "--output", str(output), *TINY_ARGS, "--epochs", "12",
               "--set", "train.checkpoint_every_steps=5"]
    log = tmp_path / "killed.log"
    with open(log, "w") as out:
        proc = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True)
    try:
        # While it runs, the output directory is taken.
        lock = output / run_lock.LOCK_FILE
        _wait_for(lambda: lock.exists() and f"pid {proc.pid}" in lock.read_text(), proc, log)
        with pytest.raises(run_lock.RunLockedError, match=f"pid {proc.pid}"):
            with run_lock.exclusive(str(output)):
                pass
        # Killed as soon as the Trainer has written a checkpoint.
        _wait_for(lambda: list(output.glob("checkpoints/train-*/chief/checkpoint")), proc, log)
        os.killpg(proc.pid, signal.SIGKILL)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    assert not (output / "serving").exists()  # it was killed before the push

    again = run_cli(*command[2:])  # the same command, in this process
    assert again.returncode == 0, again.stdout[-3000:] + again.stderr[-3000:]
    resumed = [line for line in again.stdout.splitlines()
               if line.startswith("Resumed training from step ")]
    assert len(resumed) == 1, again.stdout[-3000:]
    step = int(resumed[0].split()[4])
    assert step >= 5
    metadata = str(output / "metadata.sqlite")
    second = read_run(metadata, run_ids(open_store(metadata))[-1])
    for component in ("TextExampleGen", "StatisticsGen", "SchemaGen", "ExampleValidator",
                      "Transform"):
        assert second.state_of(component) == "cached", (component, second.components)
    assert second.state_of("Trainer") == "ran"
    # Only the resumed Trainer lived to write its history.
    (history_path,) = output.glob("artifacts/Trainer/model_run/*/history.json")
    history = json.loads(history_path.read_text())
    assert history["resumed_from_step"] == step
    assert "BLESSED" in again.stdout and "NOT BLESSED" not in again.stdout, again.stdout[-2000:]
    assert second.pushed_path and (pathlib.Path(second.pushed_path) / "saved_model.pb").exists()
    assert not list(output.glob("checkpoints/train-*"))  # the backup went with the success
