"""`electra-tfx compile --target kubeflow-v2`: the pipeline spec a Kubeflow/Vertex cluster runs.

Compiles the real pipeline definition (in-process, no cluster) and loads the result with the
pinned KFP SDK; checks that what `run` resolves locally is left to the cluster.
"""
import json

import pytest

from pipeline import cli
from tests import fixtures

IMAGE = "europe-docker.pkg.dev/project/repo/electra-tfx:1.0"
ROOT = "gs://bucket/electra-root"
# The nodes create_pipeline wires (the resolver compiles to two resolver tasks, no container).
COMPONENTS = {"TextExampleGen", "StatisticsGen", "SchemaGen", "ExampleValidator", "AnomalyGate",
              "Transform", "Trainer", "Evaluator", "Pusher",
              "baseline_trainer", "baseline_evaluator", "blessing_gate", "FreeTextSchema"}


def _bars(tasks):
    """The blessing gate's bars, as compiled."""
    return json.loads(_parameter(tasks["blessing_gate"], "bars"))


def _compile(tmp_path, *extra):
    out = tmp_path / "pipeline.json"
    code = cli.main(["compile", "--image", IMAGE, "--pipeline-root", ROOT, "--out", str(out),
                     "--checkpoint", "google/electra-small-discriminator", *extra])
    return code, out


def _parameter(task, name):
    return task["inputs"]["parameters"][name]["runtimeValue"]["constantValue"]["stringValue"]


@pytest.fixture(scope="module")
def compiled(tmp_path_factory):
    root = tmp_path_factory.mktemp("compile")
    train = fixtures.write_csv(root / "data" / "train.csv",
                               fixtures.sentiment_rows(30) + [("an extra neg", "neg")])
    code, out = _compile(root, "--train", str(train), "--beam-preset", "dataflow",
                         "--beam-arg", "--project=my-project", "--beam-arg=--region=europe-west4")
    assert code == 0
    return json.loads(out.read_text()), out


def test_every_component_is_compiled_with_the_image(compiled):
    spec, _ = compiled
    tasks = spec["pipelineSpec"]["root"]["dag"]["tasks"]
    assert COMPONENTS <= set(tasks)
    executors = spec["pipelineSpec"]["deploymentSpec"]["executors"]
    containers = {name: e["container"] for name, e in executors.items() if "container" in e}
    assert {name[:-len("_executor")] for name in containers} == COMPONENTS
    assert {c["image"] for c in containers.values()} == {IMAGE}
    assert spec["runtimeConfig"]["gcsOutputDirectory"] == f"{ROOT}/artifacts"
    assert spec["displayName"] == "electra-tfx"


def test_beam_options_reach_every_beam_powered_component(compiled):
    spec, _ = compiled
    executors = spec["pipelineSpec"]["deploymentSpec"]["executors"]
    wanted = ["--runner=DataflowRunner", "--experiments=use_runner_v2", "--project=my-project",
              "--region=europe-west4"]
    for component in ("TextExampleGen", "StatisticsGen", "SchemaGen", "ExampleValidator",
                      "Transform", "Evaluator"):
        args = executors[f"{component}_executor"]["container"]["args"]
        assert args[-len(wanted):] == wanted, (component, args)
        assert not any(a.startswith("--direct_") for a in args)  # the preset replaced them


def test_the_kfp_sdk_loads_the_spec(compiled):
    from google.protobuf import json_format
    from kfp import components
    from kfp.pipeline_spec import pipeline_spec_pb2

    spec, out = compiled
    # Strict parse: an unknown or mistyped field raises.
    job = json_format.ParseDict(spec, pipeline_spec_pb2.PipelineJob())
    assert job.runtime_config.gcs_output_directory == f"{ROOT}/artifacts"
    loaded = components.load_component_from_text(json.dumps(spec["pipelineSpec"]))
    assert COMPONENTS <= set(loaded.pipeline_spec.root.dag.tasks)
    assert loaded.pipeline_spec.deployment_spec["executors"]["Trainer_executor"]["container"][
        "image"] == IMAGE


