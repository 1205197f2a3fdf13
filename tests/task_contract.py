"""The task contract's machinery (tests/test_task_contract*.py run it): synthetic rows for
every registered task (and every label variant), one tiny scratch ELECTRA, and the steps the
contract takes on them:

preprocess through a real tf.Transform AnalyzeAndTransformDataset, read the transformed
examples back through the task's label_spec / flatten / split_features (trainer/data.py),
build the compiled model and take one training step (trainer/training.py), export with the
task's signatures, build the Evaluator's configs and the gate's bars, train and export the
task's simple baseline; at the end every export is reloaded in one fresh interpreter with
TensorFlow and TF Text only, and every signature is called.

A new task gets a `ContractFixture` here (`_fixture`), or calls `check_contract` from its own
test, as tests/test_task_plugin_example.py does.

Each built-in variant's contract runs once per test session: `contract_exports` keeps its
result (the transform graph and the exports) in a folder every pytest-xdist worker of the
session sees, under a file lock, so the contract files and the tests that need a real export
of every task (tests/test_predict.py, tests/test_example_outcomes.py) share one set instead of
each making its own. Whichever asks first runs `check_contract` (its assertions included).
"""
import dataclasses
import json
import os
import pathlib
import shutil
import subprocess
import sys
import textwrap
from typing import Any, Callable, Dict, List, Mapping, Optional

import pytest
import tensorflow as tf

import pipeline_config
from trainer import tasks
from trainer.run_context import RunContext

STRING = tf.io.FixedLenFeature([], tf.string)
WORDS = ["the", "pizza", "was", "great", "awful", "laptop", "phone", "golf", "paris", "france",
         "is", "in", "capital", "of", "where"]


@dataclasses.dataclass
class ContractFixture:
    """A task's synthetic data: raw rows, their raw feature spec, the data scan's label
    counts, the labels in id order (RunContext.labels) and the inputs of its signatures (by
    input name; `examples` is made from the rows)."""
    rows: List[Dict[str, Any]]
    raw_spec: Dict[str, Any]
    serve: Dict[str, List[str]]
    label_counts: Mapping[str, int] = dataclasses.field(default_factory=dict)
    labels: List[str] = dataclasses.field(default_factory=list)
    configure: Optional[Callable[[pipeline_config.PipelineConfig], None]] = None


def _text_rows(labels):
    texts = ["the pizza was great", "the laptop was awful", "golf is great", "the phone",
             "pizza in paris", "awful golf"]
    return [{"text": t, "label": labels[i % len(labels)]} for i, t in enumerate(texts)]


def _counts(rows, column="label"):
    counts: Dict[str, int] = {}
    for row in rows:
        counts[str(row[column])] = counts.get(str(row[column]), 0) + 1
    return counts


def _single(pair=False):
    rows = _text_rows(["neg", "pos"])
    spec = {"text": STRING, "label": STRING}
    serve = {"text": [r["text"] for r in rows[:2]]}
    if pair:
        for row in rows:
            row["text_pair"] = "the capital of france"
        spec["text_pair"] = STRING
        serve["text_pair"] = ["paris", ""]
    return rows, spec, serve


