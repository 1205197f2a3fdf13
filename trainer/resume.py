"""Training that survives a kill: checkpoints in a stable place, and resumption from them.

When a run is killed during the Trainer and the same command is run again, TFX reuses every
finished component from its cache but gives the new Trainer execution a new output directory,
so checkpoints cannot live there. They go to

    OUTPUT/checkpoints/train-<fingerprint>/

where the fingerprint covers the Trainer's inputs (the transformed examples and transform
graph URIs, which stay the same when Transform is cached) and its whole configuration: the
same command finds the same directory, a changed input or setting starts afresh.

Keras' own `BackupAndRestore` callback does the saving and restoring (model weights, optimizer
slots and step, so the learning-rate schedule continues, and the epoch/step counters, so
`fit` skips what was done). It saves every `train.checkpoint_every_steps` steps; here it also
saves at each epoch end. The backup is deleted when training finishes; backups of other
(older) fingerprints are deleted when a training starts, so an abandoned one never piles up.
After a resumption mid-epoch the rest of that epoch sees a freshly shuffled order of the data.

Multi-worker (train.strategy=multi-worker): OUTPUT must be shared storage. Every worker saves
(the variables are read collectively) but only the chief into BACKUP/chief; the others write
into BACKUP/workertemp_<id> and remove it. At the end every worker waits for the others before
the chief deletes the backup, so that no worker is still writing into it.
"""
import hashlib
import json
import logging
import os
import shutil
from typing import Any, Optional

import tensorflow as tf
import tf_keras

from trainer import distribution

CHECKPOINTS_DIR = "checkpoints"
PREFIX = "train-"


def backup_dir(output_dir: str, fn_args: Any) -> str:
    """OUTPUT/checkpoints/train-<fingerprint of the Trainer's inputs and configuration>."""
    key = json.dumps({
        "train_files": list(fn_args.train_files),
        "eval_files": list(fn_args.eval_files),
        "transform_output": fn_args.transform_output,
        "custom_config": fn_args.custom_config,
    }, sort_keys=True, default=str)
    fingerprint = hashlib.sha256(key.encode("utf-8")).hexdigest()[:16]
    return os.path.join(output_dir, CHECKPOINTS_DIR, PREFIX + fingerprint)


def remove_other_backups(directory: str) -> None:
    """Deletes the backups of trainings with other inputs or settings (they cannot resume)."""
    parent, name = os.path.split(directory.rstrip("/"))
    if not os.path.isdir(parent):
        return
    for entry in os.listdir(parent):
        if entry.startswith(PREFIX) and entry != name:
            logging.info("Removing the stale training backup %s", entry)
            shutil.rmtree(os.path.join(parent, entry), ignore_errors=True)


class ResumableTraining(tf_keras.callbacks.BackupAndRestore):
    """BackupAndRestore that saves every `every_steps` steps and at each epoch end, and says
    when it resumed (`resumed_from_step`: the optimizer step restored, 0 for a fresh start)."""

    def __init__(self, directory: str, every_steps: Optional[int]):
        super().__init__(directory, save_freq=int(every_steps) if every_steps else "epoch",
                         delete_checkpoint=True)
        self.resumed_from_step = 0

    def on_train_begin(self, logs=None):
        super().on_train_begin(logs)  # restores the backup, if any
        self.resumed_from_step = int(self.model.optimizer.iterations.numpy())
        if self.resumed_from_step:
            message = (f"Resumed training from step {self.resumed_from_step} "
                       f"(checkpoint {self.backup_dir})")
            logging.info(message)
            print(message, flush=True)  # beside Keras' progress on the console

    def on_train_end(self, logs=None):
        strategy = self.model.distribute_strategy
        super().on_train_end(logs)  # the chief deletes the checkpoint files
        if not _multi_worker(strategy):
            shutil.rmtree(self.backup_dir, ignore_errors=True)
            return
        # Multi-worker: each non-chief worker wrote into its own BACKUP/workertemp_<id>; it
        # removes that, then all wait for each other, and only then does the chief remove the
        # shared folder (removing it earlier failed a worker's last save).
        if not strategy.extended.should_checkpoint:
            _rmtree(os.path.join(self.backup_dir, f"workertemp_{_task_id(strategy)}"))
        _barrier(strategy)
        if strategy.extended.should_checkpoint:
            _rmtree(self.backup_dir)

    def on_epoch_end(self, epoch, logs=None):
        super().on_epoch_end(epoch, logs)
        if self.save_freq != "epoch":  # the step-wise mode does not save at epoch ends
            self._batches_count = 0
            self._backup(epoch=epoch)


def _multi_worker(strategy) -> bool:
    return bool(getattr(strategy.extended, "_in_multi_worker_mode", lambda: False)())


def _task_id(strategy) -> int:
    return int(strategy.extended._task_id)  # Keras names its worker folders by it, too


def _rmtree(path: str) -> None:
    """Removes a folder, local or on a URI (gs://: a cluster's shared OUTPUT)."""
    try:
        if tf.io.gfile.exists(path):
            tf.io.gfile.rmtree(path)
    except tf.errors.NotFoundError:
        pass


def _barrier(strategy) -> None:
    """Returns once every worker of the cluster has called it (a collective all-reduce)."""
    one = strategy.run(lambda: tf.constant(1.0))
    strategy.reduce(tf.distribute.ReduceOp.SUM, one, axis=None).numpy()


def resumable_training(output_dir: str, fn_args: Any,
                       every_steps: Optional[int]) -> ResumableTraining:
    """The callback for this Trainer run (stale backups of other runs removed first)."""
    directory = backup_dir(output_dir, fn_args)
    if distribution.is_chief():  # the other workers may share the folder: one cleans it
        remove_other_backups(directory)
    return ResumableTraining(directory, every_steps)
