"""The SavedModel a run loaded last, kept for the next reader in the same process.

In a local run the Pusher replays its warm-up requests against the candidate
(components/serving_warmup.py) and the run report then predicts the eval split with the same
folder (pipeline/example_predictions.py): one load (2-3 s for a small encoder, and as long
again for the first call of each signature) serves both. A folder is a TFX artifact, written
once; its saved_model.pb's modification time is part of the key all the same, so a folder
written again is loaded again. One model is kept, the last asked for (what a run reads next).
"""
import threading
from typing import Any, Optional, Tuple

import tensorflow as tf
import tensorflow_text  # noqa: F401  (TF Text ops of the exported tokenizer)

_lock = threading.Lock()
_last: Optional[Tuple[Tuple[str, int], Any]] = None


def _key(model_dir: str) -> Tuple[str, int]:
    path = model_dir.rstrip("/")
    return path, tf.io.gfile.stat(f"{path}/saved_model.pb").mtime_nsec


def load(model_dir: str):
    """`tf.saved_model.load(model_dir)`, the same object for the same folder twice in a row."""
    global _last
    key = _key(model_dir)
    with _lock:
        if _last is not None and _last[0] == key:
            return _last[1]
        _last = None  # the previous model can be freed before the next one loads
        model = tf.saved_model.load(model_dir)
        _last = (key, model)
        return model


def forget() -> None:
    """Drops the kept model (its memory is freed with the last reference)."""
    global _last
    with _lock:
        _last = None
