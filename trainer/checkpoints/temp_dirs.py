"""Checkpoint directories assembled in a temporary directory beside their final place, and the
temporary directories killed builds left."""
import contextlib
import os
import shutil
import tempfile
from typing import Callable, Iterator


@contextlib.contextmanager
def assembled_beside(out_dir: str, is_complete: Callable[[str], bool]) -> Iterator[str]:
    """A temporary directory beside `out_dir` to write it in, renamed into place when the block
    ends and removed when the block raises, so an interrupted build never leaves a half-written
    `out_dir`. When another process finished the same `out_dir` first (`is_complete`), its copy
    is kept."""
    parent, name = os.path.split(os.path.abspath(out_dir))
    os.makedirs(parent, exist_ok=True)
    remove_stale_temp_dirs(parent, name)
    tmp = tempfile.mkdtemp(prefix=f".{name}.tmp-{os.getpid()}-", dir=parent)
    try:
        os.chmod(tmp, 0o755)
        yield tmp
        try:
            os.rename(tmp, out_dir)
        except OSError:
            if not is_complete(out_dir):
                raise
            shutil.rmtree(tmp, ignore_errors=True)  # another process finished it first
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def remove_stale_temp_dirs(parent: str, name: str) -> None:
    """Deletes temporary directories left by killed builds of the same checkpoint."""
    prefix = f".{name}.tmp-"
    for entry in os.listdir(parent):
        if not entry.startswith(prefix):
            continue
        try:
            pid = int(entry[len(prefix):].split("-", 1)[0])
        except ValueError:
            continue
        if pid != os.getpid() and not _pid_alive(pid):
            shutil.rmtree(os.path.join(parent, entry), ignore_errors=True)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)  # signal 0: only checks that the process exists
    except ProcessLookupError:
        return False
    except OSError:
        return True
    return True
