"""Publishes a model directory as a new numeric version in one rename (standard library only).

The copy is made in a hidden `<base>/.tmp-<version>-<pid>/` beside its final place (same file
system; TF Serving ignores names that are not numbers) and renamed to `<base>/<version>/` in
one `rename(2)`: a reader of `<base>` sees the whole version or none of it. Temporary folders
of copies whose process is gone are removed by the next copy. Used by components/atomic_pusher.py.
"""
import logging
import os
import shutil
import time
from typing import List

_LOG = logging.getLogger(__name__)
TEMP_PREFIX = ".tmp-"


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)  # signal 0 only checks that the process exists
    except ProcessLookupError:
        return False
    except OSError:
        return True
    return True


def remove_stale_temp_dirs(base_directory: str) -> List[str]:
    """Deletes `.tmp-<version>-<pid>` folders of pushes whose process is gone (or this one's
    own leftovers); returns what was removed."""
    removed = []
    if not os.path.isdir(base_directory):
        return removed
    for entry in os.listdir(base_directory):
        if not entry.startswith(TEMP_PREFIX):
            continue
        try:
            pid = int(entry.rsplit("-", 1)[1])
        except (IndexError, ValueError):
            continue
        if pid == os.getpid() or not _pid_alive(pid):
            shutil.rmtree(os.path.join(base_directory, entry), ignore_errors=True)
            removed.append(entry)
    return removed


def push_atomically(model_path: str, base_directory: str) -> str:
    """Copies the SavedModel directory `model_path` to a new numeric version under
    `base_directory` (Unix time, as TFX's UNIX_TIMESTAMP versioning, moved on by a second when
    taken); returns the version directory."""
    os.makedirs(base_directory, exist_ok=True)
    removed = remove_stale_temp_dirs(base_directory)
    if removed:
        _LOG.info("Removed interrupted pushes in %s: %s", base_directory, ", ".join(removed))
    version = int(time.time())
    while os.path.exists(os.path.join(base_directory, str(version))):
        version += 1  # never skip a push or overwrite a served version
    serving_path = os.path.join(base_directory, str(version))
    temp_path = os.path.join(base_directory, f"{TEMP_PREFIX}{version}-{os.getpid()}")
    try:
        shutil.copytree(model_path, temp_path)
        os.rename(temp_path, serving_path)
    except BaseException:
        shutil.rmtree(temp_path, ignore_errors=True)
        raise
    return serving_path