def _fixture(name, options):
    pair = name == "text-pair-classification"
    if name in ("text-classification", "text-pair-classification"):
        rows, spec, serve = _single(pair)
        if options.get("multi_label"):
            for i, row in enumerate(rows):
                row["label"] = ["food", "tech,food", "sport"][i % 3]
            counts = _counts(rows)
            return ContractFixture(rows, spec, serve, counts, ["food", "sport", "tech"])
        if options.get("regression"):
            for i, row in enumerate(rows):
                row["label"] = float(i) / 5
            spec = dict(spec, label=tf.io.FixedLenFeature([], tf.float32))
            return ContractFixture(rows, spec, serve, _counts(rows))
        return ContractFixture(rows, spec, serve, _counts(rows), ["neg", "pos"])
    if name == "token-classification":
        sentences = [["the", "pizza", "in", "paris"], ["golf", "is", "great"],
                     ["paris", "france"], ["the", "laptop"]]
        tags = [["O", "O", "O", "B-LOC"], ["O", "O", "O"], ["B-LOC", "B-LOC"], ["O", "O"]]
        rows = [{"tokens": s, "tags": t} for s, t in zip(sentences, tags)]
        counts: Dict[str, int] = {}
        for t in tags:
            for tag in t:
                counts[tag] = counts.get(tag, 0) + 1
        return ContractFixture(
            rows, {"tokens": tf.io.VarLenFeature(tf.string), "tags": tf.io.VarLenFeature(tf.string)},
            {"text": ["the pizza in paris is great"]}, counts, ["B-LOC", "O"])
    if name == "question-answering":
        context = "paris is the capital of france"
        rows = [{"question": "where is paris", "context": context,
                 "answers_text": ["france"], "answers_start": [context.index("france")]},
                {"question": "the capital of france", "context": context,
                 "answers_text": ["paris"], "answers_start": [0]},
                {"question": "pizza", "context": "the laptop was awful",
                 "answers_text": [], "answers_start": []}]
        spec = {"question": STRING, "context": STRING,
                "answers_text": tf.io.VarLenFeature(tf.string),
                "answers_start": tf.io.VarLenFeature(tf.int64)}
        return ContractFixture(rows, spec, {"question": ["where is paris"],
                                            "context": [context]})
    if name == "embedding":
        rows = [{"text": r["text"]} for r in _text_rows(["x"])]
        return ContractFixture(rows, {"text": STRING}, {"text": ["the pizza", "golf"]})
    return None


def _variant_id(cls):
    options = ",".join(key for key, value in sorted(cls.options.items()) if value)
    return cls.name + (f"[{options}]" if options else "")


def _config(cls, fixture: ContractFixture, checkpoint: str):
    cfg = pipeline_config.PipelineConfig()
    cfg.task = cls.name
    for key, value in cls.options.items():
        setattr(cfg.task_options, key, value)
    cfg.model.max_seq_length = 16
    cfg.task_options.doc_stride = 4
    cfg.train.batch_size = cfg.train.eval_batch_size = 4
    cfg.train.epochs = 1
    cfg.train.bucket_boundaries = [8]
    cfg.eval.baseline_epochs = 1
    if fixture.configure:
        fixture.configure(cfg)
    cfg = pipeline_config.resolve(cfg, pipeline_config.CheckpointFacts("scratch", 32),
                                  tasks.traits(cfg.task))
    return RunContext(cfg, checkpoint, True, labels=list(fixture.labels))


def _example(row: Dict[str, Any]) -> bytes:
    example = tf.train.Example()
    for key, value in row.items():
        values = value if isinstance(value, list) else [value]
        feature = example.features.feature[key]
        if all(isinstance(v, str) for v in values):
            feature.bytes_list.value.extend(v.encode() for v in values)
        elif all(isinstance(v, int) for v in values):
            feature.int64_list.value.extend(values)
        else:
            feature.float_list.value.extend(float(v) for v in values)
    return example.SerializeToString()


def _transform(task, context, fixture: ContractFixture, out_dir: str):
    """AnalyzeAndTransformDataset on the rows; writes the transform graph (with the raw
    metadata, as TFX's Transform does) and the transformed examples as the Trainer reads
    them (gzipped TFRecords). Returns (TFTransformOutput, examples file)."""
    import tensorflow_transform as tft
    import tensorflow_transform.beam as tft_beam
    from tensorflow_transform.tf_metadata import dataset_metadata, metadata_io, schema_utils

    from pipeline import beam_options
    beam_options.cache_method_signatures()  # as a local run does (pipeline/runner.py)
    beam_options.cache_option_views()
    metadata = dataset_metadata.DatasetMetadata(
        schema_utils.schema_from_feature_spec(fixture.raw_spec))
    tft_dir = f"{out_dir}/transform"
    with tft_beam.Context(temp_dir=f"{out_dir}/tmp", force_tf_compat_v1=False):
        (transformed, transformed_metadata), transform_fn = (
            (fixture.rows, metadata)
            | tft_beam.AnalyzeAndTransformDataset(lambda inputs: task.preprocess(inputs, context)))
        _ = transform_fn | tft_beam.WriteTransformFn(tft_dir)
    metadata_io.write_metadata(metadata, f"{tft_dir}/{tft.TFTransformOutput.RAW_METADATA_DIR}")
    coder = tft.coders.ExampleProtoCoder(transformed_metadata.schema)
    path = f"{out_dir}/transformed.tfrecord.gz"
    with tf.io.TFRecordWriter(path, options="GZIP") as writer:
        for row in transformed:
            writer.write(coder.encode(row))
    return tft.TFTransformOutput(tft_dir), path