def test_a_yaml_spec_is_what_the_kubeflow_client_uploads(tmp_path):
    from kfp import components
    from kfp.client import client as kfp_client

    train = fixtures.write_csv(tmp_path / "train.csv", fixtures.sentiment_rows(10))
    out = tmp_path / "pipeline.yaml"
    assert cli.main(["compile", "--image", IMAGE, "--pipeline-root", ROOT, "--out", str(out),
                     "--train", str(train)]) == 0
    # The loader kfp.Client().create_run_from_pipeline_package / upload_pipeline use.
    document = kfp_client._extract_pipeline_yaml(str(out))  # noqa: SLF001
    assert COMPONENTS <= set(document.pipeline_spec.root.dag.tasks)
    assert document.pipeline_spec.pipeline_info.name == "electra-tfx"
    assert COMPONENTS <= set(components.load_component_from_file(str(out)).pipeline_spec.root.dag.tasks)


def test_the_cluster_resolves_the_checkpoint_and_its_defaults(compiled):
    spec, _ = compiled
    tasks = spec["pipelineSpec"]["root"]["dag"]["tasks"]
    for component in ("Trainer", "Transform"):
        custom = json.loads(_parameter(tasks[component], "custom_config"))
        assert custom["checkpoint_dir"] == "google/electra-small-discriminator"
        assert custom["lower_case"] is None  # read from the checkpoint on the cluster
    config = json.loads(_parameter(tasks["Trainer"], "custom_config"))["config"]
    assert config["model"]["max_seq_length"] == 128
    assert config["train"]["learning_rate"] is None  # by the checkpoint's size, in run_fn
    push = json.loads(_parameter(tasks["Pusher"], "push_destination"))
    assert push["filesystem"]["base_directory"] == f"{ROOT}/serving/electra_classifier"


def test_label_counts_come_from_the_data_scan(compiled):
    """The absolute bar is the majority rate of the eval split the hash split makes."""
    spec, _ = compiled
    accuracy, auc = _bars(spec["pipelineSpec"]["root"]["dag"]["tasks"])
    assert accuracy["rule"] == "absolute bar" and auc["rule"] == "above chance"
    assert "the eval split's majority-class rate" in accuracy["reason"]
    assert 0.5 <= accuracy["threshold"] <= 1


def test_label_counts_flag_replaces_the_scan(tmp_path, capsys):
    train = fixtures.write_csv(tmp_path / "train.csv", fixtures.sentiment_rows(10))
    code, out = _compile(tmp_path, "--train", str(train),
                         "--label-counts", '{"a": 1, "b": 3, "c": 6}')
    assert code == 0
    tasks = json.loads(out.read_text())["pipelineSpec"]["root"]["dag"]["tasks"]
    eval_config = json.loads(_parameter(tasks["Evaluator"], "eval_config"))
    assert eval_config["metrics_specs"][1]["binarize"]["class_ids"]["values"] == [0, 1, 2]
    # Training counts only: they stand in for the eval split's, and the compiler says so.
    assert _bars(tasks)[0]["threshold"] == pytest.approx(0.6)
    assert "pass --label-counts" in capsys.readouterr().err
    # With the eval split's counts, the bar is theirs.
    code, out = _compile(tmp_path, "--train", str(train), "--label-counts",
                         '{"train": {"a": 1, "b": 3, "c": 6}, "eval": {"a": 7, "b": 2, "c": 1}}')
    assert code == 0
    tasks = json.loads(out.read_text())["pipelineSpec"]["root"]["dag"]["tasks"]
    assert _bars(tasks)[0]["threshold"] == pytest.approx(0.7)


@pytest.mark.parametrize("args, message", [
    (["--checkpoint", "scratch"], "cannot be compiled"),
    (["--checkpoint", "packaged"], "cannot be compiled"),
    (["--label-counts", "[1, 2]"], "expected a non-empty JSON object"),
    (["--label-counts", "/no/such.json"], "no such file"),
    (["--output", "x"], "--pipeline-root"),
])
def test_user_errors_exit_2_with_a_message(tmp_path, capsys, args, message):
    train = fixtures.write_csv(tmp_path / "train.csv", fixtures.sentiment_rows(10))
    code, out = _compile(tmp_path, "--train", str(train), *args)
    err = capsys.readouterr().err
    assert code == 2 and message in err and "Traceback" not in err
    assert not out.exists()


