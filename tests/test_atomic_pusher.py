"""The Pusher publishes a model version whole or not at all, and never an unblessed model.

A push is killed with SIGKILL in the middle of its copy (a subprocess whose file copy is slowed
down): the serving directory must hold no numeric (servable) version, and the next push must
clean up the leftover and publish a complete one.
"""
import json
import os
import pathlib
import signal
import subprocess
import sys
import textwrap
import time

import pytest
from tfx.proto import pusher_pb2
from tfx.types import standard_artifacts
from tfx.utils import proto_utils

from components import atomic_pusher

REPO_ROOT = pathlib.Path(__file__).resolve().parent.parent


def fake_saved_model(path: pathlib.Path, files: int = 40) -> pathlib.Path:
    """A directory shaped like a SavedModel (the Pusher copies it without reading it)."""
    (path / "variables").mkdir(parents=True)
    (path / "assets").mkdir()
    for i in range(files):
        (path / "variables" / f"variables.data-{i:05d}-of-{files:05d}").write_bytes(
            os.urandom(4096))
    (path / "variables" / "variables.index").write_bytes(b"index")
    # An empty but valid SavedModel proto (schema version 1): the TF Serving op check reads it.
    (path / "saved_model.pb").write_bytes(b"\x08\x01")
    return path


def _tree(path: pathlib.Path):
    return sorted((str(p.relative_to(path)), p.read_bytes()) for p in path.rglob("*")
                  if p.is_file())


def _artifacts(model_dir, out_dir, blessed: int):
    model = standard_artifacts.Model()
    # The Trainer's layout: <model uri>/Format-Serving holds the SavedModel.
    model.uri = str(model_dir.parent)
    blessing = standard_artifacts.ModelBlessing()
    blessing.uri = str(out_dir / "blessing")
    blessing.set_int_custom_property("blessed", blessed)
    pushed = standard_artifacts.PushedModel()
    pushed.uri = str(out_dir / "pushed_model")
    return model, blessing, pushed


def push(model_dir, serving_dir, out_dir, blessed=1):
    """Runs the executor as TFX does; returns the PushedModel artifact."""
    model, blessing, pushed = _artifacts(model_dir, out_dir, blessed)
    destination = pusher_pb2.PushDestination(
        filesystem=pusher_pb2.PushDestination.Filesystem(base_directory=str(serving_dir)))
    atomic_pusher.AtomicPusherExecutor().Do(
        {"model": [model], "model_blessing": [blessing]}, {"pushed_model": [pushed]},
        {"push_destination": proto_utils.proto_to_json(destination), "custom_config": "null"})
    return pushed


@pytest.fixture
def model_dir(tmp_path):
    return fake_saved_model(tmp_path / "trainer" / "Format-Serving")


def _versions(serving_dir):
    return sorted(p.name for p in serving_dir.iterdir() if p.name.isdigit())


def test_push_publishes_a_complete_version_and_records_it(tmp_path, model_dir):
    serving = tmp_path / "serving" / "m"
    pushed = push(model_dir, serving, tmp_path)
    (version,) = _versions(serving)
    assert _tree(serving / version) == _tree(model_dir)
    assert os.listdir(serving) == [version]  # no temporary folder left beside it
    assert pushed.get_int_custom_property("pushed") == 1
    assert pushed.get_string_custom_property("pushed_destination") == str(serving / version)
    assert pushed.get_string_custom_property("pushed_version") == version
    # A second push in the same second gets its own, later version (never skipped).
    push(model_dir, serving, tmp_path / "second")
    assert len(_versions(serving)) == 2 and int(_versions(serving)[1]) > int(version)


def test_unblessed_model_is_never_pushed(tmp_path, model_dir):
    serving = tmp_path / "serving" / "m"
    pushed = push(model_dir, serving, tmp_path, blessed=0)
    assert pushed.get_int_custom_property("pushed") == 0
    assert not serving.exists() or not list(serving.iterdir())
    assert not (tmp_path / "pushed_model").exists()