def check_contract(cls, fixture: ContractFixture, checkpoint: str, out_dir: str) -> Dict:
    """Every step of the contract but the reload; returns what the reload needs."""
    from components.baseline.run import baseline_of
    from trainer import eval_setup, training

    context = _config(cls, fixture, checkpoint)
    task = tasks.create(context)
    assert type(task) is cls and task.config is context.config
    assert cls.name in tasks.task_names()
    transform_output, examples = _transform(task, context, fixture, out_dir)

    train_ds, eval_ds = training.build_datasets(task, context.config, examples, examples)
    _, total_steps = training.training_steps(train_ds, context.config.train)
    model = training.build_task_model(task, context, transform_output, total_steps)
    history = model.fit(train_ds.take(1), epochs=1, validation_data=eval_ds.take(1), verbose=0)
    assert all(v == v for v in history.history["loss"]), history.history  # not NaN
    exported = {"candidate": f"{out_dir}/candidate"}
    training.export(task, model, transform_output, context, exported["candidate"])

    counts = dict(fixture.label_counts)
    for config in (eval_setup.candidate_vs_last_blessed(task, context, counts),
                   eval_setup.candidate_vs_baseline(task, context, counts)):
        assert config.model_specs and config.metrics_specs
    bars = task.gate_bars(context, counts, counts)
    assert {b.rule for b in bars} == {"absolute bar", "above chance"}
    # The config check before TensorFlow (pipeline_config.validate) reads the traits.
    assert any(b.versus_baseline for b in bars) == cls.traits.chance_bar_needs_baseline, cls
    measured = {m.class_name for s in task.eval_config(context, counts).metrics_specs
                for m in s.metrics}
    assert measured, cls

    if task.baseline_module is not None:
        assert task.baseline_description
        baseline, _ = baseline_of(task).train(task, context, transform_output, examples,
                                              examples)
        exported["baseline"] = f"{out_dir}/baseline"
        training.export(task, baseline, transform_output, context, exported["baseline"])
    inputs = dict(fixture.serve, examples=[_example(r).hex() for r in fixture.rows[:2]])
    return {"dirs": exported, "inputs": inputs}


_RELOAD = textwrap.dedent("""
    import json, sys
    import tensorflow as tf
    import tensorflow_text  # noqa: F401
    results = {}
    for key, job in json.load(open(sys.argv[1])).items():
        for role, path in job["dirs"].items():
            model = tf.saved_model.load(path)
            # Served by its signatures only: no Keras traces (training.export, save_traces=False)
            assert not hasattr(model, "keras_api"), f"{path}: saved with Keras' layer traces"
            for name, fn in model.signatures.items():
                args = {}
                for arg in fn.structured_input_signature[1]:
                    values = job["inputs"][arg]
                    args[arg] = tf.constant([bytes.fromhex(v) for v in values]
                                            if arg == "examples" else values)
                out = fn(**args)
                results[f"{key} {role} {name}"] = sorted(out)
    assert not any(m.split(".")[0] in ("transformers", "trainer", "pipeline", "components")
                   for m in sys.modules), "the served model needed project code"
    print(json.dumps(results))
""")


def reload_and_call_every_signature(jobs: Dict[str, Dict], tmp_dir: str) -> Dict[str, List]:
    """Loads every export in one fresh interpreter (TensorFlow + TF Text only) and calls every
    signature; {"<key> <role> <signature>": its output names}."""
    path = f"{tmp_dir}/jobs.json"
    with open(path, "w") as f:
        json.dump(jobs, f)
    proc = subprocess.run([sys.executable, "-c", _RELOAD, path], capture_output=True, text=True,
                          timeout=600, env={"TF_CPP_MIN_LOG_LEVEL": "2", "PATH": "/usr/bin:/bin"})
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def session_folder(tmp_path_factory) -> pathlib.Path:
    """A folder shared by every pytest-xdist worker of this test session (the parent of the
    workers' own base temp folders; without xdist, the session's base temp folder)."""
    base = tmp_path_factory.getbasetemp()
    return base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base


