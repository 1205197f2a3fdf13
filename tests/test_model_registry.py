"""--registry: every blessed push becomes a new version of one registered model.

MLflow with a SQLite store (the default) at the component's boundary: the ModelRegistry
executor is given a small SavedModel as the Pusher's output, twice blessed and once not; the
registered model then has two versions, `champion` on the second, tags leading back to the
run, and `models:/NAME@champion` loads with TensorFlow alone. A real `mlflow server` (slow).
Vertex AI with `aiplatform` mocked at its boundary, and in the compiled spec.
"""
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from unittest import mock

import pytest
import tensorflow as tf
from tfx.types import standard_artifacts

from components import mlflow_registry, model_registry, vertex_registry

MODEL = "sentiment"
RULES = [{"rule": "absolute bar", "applied": True, "passed": True, "detail": "",
          "checks": [{"metric": "accuracy", "value": 0.81, "threshold": 0.5}]},
         {"rule": "beat the simple baseline", "applied": True, "passed": True, "detail": "",
          "checks": [{"metric": "auc", "value": 0.88, "threshold": 0.8}]}]


def _saved_model(path, bias: float) -> str:
    """A SavedModel with a serving_default signature: x -> x + bias."""
    module = tf.Module()
    module.bias = tf.Variable(bias)
    module.serve = tf.function(lambda x: {"y": x + module.bias},
                               input_signature=[tf.TensorSpec([None], tf.float32, name="x")])
    tf.saved_model.save(module, str(path), signatures={"serving_default": module.serve})
    return str(path)


def _inputs(tmp_path, n: int, blessed: bool):
    """What the Pusher, the gate, the Trainer and ExampleGen hand the registry in run `n`."""
    pushed = standard_artifacts.PushedModel()
    pushed.uri = _saved_model(tmp_path / f"pushed{n}", float(n))
    pushed.id = 100 + n
    pushed.set_int_custom_property("pushed", int(blessed))
    if blessed:
        pushed.set_string_custom_property("pushed_destination", f"/serving/{MODEL}/{1000 + n}")
        pushed.set_string_custom_property("pushed_version", str(1000 + n))
    blessing = standard_artifacts.ModelBlessing()
    blessing.id = 200 + n
    blessing.set_int_custom_property("blessed", int(blessed))
    blessing.set_string_custom_property("decided_by", "all rules passed" if blessed else
                                        "absolute bar")
    blessing.set_string_custom_property("rules", json.dumps(RULES))
    blessing.set_float_custom_property("baseline_gap", 0.05)
    model = standard_artifacts.Model()
    model.id, model.uri = 300 + n, f"/artifacts/Trainer/model/{n}"
    examples = standard_artifacts.Examples()
    examples.id, examples.uri = 400 + n, f"/artifacts/TextExampleGen/examples/{n}"
    examples.set_string_custom_property("input_fingerprint", f"split:train,num_files:1,sum:{n}")
    return {"pushed_model": [pushed], "model_blessing": [blessing], "model": [model],
            "examples": [examples]}


def _register(tmp_path, n, blessed, uri, registry="mlflow", **params):
    registered = model_registry.RegisteredModel()
    executor = model_registry.ModelRegistryExecutor(
        model_registry.base_executor.BaseExecutor.Context(pipeline_run_id=f"run-{n}"))
    executor.Do(_inputs(tmp_path, n, blessed), {"registered_model": [registered]},
                {"registry": registry, "model_name": MODEL, "tracking_uri": uri,
                 "pipeline_name": "electra-tfx", "checkpoint": "google/electra-small-discriminator",
                 "git_commit": "abc123", "metadata_store": "/out/metadata.sqlite", **params})
    return registered


@pytest.fixture(scope="module")
def sqlite_registry(tmp_path_factory):
    """Two blessed pushes and one that was not, registered in a SQLite store."""
    tmp = tmp_path_factory.mktemp("registry")
    uri = "sqlite:///" + str(tmp / "mlflow.db")
    outcomes = [_register(tmp, 1, True, uri), _register(tmp, 2, False, uri),
                _register(tmp, 3, True, uri)]
    return tmp, uri, outcomes