def test_a_push_killed_mid_copy_leaves_no_servable_version(tmp_path, model_dir):
    serving = tmp_path / "serving" / "m"
    # The executor's copy in a subprocess (standard library only, so it starts at once), its
    # file copies slowed down so that the SIGKILL lands mid-copy.
    script = textwrap.dedent(f"""
        import shutil, sys, time
        sys.path.insert(0, {str(REPO_ROOT)!r})
        real_copyfile = shutil.copyfile
        def slow_copyfile(src, dst, **kwargs):
            time.sleep(0.2)
            return real_copyfile(src, dst, **kwargs)
        shutil.copyfile = slow_copyfile
        from components.atomic_copy import push_atomically
        push_atomically({str(model_dir)!r}, {str(serving)!r})
    """)
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE)
    try:
        deadline = time.time() + 120
        copied = []
        while time.time() < deadline and proc.poll() is None:
            copied = list(serving.glob(".tmp-*/variables/variables.data-*")) \
                if serving.exists() else []
            if len(copied) >= 3:
                break
            time.sleep(0.05)
        assert len(copied) >= 3, f"the push never got under way: {proc.stderr.read()[-2000:]}"
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.kill()
        proc.wait()
    # Killed mid-copy: the partial copy is only in the hidden temporary folder.
    assert _versions(serving) == []
    (leftover,) = [p.name for p in serving.iterdir()]
    assert leftover.startswith(".tmp-") and leftover.endswith(f"-{proc.pid}")
    assert len(_tree(serving / leftover)) < len(_tree(model_dir))

    # The next push (the executor, as the pipeline runs it) removes the leftover and
    # publishes a complete version.
    push(model_dir, serving, tmp_path / "next")
    (version,) = _versions(serving)
    assert sorted(os.listdir(serving)) == [version]
    assert _tree(serving / version) == _tree(model_dir)


def test_a_failed_copy_cleans_up_after_itself(tmp_path, model_dir, monkeypatch):
    serving = tmp_path / "serving" / "m"
    import shutil
    real = shutil.copyfile
    calls = []

    def failing_copyfile(src, dst, **kwargs):
        calls.append(src)
        if len(calls) == 5:
            raise OSError(28, "No space left on device")
        return real(src, dst, **kwargs)

    monkeypatch.setattr(shutil, "copyfile", failing_copyfile)
    with pytest.raises(OSError, match="No space left"):
        push(model_dir, serving, tmp_path)
    assert list(serving.iterdir()) == []


def test_pipeline_uses_the_atomic_pusher(tmp_path):
    import pipeline_config
    from pipeline.pipeline import create_pipeline
    from tests import fixtures
    from trainer.run_context import RunContext
    cfg = pipeline_config.PipelineConfig(output=str(tmp_path / "out"))
    cfg.data.train = str(fixtures.write_csv(tmp_path / "train.csv", fixtures.sentiment_rows(10)))
    cfg.model.max_seq_length = 16
    pipeline = create_pipeline(RunContext(cfg, str(tmp_path), True), {"neg": 5, "pos": 5})
    (pusher,) = [c for c in pipeline.components if c.id == "Pusher"]
    assert isinstance(pusher, atomic_pusher.AtomicPusher)
    assert pusher.executor_spec.executor_class is atomic_pusher.AtomicPusherExecutor
    assert set(pusher.outputs) == {"pushed_model"}


# ----------------------------------------------- a push through tf.io.gfile (object stores)
# ram:// is TensorFlow's in-memory file system: not POSIX (no folder rename, no times), as an
# object store; a push to gs:// or s3:// takes the same code path.

def push_atomically(model_path, base):
    from components.atomic_copy import push_atomically as push_
    return push_(model_path, base)


def _ram_tree(path):
    import tensorflow as tf
    out = []
    for directory, _, names in tf.io.gfile.walk(path):
        for name in names:
            full = f"{directory.rstrip('/')}/{name}"
            with tf.io.gfile.GFile(full, "rb") as f:
                out.append((full[len(path.rstrip('/')) + 1:], f.read()))
    return sorted(out)


def _ram_base(tmp_path):
    return f"ram://{tmp_path.name}/serving/m"  # one per test: ram:// lives as long as the process


def test_push_to_a_uri_publishes_a_complete_version(tmp_path, model_dir):
    import tensorflow as tf
    serving = _ram_base(tmp_path)
    published = push_atomically(str(model_dir), serving)
    version = published.rsplit("/", 1)[1]
    assert version.isdigit() and published == f"{serving}/{version}"
    assert [e.rstrip("/") for e in tf.io.gfile.listdir(serving)] == [version]
    assert _ram_tree(published) == _tree(model_dir)  # no temporary file left
    # From one URI to another (the executor publishes its PushedModel copy).
    push_atomically(published, serving)
    versions = sorted(e.rstrip("/") for e in tf.io.gfile.listdir(serving))
    assert len(versions) == 2 and int(versions[1]) > int(version)