def made_once(folder: pathlib.Path, make: Callable[[pathlib.Path], Any],
              wait: bool = True) -> Optional[pathlib.Path]:
    """`make(folder)` run by the first worker to ask, under a lock; the others wait for it and
    reuse the folder. A `make` that raised leaves nothing behind: the next caller runs it again
    (and sees the same error). With `wait=False`, None when another worker holds the lock."""
    from filelock import FileLock, Timeout
    done = folder / ".made"
    folder.parent.mkdir(parents=True, exist_ok=True)
    try:
        with FileLock(f"{folder}.lock", timeout=-1 if wait else 0):
            if not done.exists():
                shutil.rmtree(folder, ignore_errors=True)
                try:
                    make(folder)
                except BaseException:
                    shutil.rmtree(folder, ignore_errors=True)
                    raise
                done.write_text("")
    except Timeout:
        return None
    return folder


@pytest.fixture(scope="session")
def contract_checkpoint(tmp_path_factory):
    """One tiny scratch ELECTRA (1 layer, hidden 32) whose vocabulary holds the fixtures' words
    (one for the whole session: every worker's exports share its vocabulary)."""
    from pipeline_config import ModelConfig
    from trainer.checkpoint import build_scratch_checkpoint
    texts = [" ".join(WORDS)] * 4 + ["where is paris the capital of france", "B-LOC O"]
    config = ModelConfig(scratch_vocab_size=120, scratch_hidden_size=32, scratch_num_layers=1,
                         scratch_num_heads=2, scratch_intermediate_size=64)
    folder = made_once(session_folder(tmp_path_factory) / "contract" / "checkpoint",
                       lambda f: build_scratch_checkpoint(texts, str(f / "tiny"), config))
    return str(folder / "tiny")


@pytest.fixture(scope="session")
def contract_exports(contract_checkpoint, tmp_path_factory):
    """[variant class] -> {variant id: `check_contract`'s result for it ({"dirs": {role:
    SavedModel folder}, "inputs": ...})}, each made once per session (see the module's
    docstring). A variant another worker is making is taken last, so that two workers asking
    for the same list make different variants at the same time."""
    root = session_folder(tmp_path_factory) / "contract" / "exports"

    def folder_of(cls) -> pathlib.Path:
        return root / _variant_id(cls).replace("[", "_").replace("]", "").replace(",", "_")

    def make(cls):
        def run(out: pathlib.Path):
            out.mkdir(parents=True)
            job = check_contract(cls, _fixture(cls.name, cls.options), contract_checkpoint,
                                 str(out))
            (out / "job.json").write_text(json.dumps(job))
        return run

    def exports(classes) -> Dict[str, Dict]:
        jobs, waiting = {}, list(classes)
        while waiting:
            cls = next((c for c in waiting if made_once(folder_of(c), make(c), wait=False)),
                       waiting[0])
            folder = made_once(folder_of(cls), make(cls))
            jobs[_variant_id(cls)] = json.loads((folder / "job.json").read_text())
            waiting.remove(cls)
        return jobs

    return exports


BUILTIN_VARIANTS = [cls for name in tasks.BUILTIN_TASKS for cls in tasks.variants(name)]


# The built-in tasks, by the test file that runs their contract: one file per group, so that
# pytest-xdist (--dist loadfile) spreads them over its workers. Tasks in no named group
# (any task added later) run in tests/test_task_contract_other_tasks.py.
CONTRACT_GROUPS = {
    "classification": ["text-classification"],
    "pair": ["text-pair-classification"],
}


def variants_of_group(group: str):
    """The built-in variants whose contract the group's file runs ("other": every task in no
    named group)."""
    if group == "other":
        named = {n for names in CONTRACT_GROUPS.values() for n in names}
        return [cls for cls in BUILTIN_VARIANTS if cls.name not in named]
    return [cls for cls in BUILTIN_VARIANTS if cls.name in CONTRACT_GROUPS[group]]


def run_contract(variants, exports: Callable[[Any], Dict], tmp_path) -> Dict[str, List]:
    """`check_contract` for each variant (through `exports`, the `contract_exports` fixture:
    made here or reused from the worker that made it first), then one reload that calls every
    signature of every export; asserts each export answers its serving_default. Returns what
    the reload called."""
    assert variants
    jobs = exports(variants)
    called = reload_and_call_every_signature(jobs, str(tmp_path))
    for key, job in jobs.items():
        for role in job["dirs"]:
            assert any(k.startswith(f"{key} {role} serving_default") for k in called), key
    return called