def test_blessed_pushes_become_versions_and_champion_moves_to_the_newest(sqlite_registry):
    tmp, uri, (first, not_blessed, second) = sqlite_registry
    client = mlflow_registry.client(uri)
    versions = sorted(client.search_model_versions(f"name = '{MODEL}'"), key=lambda v: int(v.version))
    assert [str(v.version) for v in versions] == ["1", "2"]  # the not-blessed one is not there
    assert str(client.get_model_version_by_alias(MODEL, "champion").version) == "2"
    assert not_blessed.get_int_custom_property("registered") == 0
    assert first.get_string_custom_property("version") == "1"
    assert second.get_string_custom_property("model_uri") == f"models:/{MODEL}/2"
    # Artifacts beside the database, not in the working directory's ./mlruns.
    assert (tmp / "mlflow-artifacts").is_dir()


def test_each_version_leads_back_to_its_run(sqlite_registry):
    _, uri, _ = sqlite_registry
    client = mlflow_registry.client(uri)
    for version, n in (("1", 1), ("2", 3)):
        tags = client.get_model_version(MODEL, version).tags
        assert tags["electra_tfx.pipeline_run"] == f"run-{n}"
        assert tags["mlmd.pushed_model_id"] == str(100 + n)
        assert tags["mlmd.model_id"] == str(300 + n)
        assert tags["mlmd.examples_id"] == str(400 + n)
        assert tags["mlmd.store"] == "/out/metadata.sqlite"
        assert tags["electra_tfx.data_fingerprint"] == f"split:train,num_files:1,sum:{n}"
        assert tags["electra_tfx.checkpoint"] == "google/electra-small-discriminator"
        assert tags["electra_tfx.git_commit"] == "abc123"
        assert tags["electra_tfx.pushed_destination"] == f"/serving/{MODEL}/{1000 + n}"
        run = client.get_run(client.get_model_version(MODEL, version).run_id)
        assert run.data.metrics == {"accuracy": 0.81, "auc": 0.88, "baseline_gap": 0.05}
        assert run.data.tags["electra_tfx.pipeline_run"] == f"run-{n}"
        files = {a.path for a in client.list_artifacts(run.info.run_id)}
        assert {"model", "decision.json"} <= files


def test_a_cached_push_is_registered_once(sqlite_registry):
    tmp, uri, _ = sqlite_registry
    again = _register(tmp, 3, True, uri)  # the same push, e.g. a re-run with a new commit
    assert again.get_string_custom_property("version") == "2"
    assert len(mlflow_registry.client(uri).search_model_versions(f"name = '{MODEL}'")) == 2


def test_model_card_written_after_the_run_joins_its_version(sqlite_registry):
    """`run` writes the card once the pipeline has ended; it is added to the run of the
    version its push became, at the top and beside the SavedModel."""
    import pipeline_config
    tmp, uri, (_, _, second) = sqlite_registry
    card = tmp / "model_card.md"
    card.write_text("# sentiment\n")
    cfg = pipeline_config.PipelineConfig()
    cfg.registry.kind, cfg.registry.uri, cfg.registry.model = "mlflow", uri, MODEL
    line = model_registry.after_run(cfg, f"/serving/{MODEL}/1003", [str(card), "/no/such.json"])
    assert line == f"Registered: models:/{MODEL}/2 (alias champion on version 2) in {uri}"
    run_id = second.get_string_custom_property("run_id")
    client = mlflow_registry.client(uri)
    assert "model_card.md" in {a.path for a in client.list_artifacts(run_id)}
    assert "model/model_card.md" in {a.path for a in client.list_artifacts(run_id, "model")}
    assert model_registry.after_run(cfg, None, [str(card)]) is None  # nothing pushed


