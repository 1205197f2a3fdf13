"""One run at a time per output directory: an exclusive lock on OUTPUT/.lock.

Two runs writing the same ML Metadata store, artifacts and serving directory would corrupt each
other's caching and pushes. The lock is an `fcntl.flock` held for the whole run: the kernel
releases it when the process ends, even by `kill -9`, so a killed run never blocks the next one.
The holder writes its pid and start time into the file so the refused run can say who it is.
Standard library only: it is taken before TensorFlow or TFX load.
"""
import contextlib
import datetime
import fcntl
import os
from typing import Iterator

LOCK_FILE = ".lock"


class RunLockedError(RuntimeError):
    """Another live run holds the output directory."""


def _holder(path: str) -> str:
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read().strip()
    except OSError:
        text = ""
    return text or "pid unknown"


@contextlib.contextmanager
def exclusive(output_dir: str) -> Iterator[str]:
    """Holds OUTPUT/.lock for the duration of the block; raises RunLockedError at once when
    another run holds it (no waiting: a run can take hours)."""
    os.makedirs(output_dir, exist_ok=True)
    path = os.path.join(output_dir, LOCK_FILE)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise RunLockedError(
                f"another run ({_holder(path)}) is using {output_dir}; wait for it to finish, "
                "or pass a different --output") from None
        started = datetime.datetime.now().astimezone().isoformat(timespec="seconds")
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"pid {os.getpid()}, started {started}\n".encode(), 0)
        try:
            yield path
        finally:
            os.ftruncate(fd, 0)  # the file stays (removing it would race a waiting run)
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)