def test_a_uri_push_writes_the_graph_last(tmp_path, model_dir, monkeypatch):
    """A poller that looks after every write never sees saved_model.pb before the rest."""
    import tensorflow as tf
    from components import atomic_copy
    serving = _ram_base(tmp_path)
    wanted = {name for name, _ in _tree(model_dir)}
    seen = []
    real_copy, real_rename = tf.io.gfile.copy, tf.io.gfile.rename

    def poll():
        for entry in tf.io.gfile.listdir(serving):
            version = f"{serving}/{entry.rstrip('/')}"
            if entry.rstrip("/").isdigit() and atomic_copy.is_complete_version(version):
                assert {name for name, _ in _ram_tree(version)} == wanted
                seen.append(version)

    def copy(src, dst, overwrite=False):
        real_copy(src, dst, overwrite=overwrite)
        poll()

    def rename(src, dst, overwrite=False):
        real_rename(src, dst, overwrite=overwrite)
        poll()

    monkeypatch.setattr(tf.io.gfile, "copy", copy)
    monkeypatch.setattr(tf.io.gfile, "rename", rename)
    push_atomically(str(model_dir), serving)
    assert len(seen) == 1  # complete only after the last write


def test_a_uri_push_that_fails_leaves_no_servable_version(tmp_path, model_dir, monkeypatch):
    import tensorflow as tf
    from components import atomic_copy
    serving = _ram_base(tmp_path)
    real_copy = tf.io.gfile.copy
    calls = []

    def failing_copy(src, dst, overwrite=False):
        calls.append(src)
        if len(calls) == 5:
            raise tf.errors.ResourceExhaustedError(None, None, "quota exceeded")
        return real_copy(src, dst, overwrite=overwrite)

    monkeypatch.setattr(tf.io.gfile, "copy", failing_copy)
    with pytest.raises(tf.errors.ResourceExhaustedError):
        push_atomically(str(model_dir), serving)
    assert not [e for e in tf.io.gfile.listdir(serving)
                if atomic_copy.is_complete_version(f"{serving}/{e.rstrip('/')}")]


def test_the_next_uri_push_removes_an_abandoned_version(tmp_path, model_dir):
    """A push killed mid-copy leaves a version without its graph (never loadable); once it is
    older than STALE_AFTER_S, the next push removes it. A recent one may be a push under way."""
    import tensorflow as tf
    from components import atomic_copy
    serving = _ram_base(tmp_path)
    now = int(time.time())
    old, recent = str(now - atomic_copy.STALE_AFTER_S - 10), str(now - 60)
    for version in (old, recent):
        tf.io.gfile.makedirs(f"{serving}/{version}/variables")
        with tf.io.gfile.GFile(f"{serving}/{version}/variables/variables.index", "wb") as f:
            f.write(b"partial")
    push_atomically(str(model_dir), serving)
    versions = sorted(e.rstrip("/") for e in tf.io.gfile.listdir(serving))
    assert old not in versions and recent in versions and len(versions) == 2
    (published,) = [v for v in versions if v != recent]
    assert atomic_copy.is_complete_version(f"{serving}/{published}")


def test_the_pipeline_pushes_to_a_uri_serving_dir(tmp_path):
    """The compiled pipeline's destination (gs://.../serving/<model>) reaches the Pusher as is."""
    import pipeline_config
    from pipeline.pipeline import create_pipeline
    from tests import fixtures
    from trainer.run_context import RunContext
    cfg = pipeline_config.PipelineConfig(output="gs://bucket/root")
    cfg.data.train = str(fixtures.write_csv(tmp_path / "train.csv", fixtures.sentiment_rows(10)))
    cfg.model.max_seq_length = 16
    pipeline = create_pipeline(RunContext(cfg, str(tmp_path), True), {"neg": 5, "pos": 5})
    (pusher,) = [c for c in pipeline.components if c.id == "Pusher"]
    destination = json.loads(pusher.exec_properties["push_destination"])
    assert destination["filesystem"]["base_directory"].startswith("gs://bucket/root/serving/")