def test_champion_downloads_and_loads_with_tensorflow_only(sqlite_registry, tmp_path):
    _, uri, _ = sqlite_registry
    path = mlflow_registry.download_champion(uri, MODEL, str(tmp_path))
    # In a process that imports TensorFlow and nothing of MLflow or this project.
    code = ("import sys, tensorflow as tf\n"
            "m = tf.saved_model.load(sys.argv[1])\n"
            "print(m.signatures['serving_default'](x=tf.constant([1.0]))['y'].numpy().tolist())\n"
            "assert not [n for n in sys.modules if n.startswith(('mlflow', 'components'))]\n")
    done = subprocess.run([sys.executable, "-c", code, path], capture_output=True, text=True,
                          timeout=300, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"})
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip().splitlines()[-1] == "[4.0]"  # the second blessed push: bias 3


# ---- Vertex AI --------------------------------------------------------------------------

class _NotFound(Exception):
    pass


def _vertex_mocks(existing: bool):
    from google.api_core import exceptions
    model_cls = mock.MagicMock()
    if existing:
        model_cls.return_value.resource_name = "projects/p/locations/r/models/sentiment"
    else:
        model_cls.side_effect = exceptions.NotFound("no model")
    uploaded = mock.MagicMock(resource_name="projects/p/locations/r/models/sentiment",
                              version_id="2")
    model_cls.upload.return_value = uploaded
    return model_cls


@pytest.mark.parametrize("existing", [False, True])
def test_vertex_uploads_a_version_of_one_model(tmp_path, existing):
    model_cls = _vertex_mocks(existing)
    with mock.patch("google.cloud.aiplatform.Model", model_cls), \
            mock.patch("google.cloud.aiplatform.init") as init:
        registered = _register(tmp_path, 1, True, "", registry="vertex",
                               vertex_project="p", vertex_region="r",
                               vertex_model_id="sentiment", serving_image="img:1")
    init.assert_called_once_with(project="p", location="r")
    kwargs = model_cls.upload.call_args.kwargs
    assert kwargs["artifact_uri"].endswith("pushed1")
    assert kwargs["serving_container_image_uri"] == "img:1"
    assert kwargs["is_default_version"] is True
    if existing:  # every later push: a version of the same model
        assert kwargs["parent_model"] == "projects/p/locations/r/models/sentiment"
        assert kwargs["model_id"] is None
    else:  # the first push creates the model under its fixed id
        assert kwargs["parent_model"] is None and kwargs["model_id"] == "sentiment"
    assert kwargs["labels"]["pipeline_run"] == "run-1"
    assert kwargs["labels"]["git_commit"] == "abc123"
    assert "electra_tfx.data_fingerprint=split:train" in kwargs["version_description"]
    assert registered.get_string_custom_property("version") == "2"


def test_vertex_uploads_a_cached_push_once(tmp_path):
    model_cls = _vertex_mocks(True)
    earlier = mock.MagicMock(version_id="3", version_description=(
        f"electra_tfx.pipeline=electra-tfx; electra_tfx.pushed_destination=/serving/{MODEL}/1001; "
        "electra_tfx.pushed_version=1001"))
    model_cls.return_value.versioning_registry.list_versions.return_value = [earlier]
    with mock.patch("google.cloud.aiplatform.Model", model_cls), \
            mock.patch("google.cloud.aiplatform.init"):
        registered = _register(tmp_path, 1, True, "", registry="vertex", vertex_project="p",
                               vertex_region="r", vertex_model_id="m", serving_image="img")
    model_cls.upload.assert_not_called()
    assert registered.get_string_custom_property("version") == "3"


def test_vertex_never_uploads_a_model_that_was_not_blessed(tmp_path):
    model_cls = _vertex_mocks(True)
    with mock.patch("google.cloud.aiplatform.Model", model_cls), \
            mock.patch("google.cloud.aiplatform.init"):
        registered = _register(tmp_path, 1, False, "", registry="vertex", vertex_project="p",
                               vertex_region="r", vertex_model_id="m", serving_image="img")
    model_cls.upload.assert_not_called()
    assert registered.get_int_custom_property("registered") == 0


def test_vertex_labels_are_valid():
    out = vertex_registry.labels({"electra_tfx.pipeline_run": "2026-12-04T21:33:46.1",
                                  "electra_tfx.pipeline": "Electra TFX"})
    assert out == {"pipeline_run": "2026-12-04t21-33-46-1", "pipeline": "electra-tfx"}


# ---- a real MLflow server ---------------------------------------------------------------

def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_registry_on_a_real_mlflow_server(tmp_path):
    """`mlflow server` (SQLite backend, proxied artifacts) on 127.0.0.1: a push registered over
    HTTP, champion downloaded over HTTP and loaded; the server stops on SIGTERM."""
    port = _free_port()
    server = subprocess.Popen(
        [os.path.join(os.path.dirname(sys.executable), "mlflow"), "server", "--host", "127.0.0.1",
         "--port", str(port), "--workers", "1",
         "--backend-store-uri", "sqlite:///" + str(tmp_path / "server.db"),
         "--artifacts-destination", str(tmp_path / "server-artifacts")],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    uri = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 300
        while True:
            try:
                with urllib.request.urlopen(f"{uri}/health", timeout=5) as response:
                    if response.status == 200:
                        break
            except OSError:
                pass
            assert server.poll() is None, "mlflow server exited"
            assert time.monotonic() < deadline, "mlflow server did not answer /health"
            time.sleep(2)
        _register(tmp_path, 1, True, uri)
        _register(tmp_path, 2, True, uri)
        client = mlflow_registry.client(uri)
        assert str(client.get_model_version_by_alias(MODEL, "champion").version) == "2"
        path = mlflow_registry.download_champion(uri, MODEL, str(tmp_path / "download"))
        out = tf.saved_model.load(path).signatures["serving_default"](x=tf.constant([1.0]))
        assert out["y"].numpy().tolist() == [3.0]
        assert (tmp_path / "server-artifacts").is_dir()  # the server holds the artifacts
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait()
    assert server.returncode is not None


# ---- compiled pipelines -----------------------------------------------------------------

@pytest.fixture(scope="module")
def compile_data(tmp_path_factory):
    from tests import fixtures
    root = tmp_path_factory.mktemp("compile")
    return root, fixtures.write_csv(root / "train.csv", fixtures.sentiment_rows(30))


def _compiled_tasks(compile_data, *flags):
    from tests.test_compile import _compile
    root, train = compile_data
    code, out = _compile(root, "--train", str(train), "--label-counts",
                         '{"neg": 15, "pos": 15}', *flags)
    return code, (json.loads(out.read_text()) if code == 0 else None)


def test_compiled_pipeline_uploads_to_vertex_after_the_pusher(compile_data):
    from tests.test_compile import IMAGE, _parameter
    code, spec = _compiled_tasks(compile_data, "--registry", "vertex", "--vertex-project", "p",
                                 "--vertex-region", "europe-west4", "--vertex-model-id", "sent",
                                 "--serving-image", "serving:1")
    assert code == 0
    task = spec["pipelineSpec"]["root"]["dag"]["tasks"]["ModelRegistry"]
    assert {_parameter(task, k) for k in ("registry", "vertex_project", "vertex_region",
                                          "vertex_model_id", "serving_image")} == \
        {"vertex", "p", "europe-west4", "sent", "serving:1"}
    artifacts = task["inputs"]["artifacts"]
    assert artifacts["pushed_model"]["taskOutputArtifact"]["producerTask"] == "Pusher"
    assert artifacts["model_blessing"]["taskOutputArtifact"]["producerTask"] == "blessing_gate"
    executor = spec["pipelineSpec"]["deploymentSpec"]["executors"]["ModelRegistry_executor"]
    assert executor["container"]["image"] == IMAGE  # it runs on the cluster


def test_vertex_registry_needs_its_flags(compile_data, capsys):
    code, _ = _compiled_tasks(compile_data, "--registry", "vertex", "--vertex-project", "p")
    assert code == 2
    assert "--registry vertex needs --vertex-region, --serving-image" in capsys.readouterr().err


def test_registry_settings_key_no_component_cache():
    """Registering is decided after training: the Trainer's and Transform's custom_config
    (their cache key) are the same with and without a registry."""
    import pipeline_config
    from trainer.run_context import RunContext
    plain, registered = pipeline_config.PipelineConfig(), pipeline_config.PipelineConfig()
    registered.registry.kind, registered.registry.uri = "mlflow", "http://h:5000"
    contexts = [RunContext(config=c, checkpoint_dir="/c", lower_case=True)
                for c in (plain, registered)]
    assert contexts[0].to_custom_config() == contexts[1].to_custom_config()
    assert contexts[0].transform_custom_config() == contexts[1].transform_custom_config()
    assert pipeline_config.from_dict(contexts[1].to_custom_config()["config"]).registry == \
        pipeline_config.RegistryConfig()


def test_git_commit_is_known_in_a_checkout_or_from_the_environment(monkeypatch):
    import re
    monkeypatch.delenv("ELECTRA_TFX_GIT_COMMIT", raising=False)
    assert re.fullmatch(r"[0-9a-f]{40}(-dirty)?", model_registry.git_commit())
    monkeypatch.setenv("ELECTRA_TFX_GIT_COMMIT", "0123abc")  # an image built without .git
    assert model_registry.git_commit() == "0123abc"
