"""Publishes a model directory as a new numeric version that TF Serving never sees half-written.

TF Serving polls `<base>` for numeric folders and loads a version from its `saved_model.pb`
(a load that finds no graph fails and is retried). Two ways to publish, by destination:

Local path (a POSIX file system): the copy is made in a hidden `<base>/.tmp-<version>-<pid>/`
beside its final place (TF Serving ignores names that are not numbers) and renamed to
`<base>/<version>/` in one `rename(2)`: a reader of `<base>` sees the whole version or none of
it. Temporary folders of copies whose process is gone are removed by the next copy. Standard
library only: TensorFlow is not loaded for a local push.

URI (`gs://`, `s3://` with tensorflow-io, `hdfs://`, `ram://`, ...; anything `tf.io.gfile`
writes): the files are written straight into `<base>/<version>/`, every file but
`saved_model.pb` first and `saved_model.pb` last (written beside as `.tmp-<pid>-saved_model.pb`,
then renamed: one object, whole or absent). Chosen over "write a temporary version, publish it
last" because object stores and TensorFlow's non-POSIX file systems have no directory rename: on
GCS and S3 a rename is a copy of every object and a delete, so publishing a temporary folder
would write every byte twice and still expose the version file by file; on `ram://` renaming a
folder leaves its files behind. Ordering the files is what TFX's own Pusher does (saved_model.pb
last), and it needs only per-object atomicity, which every object store gives: until the graph
exists, a version folder is not loadable, and when it exists every variable and asset is
already there. A push that dies mid-copy leaves a version folder without `saved_model.pb`, which
no server loads; the next push removes such folders once their version (a Unix time) is older
than `STALE_AFTER_S` (a process id means nothing across the machines of a cluster, and object
stores keep no folder times). Two pushes to one base in the same second are not expected (one
Pusher per pipeline run); each takes the first free version number.

Used by components/atomic_pusher.py.
"""
import logging
import os
import posixpath
import shutil
import time
from typing import List

from trainer.uris import is_uri

_LOG = logging.getLogger(__name__)
TEMP_PREFIX = ".tmp-"
SAVED_MODEL_FILES = ("saved_model.pb", "saved_model.pbtxt")  # a servable version has one
# An incomplete version (no saved_model.pb) older than this is an abandoned push; younger, it
# may be a push still under way. A push writes a model in minutes.
STALE_AFTER_S = 6 * 3600


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
    own leftovers); returns what was removed. Local paths only."""
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
    taken); returns the version directory. `base_directory` is a local path or a URI that
    tf.io.gfile writes (see the module docstring); `model_path` likewise."""
    if is_uri(base_directory) or is_uri(model_path):
        return _push_through_gfile(model_path, base_directory)
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


# ------------------------------------------------------------------ through tf.io.gfile

def _gfile():
    import tensorflow as tf
    return tf.io.gfile


def _join(base: str, *parts: str) -> str:
    return posixpath.join(base, *parts) if is_uri(base) else os.path.join(base, *parts)


def _entries(directory: str) -> List[str]:
    return [e.rstrip("/") for e in _gfile().listdir(directory)]


def _model_files(model_path: str) -> List[str]:
    """Every file of the model directory, relative to it ("/"-separated), sorted."""
    gfile = _gfile()
    files = []
    for directory, _, names in gfile.walk(model_path):
        rel = directory[len(model_path.rstrip("/")):].strip("/")
        files.extend(posixpath.join(rel, n.rstrip("/")) if rel else n.rstrip("/") for n in names)
    return sorted(files)


def _model_dirs(model_path: str) -> List[str]:
    """Every sub-folder of the model directory (empty ones too, e.g. assets/), relative."""
    dirs = []
    for directory, subdirs, _ in _gfile().walk(model_path):
        rel = directory[len(model_path.rstrip("/")):].strip("/")
        dirs.extend(posixpath.join(rel, d.rstrip("/")) if rel else d.rstrip("/") for d in subdirs)
    return sorted(dirs)


def is_complete_version(version_dir: str) -> bool:
    gfile = _gfile()
    return any(gfile.exists(_join(version_dir, name)) for name in SAVED_MODEL_FILES)


def remove_incomplete_versions(base_directory: str, now: float = None,
                               stale_after_s: float = STALE_AFTER_S) -> List[str]:
    """Deletes numeric version folders without a saved_model.pb whose version (the Unix time
    the push started) is older than `stale_after_s`: pushes that died mid-copy. Returns them."""
    gfile = _gfile()
    now = time.time() if now is None else now
    removed = []
    for entry in _entries(base_directory):
        if not entry.isdigit() or int(entry) > now - stale_after_s:
            continue
        path = _join(base_directory, entry)
        if gfile.isdir(path) and not is_complete_version(path):
            gfile.rmtree(path)
            removed.append(entry)
    return removed


def _push_through_gfile(model_path: str, base_directory: str) -> str:
    gfile = _gfile()
    base_directory = base_directory.rstrip("/")
    gfile.makedirs(base_directory)
    removed = remove_incomplete_versions(base_directory)
    if removed:
        _LOG.info("Removed interrupted pushes in %s: %s", base_directory, ", ".join(removed))
    files = _model_files(model_path)
    last = [f for f in files if f in SAVED_MODEL_FILES]
    if not last:
        raise ValueError(f"{model_path} holds no saved_model.pb: not a SavedModel")
    version = int(time.time())
    while gfile.exists(_join(base_directory, str(version))):
        version += 1  # never skip a push or overwrite a served version
    serving_path = _join(base_directory, str(version))
    graph_written = False
    try:
        for directory in [""] + _model_dirs(model_path):
            gfile.makedirs(_join(serving_path, directory) if directory else serving_path)
        for rel in files:
            if rel not in last:
                gfile.copy(_join(model_path, rel), _join(serving_path, rel), overwrite=True)
        # The graph last, whole: copied beside under a name no loader reads, then renamed.
        for rel in last:
            temp = _join(serving_path, f"{TEMP_PREFIX}{os.getpid()}-{rel}")
            gfile.copy(_join(model_path, rel), temp, overwrite=True)
            gfile.rename(temp, _join(serving_path, rel), overwrite=True)
        graph_written = True
    except BaseException:
        if not graph_written:
            try:  # best effort: without its graph the folder is never loaded anyway
                gfile.rmtree(serving_path)
            except Exception:  # noqa: BLE001
                _LOG.warning("Could not remove the incomplete version %s", serving_path)
        raise
    return serving_path
