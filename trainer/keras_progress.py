"""Keras' training progress as the CLI shows it (trainer/console.py): a progress line with an
ETA while an epoch runs, a line at each epoch's end (or only at the end), each naming the
model it is about ("Training", "Simple baseline")."""
from typing import List, Optional, Tuple

import tf_keras

from trainer import console


def fit_options(label: str, every_epoch: bool = True) -> Tuple[List, int]:
    """(callbacks, verbose) for model.fit: this module's lines under the CLI, where Keras'
    own are printed only with -v; Keras' own lines elsewhere."""
    if not console.active():
        return [], 2
    return [KerasProgress(label, every_epoch)], 0 if console.quiet() else 2


def _metrics_text(logs) -> str:
    return ", ".join(f"{k} {v:.4g}" for k, v in (logs or {}).items()
                     if isinstance(v, (int, float)))


class KerasProgress(tf_keras.callbacks.Callback):
    """Progress of model.fit: steps done of all epochs' steps, the loss so far and the ETA;
    `every_epoch`: a line at each epoch's end (else one line when training ends)."""

    def __init__(self, label: str, every_epoch: bool = True):
        super().__init__()
        self.label = label
        self.every_epoch = every_epoch
        self._progress = console.Progress()
        self._epoch = 0
        self._epochs = 1
        self._steps: Optional[int] = None  # per epoch; None until an epoch ended, if unknown
        self._done = 0  # steps this fit has run
        self._in_epoch = 0

    def on_train_begin(self, logs=None):
        self._progress = console.Progress()
        self._epochs = int(self.params.get("epochs") or 1)
        self._steps = self.params.get("steps")

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch = epoch
        self._in_epoch = 0

    def _total(self) -> Optional[int]:
        """All epochs' steps from this epoch on plus those done (a resumed fit starts late)."""
        if not self._steps:
            return None
        return self._done - self._in_epoch + self._steps * (self._epochs - self._epoch)

    def on_train_batch_end(self, batch, logs=None):
        self._done += 1
        self._in_epoch += 1
        eta = console.eta_text(self._progress.elapsed(), self._done, self._total())
        of = f"/{self._steps}" if self._steps else ""
        loss = (logs or {}).get("loss")
        self._progress.update(
            f"  {self.label}: epoch {self._epoch + 1}/{self._epochs}, step {self._in_epoch}{of}"
            + (f", loss {loss:.4g}" if loss is not None else "") + (f", {eta}" if eta else ""))

    def on_epoch_end(self, epoch, logs=None):
        if not self._steps:
            self._steps = self._in_epoch
        self._logs = logs
        if self.every_epoch:
            eta = console.eta_text(self._progress.elapsed(), self._done, self._total()) \
                if epoch + 1 < self._epochs else ""
            self._progress.line(
                f"  {self.label}: Epoch {epoch + 1}/{self._epochs}: {_metrics_text(logs)} "
                f"({console.seconds_text(self._progress.elapsed())}"
                + (f", {eta})" if eta else ")"))

    def on_train_end(self, logs=None):
        if not self.every_epoch:
            self._progress.line(
                f"  {self.label}: {self._epoch + 1} epoch{'s' if self._epoch else ''} in "
                f"{console.seconds_text(self._progress.elapsed())}: "
                f"{_metrics_text(getattr(self, '_logs', logs))}")