def test_local_paths_are_reported(tmp_path, capsys):
    train = fixtures.write_csv(tmp_path / "train.csv", fixtures.sentiment_rows(10))
    code, _ = _compile(tmp_path, "--train", str(train))
    assert code == 0
    assert f"--train {train} is a local path" in capsys.readouterr().err


def test_compile_requires_train(tmp_path, capsys):
    code, _ = _compile(tmp_path)
    assert code == 2 and "compile needs --train" in capsys.readouterr().err


# ------------------------------------------- compiling without reaching the data (--label-counts)

def _example_gen_inputs(tasks):
    gen = tasks["TextExampleGen"]
    config = json.loads(_parameter(gen, "input_config"))
    return _parameter(gen, "input_base"), {s["name"]: s["pattern"] for s in config["splits"]}


@pytest.mark.parametrize("train, eval_, base, patterns", [
    ("gs://no-such-bucket/data/train.csv", "gs://no-such-bucket/data/eval.jsonl.gz",
     "gs://no-such-bucket/data", {"train": "train.csv", "eval": "eval.jsonl.gz"}),
    ("gs://no-such-bucket/data/train/", "gs://no-such-bucket/data/held-out",
     "gs://no-such-bucket/data", {"train": "train/*", "eval": "held-out/*"}),
    ("gs://no-such-bucket/data/part-*.tfrecord.gz", None,
     "gs://no-such-bucket/data", {"single_split": "part-*.tfrecord.gz"}),
    ("gs://no-such-bucket/v1.2", None, "gs://no-such-bucket/v1.2", {"single_split": "*"}),
])
def test_label_counts_compile_without_reading_the_data(tmp_path, train, eval_, base, patterns):
    """Nothing under gs://no-such-bucket exists and this machine has no network: with the
    counts given, the paths go into the spec as spelled and are listed on the cluster."""
    import time
    counts = '{"train": {"neg": 10, "pos": 12}, "eval": {"neg": 3, "pos": 2}}'
    started = time.monotonic()
    code, out = _compile(tmp_path, "--train", train, *(["--eval", eval_] if eval_ else []),
                         "--checkpoint", "gs://no-such-bucket/checkpoints/electra",
                         "--label-counts", counts)
    assert code == 0
    assert time.monotonic() - started < 120  # no listing, no retries against GCS
    tasks = json.loads(out.read_text())["pipelineSpec"]["root"]["dag"]["tasks"]
    assert _example_gen_inputs(tasks) == (base, patterns)
    assert _bars(tasks)[0]["threshold"] == pytest.approx(0.6)  # the eval counts' majority


def test_unlisted_inputs_match_the_listed_ones(tmp_path):
    """Where the data is readable, the spelled-out inputs are the listed ones."""
    from components.input_files import resolve_inputs, unlisted_inputs
    data = tmp_path / "data"
    fixtures.write_csv(data / "train.csv", fixtures.sentiment_rows(4))
    fixtures.write_csv(data / "held out" / "eval.csv", fixtures.sentiment_rows(4))
    for train, eval_ in [(str(data / "train.csv"), str(data / "held out")),
                         (str(data / "train.csv"), str(data / "held out") + "/"),
                         (str(data / "*.csv"), None), (str(data) + "/", None)]:
        listed, unlisted = resolve_inputs(train, eval_), unlisted_inputs(train, eval_)
        assert (unlisted.input_base, unlisted.input_config, unlisted.output_config) == \
            (listed.input_base, listed.input_config, listed.output_config), (train, eval_)
        assert unlisted.train_files == ()


def test_unlisted_inputs_refuse_what_they_can_tell(tmp_path):
    from components.input_files import InputError, unlisted_inputs
    with pytest.raises(InputError, match="same file system"):
        unlisted_inputs("gs://a/train.csv", "gs://b/eval.csv")
    with pytest.raises(InputError, match="same files"):
        unlisted_inputs("gs://a/data/", "gs://a/data")
