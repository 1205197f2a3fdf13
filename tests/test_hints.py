"""Every hint the tool prints works: each test triggers a message, reads the suggested flag
(or step) out of the message text itself, reruns with it, and checks that the check which
stopped the run no longer does (the rerun may stop later, for another reason). The runs are
`electra-tfx run` in this process, stopped right after the component under test
(tests/e2e_support.run_in_process), so nothing is trained.

`test_every_hint_in_the_code_is_followed_here` keeps the list complete: a new message that
tells the user to rerun with a flag fails it until a test here follows that hint.
"""
import ast
import gzip
import re
import shlex

import pytest

from tests import fixtures
from tests.conftest import REPO_ROOT
from tests.e2e_support import (PRETRAIN_ARGS, TINY_ARGS, build_tiny_checkpoint,
                               component_states, run_in_process)

pytestmark = pytest.mark.slow

SENTIMENT_SCHEMA = str(REPO_ROOT / "schemas" / "sentiment_sentences" / "schema.pbtxt")
EXAMPLE_GEN = "TextExampleGen"


@pytest.fixture(scope="module")
def tiny_checkpoint(tmp_path_factory):
    return build_tiny_checkpoint(tmp_path_factory)


def _error(capfd) -> str:
    """What the last run printed as its error (from the last "electra-tfx: " on)."""
    err = capfd.readouterr().err
    assert "electra-tfx: " in err, err[-3000:]
    return err[err.rindex("electra-tfx: "):]


def _passes(code, capfd, output, component, gone: str):
    """The rerun got through `component` (ran, or reused from the cache) and no longer printed
    `gone`."""
    err = capfd.readouterr().err
    assert gone not in err, err[-3000:]
    assert code != 2 or "electra-tfx: " not in err, err[-3000:]
    assert component_states(output).get(component) in ("ran", "cached"), err[-3000:]


def _rerun_flag(message: str) -> list:
    """The words of the first flag a message tells to rerun with ("rerun with --x y")."""
    match = re.search(r"rerun with (--[\w-]+(?:[ =][^\s,;()]+?)?)[.,;]?(?:\s|$)", message)
    assert match, message
    return shlex.split(match.group(1))


def _rows(n=40, seed=3):
    return fixtures.sentiment_rows(n, seed=seed)


def _int_rows(n_pos, n_neg, seed=0):
    """{"text", "label": 0/1} records: the label type of the default data's curated schema."""
    rows = fixtures.sentiment_rows(n_pos + n_neg, seed=seed)
    return [(text, int(i < n_pos)) for i, (text, _) in enumerate(rows)]


def _base(tmp_path, checkpoint, output="out"):
    return ["--checkpoint", checkpoint, "--output", str(tmp_path / output), *TINY_ARGS]


# ----------------------------------------------------------------------------- bad rows


def test_bad_rows_hint_quarantine(tmp_path, tiny_checkpoint, capfd):
    rows = _rows()
    train = fixtures.write_csv(tmp_path / "train.csv", rows[:20] + [("", "pos")] + rows[20:])
    args = ["--train", str(train), *_base(tmp_path, tiny_checkpoint)]
    assert run_in_process(*args, stop_after=EXAMPLE_GEN) == 2
    message = _error(capfd)
    assert "rows are bad; the run stopped before training" in message
    flag = _rerun_flag(message)
    assert flag == ["--on-bad-rows", "quarantine"]
    code = run_in_process(*args, *flag, stop_after=EXAMPLE_GEN)
    _passes(code, capfd, tmp_path / "out", EXAMPLE_GEN, "rows are bad")


def test_too_many_bad_rows_hint_raise_the_fraction(tmp_path, tiny_checkpoint, capfd):
    rows = _rows()
    train = fixtures.write_csv(tmp_path / "train.csv", rows[:20] + [("", "pos")] * 4 + rows[20:])
    args = ["--train", str(train), "--on-bad-rows", "quarantine",
            *_base(tmp_path, tiny_checkpoint)]
    assert run_in_process(*args, stop_after=EXAMPLE_GEN) == 2
    message = _error(capfd)
    flag = re.search(r"raise (--[\w-]+)", message).group(1)
    assert flag == "--max-bad-rows-fraction"
    share = max(float(s) for s in re.findall(r"rows \(([\d.]+)%\)", message)) / 100
    code = run_in_process(*args, flag, f"{share + 0.01:.3f}", stop_after=EXAMPLE_GEN)
    _passes(code, capfd, tmp_path / "out", EXAMPLE_GEN, "Too many bad rows")


# ------------------------------------------------------------------- columns and files


@pytest.mark.parametrize("kind", ["csv", "jsonl"])
def test_missing_column_hint_names_the_column_flags(tmp_path, tiny_checkpoint, capfd, kind):
    rows = _rows()
    train = (fixtures.write_csv(tmp_path / "train.csv", rows, header=("review", "label"))
             if kind == "csv" else
             fixtures.write_jsonl(tmp_path / "train.jsonl", rows, keys=("review", "label")))
    args = ["--train", str(train), *_base(tmp_path, tiny_checkpoint)]
    assert run_in_process(*args, stop_after=EXAMPLE_GEN) == 2
    message = _error(capfd)
    missing = re.search(r"no (?:column|record has) '(\w+)'", message).group(1)
    flags = re.search(r"Name the columns with (--[\w-]+)/(--[\w-]+)", message).groups()
    flag = next(f for f in flags if f == f"--{missing}-column")  # the flag of the missing one
    listed = re.search(r"the (?:header|records) ha(?:s|ve) ((?:'\w+'(?:, )?)+)", message).group(1)
    column = next(c for c in re.findall(r"'(\w+)'", listed) if c != "label")
    code = run_in_process(*args, flag, column, stop_after=EXAMPLE_GEN)
    _passes(code, capfd, tmp_path / "out", EXAMPLE_GEN, "Name the columns")


def test_tfds_missing_column_hint(tmp_path, tiny_checkpoint, capfd):
    import tensorflow_datasets as tfds
    from tests.test_tfds_example_gen import imdb_as_dataset
    data_dir = str(tmp_path / "tfds")
    args = ["--train", "tfds:imdb_reviews", "--tfds-data-dir", data_dir,
            "--text-column", "review", *_base(tmp_path, tiny_checkpoint)]
    with tfds.testing.mock_data(as_dataset_fn=imdb_as_dataset, data_dir=data_dir):
        assert run_in_process(*args, stop_after="TfdsExampleGen") == 2
        message = _error(capfd)
        assert re.search(r"Name them with (--text-column)/--label-column", message)
        column = next(c for c in re.findall(r"'(\w+)'", message.split("the columns are")[1])
                      if c != "label")
        code = run_in_process(*args, "--text-column", column, stop_after="TfdsExampleGen")
    _passes(code, capfd, tmp_path / "out", "TfdsExampleGen", "Name them with")


def test_single_class_hint_check_the_label_column(tmp_path, tiny_checkpoint, capfd):
    """Every 'label' is "pos"; the real labels are in 'sentiment'. The message says to check
    --label-column: the rerun names the other column of the file."""
    rows = [(text, "pos", label) for text, label in _rows()]
    train = fixtures.write_csv(tmp_path / "train.csv", rows, header=("text", "label", "sentiment"))
    args = ["--train", str(train), *_base(tmp_path, tiny_checkpoint)]
    assert run_in_process(*args, stop_after=EXAMPLE_GEN) == 2
    message = _error(capfd)
    flag = re.search(r"Check (--[\w-]+)", message).group(1)
    assert flag == "--label-column"
    code = run_in_process(*args, flag, "sentiment", stop_after=EXAMPLE_GEN)
    _passes(code, capfd, tmp_path / "out", EXAMPLE_GEN, "at least two classes")


def test_gzip_under_a_plain_name_hint_rename(tmp_path, tiny_checkpoint, capfd):
    plain = fixtures.write_csv(tmp_path / "data" / "train.csv", _rows())
    plain.write_bytes(gzip.compress(plain.read_bytes()))
    assert run_in_process("--train", str(plain), *_base(tmp_path, tiny_checkpoint),
                          stop_after=EXAMPLE_GEN) == 2
    name = re.search(r"name it (\S+\.gz)", _error(capfd)).group(1)
    renamed = plain.with_name(name)
    plain.rename(renamed)
    code = run_in_process("--train", str(renamed), *_base(tmp_path, tiny_checkpoint),
                          stop_after=EXAMPLE_GEN)
    _passes(code, capfd, tmp_path / "out", EXAMPLE_GEN, "gzip-compressed")


# ---------------------------------------------------------------- schema, drift, skew


def test_anomaly_hints_name_the_schema_to_change(tmp_path, tiny_checkpoint, capfd):
    """An eval column training never had. With an inferred schema the message says to copy
    it, allow the column and pass --schema; the copy then is the curated schema, and the next
    new column's message says to change that file."""
    import tensorflow_data_validation as tfdv
    from tensorflow_metadata.proto.v0 import schema_pb2
    train = fixtures.write_csv(tmp_path / "train.csv", _rows())
    evaluation = fixtures.write_csv(tmp_path / "eval" / "eval.csv",
                                    [(t, y, "web") for t, y in _rows(10, seed=4)],
                                    header=("text", "label", "source"))
    args = ["--train", str(train), "--eval", str(evaluation), *_base(tmp_path, tiny_checkpoint)]
    assert run_in_process(*args, stop_after="AnomalyGate") == 2
    message = _error(capfd)
    assert "[eval] feature 'source': New column" in message

    def allow(schema_path, target, column):
        schema = tfdv.load_schema_text(schema_path)
        feature = schema.feature.add(name=column, type=schema_pb2.BYTES)
        feature.presence.min_count = 0
        tfdv.write_schema_text(schema, str(target))

    inferred = re.search(r"copy the schema inferred from the training data \((\S+)\)",
                         message).group(1)
    flag, placeholder = _rerun_flag(message)
    assert (flag, placeholder) == ("--schema", "COPY.pbtxt")
    copy = tmp_path / "schema.pbtxt"
    allow(inferred, copy, "source")
    code = run_in_process(*args, flag, str(copy), stop_after="AnomalyGate")
    _passes(code, capfd, tmp_path / "out", "AnomalyGate", "Data validation found")

    evaluation2 = fixtures.write_csv(tmp_path / "eval2" / "eval.csv",
                                     [(t, y, "web", "en") for t, y in _rows(10, seed=4)],
                                     header=("text", "label", "source", "lang"))
    args2 = ["--train", str(train), "--eval", str(evaluation2), flag, str(copy),
             *_base(tmp_path, tiny_checkpoint)]
    assert run_in_process(*args2, stop_after="AnomalyGate") == 2
    message = _error(capfd)
    curated = re.search(r"change the curated schema (\S+) to allow it", message).group(1)
    assert curated == str(copy) and "and rerun." in message
    allow(curated, curated, "lang")
    code = run_in_process(*args2, stop_after="AnomalyGate")
    _passes(code, capfd, tmp_path / "out", "AnomalyGate", "Data validation found")


def _switches(message):
    return [shlex.split(m) for m in re.findall(r"--set \S+=[^\s.,;)]+", message)]


def test_drift_hint_turns_drift_off(tmp_path, tiny_checkpoint, capfd):
    """Run 1 (balanced labels) is the baseline; run 2's train and eval data are both 90%
    positive (drift, no skew): the message names only the drift switch, which then passes."""
    def run(version, n_pos, n_neg, *extra):
        train = fixtures.write_jsonl(tmp_path / version / "train.jsonl", _int_rows(n_pos, n_neg))
        evaluation = fixtures.write_jsonl(tmp_path / version / "eval" / "eval.jsonl",
                                          _int_rows(n_pos, n_neg, seed=1))
        return run_in_process("--train", str(train), "--eval", str(evaluation), "--schema",
                              SENTIMENT_SCHEMA, *_base(tmp_path, tiny_checkpoint), *extra,
                              stop_after="DriftSkewGate")

    assert run("v1", 100, 100) != 2, capfd.readouterr().err[-3000:]
    capfd.readouterr()
    assert run("v2", 180, 20) == 2
    message = _error(capfd)
    assert "[train] feature 'label': High Linfty distance between current and previous" in message
    assert "train_vs_eval" not in message
    assert _switches(message) == [["--set", "data.check_drift=false"]]
    code = run("v2", 180, 20, *_switches(message)[0])
    _passes(code, capfd, tmp_path / "out", "DriftSkewGate", "Data validation found")


def test_skew_hint_turns_skew_off(tmp_path, tiny_checkpoint, capfd):
    """Train balanced, eval 90% positive, 200 rows each (large enough to measure skew): the
    message names the switch of the skew check, and the rerun with it passes."""
    train = fixtures.write_jsonl(tmp_path / "train.jsonl", _int_rows(100, 100))
    evaluation = fixtures.write_jsonl(tmp_path / "eval" / "eval.jsonl",
                                      _int_rows(180, 20, seed=1))
    args = ["--train", str(train), "--eval", str(evaluation), "--schema", SENTIMENT_SCHEMA,
            *_base(tmp_path, tiny_checkpoint)]
    assert run_in_process(*args, stop_after="DriftSkewGate") == 2
    message = _error(capfd)
    assert "[train_vs_eval] feature 'label': High Linfty distance between training and serving" \
        in message
    # The readable report the message names exists.
    report = re.search(r"Full report: (\S+)", message).group(1)
    assert report.endswith("SchemaDiff.pbtxt") and "Linfty" in open(report).read()
    assert _switches(message) == [["--set", "data.check_skew=false"]]
    code = run_in_process(*args, *_switches(message)[0], stop_after="DriftSkewGate")
    _passes(code, capfd, tmp_path / "out", "DriftSkewGate", "Data validation found")


# ------------------------------------------------------------ pre-training, checkpoints


def test_corpus_column_hint(tmp_path, tiny_checkpoint, capfd):
    corpus = fixtures.write_jsonl(tmp_path / "corpus.jsonl", _rows(10, seed=8),
                                  keys=("body", "label"))
    train = fixtures.write_csv(tmp_path / "train.csv", _rows())
    args = ["--train", str(train), "--pretrain-corpus", str(corpus), *PRETRAIN_ARGS,
            *_base(tmp_path, tiny_checkpoint)]
    assert run_in_process(*args, stop_after=EXAMPLE_GEN) == 2
    message = _error(capfd)
    switch = re.search(r"name it with (--set \S+=NAME)", message).group(1)
    column = re.search(r"\(it has '(\w+)'", message).group(1)
    code = run_in_process(*args, *shlex.split(switch.replace("NAME", column)),
                          stop_after=EXAMPLE_GEN)
    _passes(code, capfd, tmp_path / "out", EXAMPLE_GEN, "no text column")


def test_corpus_without_pretraining_hint(tmp_path, tiny_checkpoint, capfd):
    corpus = tmp_path / "corpus.txt"
    corpus.write_text("".join(t + "\n" for t, _ in _rows(10, seed=8)))
    train = fixtures.write_csv(tmp_path / "train.csv", _rows())
    args = ["--train", str(train), "--pretrain-corpus", str(corpus),
            *PRETRAIN_ARGS[2:], *_base(tmp_path, tiny_checkpoint)]  # without --pretrain-steps
    assert run_in_process(*args, stop_after=EXAMPLE_GEN) == 2
    flag, placeholder = re.search(r"pass (--[\w-]+) (N)\b", _error(capfd)).groups()
    code = run_in_process(*args, flag, "3", stop_after=EXAMPLE_GEN)
    _passes(code, capfd, tmp_path / "out", EXAMPLE_GEN, "no pre-training will run")


def test_nothing_to_pretrain_on_hint(tmp_path, tiny_checkpoint, capfd):
    corpus = tmp_path / "corpus.txt"
    corpus.write_text("".join(t + "\n" for t, _ in _rows(10, seed=8)))
    train = fixtures.write_csv(tmp_path / "train.csv", _rows())
    args = ["--train", str(train), *PRETRAIN_ARGS, "--set", "pretrain.use_training_text=false",
            *_base(tmp_path, tiny_checkpoint)]
    assert run_in_process(*args, stop_after=EXAMPLE_GEN) == 2
    flag = re.search(r"give (--[\w-]+) PATH", _error(capfd)).group(1)
    code = run_in_process(*args, flag, str(corpus), stop_after=EXAMPLE_GEN)
    _passes(code, capfd, tmp_path / "out", EXAMPLE_GEN, "leaves nothing to pre-train on")


def test_unreachable_hub_checkpoint_hint(tmp_path, tiny_checkpoint, capfd):
    """Offline (HF_HUB_OFFLINE=1, tests/conftest.py) a hub id that is not cached cannot be
    loaded: both ways the message offers work."""
    train = fixtures.write_csv(tmp_path / "train.csv", _rows())
    args = ["--train", str(train), "--output", str(tmp_path / "out"), *TINY_ARGS]
    assert run_in_process(*args, "--checkpoint", "nobody/no-such-electra",
                          stop_after=EXAMPLE_GEN) == 2
    message = _error(capfd)
    (path_flag, _), (flag, value) = re.findall(r"(--checkpoint) (PATH|auto)", message)
    assert (path_flag, value) == ("--checkpoint", "auto")
    code = run_in_process(*args, path_flag, tiny_checkpoint, stop_after=EXAMPLE_GEN)
    _passes(code, capfd, tmp_path / "out", EXAMPLE_GEN, "could not load nobody/")
    code = run_in_process(*args, flag, value, "--set", "model.scratch_vocab_size=300",
                          stop_after=EXAMPLE_GEN)
    _passes(code, capfd, tmp_path / "out", EXAMPLE_GEN, "could not load nobody/")


@pytest.mark.parametrize("checkpoint", ["", "no/such/dir"])
def test_bad_checkpoint_value_hint(tmp_path, capfd, checkpoint):
    """An empty --checkpoint, or a path that is neither a directory nor a hub id: the message
    lists what --checkpoint takes; 'scratch' (one of them) works."""
    train = fixtures.write_csv(tmp_path / "train.csv", _rows())
    args = ["--train", str(train), "--output", str(tmp_path / "out"), *TINY_ARGS,
            "--set", "model.scratch_vocab_size=300"]
    assert run_in_process(*args, "--checkpoint", checkpoint, stop_after=EXAMPLE_GEN) == 2
    message = _error(capfd)
    assert re.search(r"'auto'(?:, '\w+')* or '(scratch)'", message)
    code = run_in_process(*args, "--checkpoint", "scratch", stop_after=EXAMPLE_GEN)
    _passes(code, capfd, tmp_path / "out", EXAMPLE_GEN, "--checkpoint")


# ------------------------------------------------------------------- runs and options


def test_locked_output_hint_and_runs_output_hint(tmp_path, tiny_checkpoint, capfd):
    """Another run holds OUTPUT: the message says to pass a different --output, which works;
    `electra-tfx runs` on a folder without runs says to pass the --output of `run`."""
    from pipeline import cli, run_lock
    train = fixtures.write_csv(tmp_path / "train.csv", _rows())
    args = ["--train", str(train), "--checkpoint", tiny_checkpoint, *TINY_ARGS]
    with run_lock.exclusive(str(tmp_path / "busy")):
        assert run_in_process(*args, "--output", str(tmp_path / "busy"),
                              stop_after=EXAMPLE_GEN) == 2
        flag = re.search(r"pass a different (--[\w-]+)", _error(capfd)).group(1)
        code = run_in_process(*args, flag, str(tmp_path / "free"), stop_after=EXAMPLE_GEN)
        _passes(code, capfd, tmp_path / "free", EXAMPLE_GEN, "is using")

    assert cli.main(["runs", "--output", str(tmp_path / "nothing")]) == 2
    flag = re.search(r"pass the (--[\w-]+) of `electra-tfx run`", _error(capfd)).group(1)
    assert cli.main(["runs", flag, str(tmp_path / "free")]) == 0
    assert "no runs in" not in capfd.readouterr().err


def test_beam_arg_hint(tmp_path, tiny_checkpoint, capfd):
    train = fixtures.write_csv(tmp_path / "train.csv", _rows())
    args = ["--train", str(train), *_base(tmp_path, tiny_checkpoint)]
    assert run_in_process(*args, "--beam-arg", "direct_num_workers=1",
                          stop_after=EXAMPLE_GEN) == 2
    form = re.search(r"such as (--[\w-]+) (--)name=value", _error(capfd)).groups()
    code = run_in_process(*args, form[0], form[1] + "direct_num_workers=1",
                          stop_after=EXAMPLE_GEN)
    _passes(code, capfd, tmp_path / "out", EXAMPLE_GEN, "expected a Beam pipeline option")


def test_compile_label_counts_note(tmp_path, capfd):
    """`compile --label-counts` with the training counts only: the note says how to give the
    eval split's counts too; given that way, the note is gone."""
    from pipeline import cli
    train = fixtures.write_csv(tmp_path / "train.csv", _rows(10))
    args = ["compile", "--image", "gcr.io/p/electra-tfx:1", "--pipeline-root", "gs://b/root",
            "--out", str(tmp_path / "pipeline.json"), "--train", str(train),
            "--checkpoint", "google/electra-small-discriminator"]
    assert cli.main([*args, "--label-counts", '{"neg": 5, "pos": 5}']) == 0
    note = capfd.readouterr().err
    flag, form = re.search(r"pass (--[\w-]+) '(\{.*\})'", note).groups()
    counts = form.replace("{...}", '{"neg": 5, "pos": 5}')
    assert cli.main([*args, flag, counts]) == 0
    assert "absolute bar uses the training labels" not in capfd.readouterr().err


@pytest.mark.parametrize("kind", ["scratch", "packaged"])
def test_compile_local_checkpoint_hints(tmp_path, capfd, kind):
    """compile refuses --checkpoint scratch and packaged (they are built where they run); the
    message says to run `electra-tfx run --checkpoint ...` once, copy the directory it names
    and pass it. A copy in a local folder stands in for the bucket here."""
    import shutil
    from pipeline import cli
    train = str(fixtures.write_csv(tmp_path / "train.csv", _rows()))
    compile_args = ["compile", "--image", "gcr.io/p/electra-tfx:1", "--pipeline-root",
                    "gs://b/root", "--out", str(tmp_path / "pipeline.json"), "--train", train]
    assert cli.main([*compile_args, "--checkpoint", kind]) == 2
    message = _error(capfd)
    run_words = shlex.split(re.search(r"`electra-tfx run ([^`]+)`", message).group(1))
    output = tmp_path / "out"
    run_in_process("--train", train, *run_words, "--output", str(output), *TINY_ARGS,
                   "--set", "model.scratch_vocab_size=300", stop_after=EXAMPLE_GEN, summary=True)
    printed = capfd.readouterr().out
    if kind == "scratch":
        pattern = re.search(r"\(<output>/(\S+)\)", message).group(1)
        (directory,) = output.glob(pattern)
    else:
        assert "copy the directory its summary names" in message
        directory = re.search(r"Checkpoint: packaged \([^:]+: (\S+)\)\.", printed).group(1)
    copy = tmp_path / "bucket" / kind
    shutil.copytree(directory, copy)
    assert cli.main([*compile_args, "--checkpoint", str(copy)]) == 0, capfd.readouterr().err


def test_registry_uri_hint(tmp_path, capfd):
    """A compiled pipeline cannot use the default SQLite registry in its gs:// root; the hint's
    --registry-uri compiles, and the registering step gets it."""
    import json
    from pipeline import cli
    train = fixtures.write_csv(tmp_path / "train.csv", fixtures.sentiment_rows(30))
    out = tmp_path / "p.json"
    args = ["compile", "--image", "img", "--pipeline-root", "gs://b/root", "--out", str(out),
            "--train", str(train), "--label-counts", '{"neg": 15, "pos": 15}',
            "--checkpoint", "google/electra-small-discriminator", "--registry", "mlflow"]
    assert cli.main(args) == 2
    assert "pass --registry-uri http://HOST:5000" in capfd.readouterr().err
    assert cli.main([*args, "--registry-uri", "http://mlflow.internal:5000"]) == 0
    task = json.loads(out.read_text())["pipelineSpec"]["root"]["dag"]["tasks"]["ModelRegistry"]
    assert task["inputs"]["parameters"]["tracking_uri"]["runtimeValue"]["constantValue"][
        "stringValue"] == "http://mlflow.internal:5000"


# ------------------------------------------------------------------------ completeness

# Each message of the code that tells the user what to pass or rerun with: (file, a piece of
# the message) -> the test above that follows it, or why none can.
HINTS = {
    ("components/bad_rows.py", "rerun with --on-bad-rows quarantine"): test_bad_rows_hint_quarantine,
    ("components/bad_rows.py", "raise --max-bad-rows-fraction"):
        test_too_many_bad_rows_hint_raise_the_fraction,
    # The CSV header's and the JSON Lines records' message, before TensorFlow loads
    # (pipeline/precheck.py) and in the pipeline's readers alike.
    ("components/readers/head.py", "Name the columns with "):
        test_missing_column_hint_names_the_column_flags,
    ("components/readers/sniff.py", "name it "): test_gzip_under_a_plain_name_hint_rename,
    ("pipeline/data_scan.py", "Name them with "): test_tfds_missing_column_hint,
    ("pipeline/data_scan.py", "Check --label-column"):
        test_single_class_hint_check_the_label_column,
    ("components/anomaly_gate.py", "rerun with --schema COPY.pbtxt"):
        test_anomaly_hints_name_the_schema_to_change,
    ("components/anomaly_gate.py", "and rerun."): test_anomaly_hints_name_the_schema_to_change,
    # The gate always knows its schema in a pipeline; this is the message without one.
    ("components/anomaly_gate.py", "rerun with --schema PATH"):
        test_anomaly_hints_name_the_schema_to_change,
    ("components/drift_skew.py", "--set data.check_drift=false"): test_drift_hint_turns_drift_off,
    ("components/drift_skew.py", "--set data.check_skew=false"): test_skew_hint_turns_skew_off,
    ("components/drift_skew.py", "rerun with "): test_drift_hint_turns_drift_off,
    ("components/pretrain_corpus.py", "name it with --set pretrain.corpus_text_column=NAME"):
        test_corpus_column_hint,
    ("pipeline_config.py", "pass --pretrain-steps N"): test_corpus_without_pretraining_hint,
    ("pipeline_config.py", "give --pretrain-corpus PATH"): test_nothing_to_pretrain_on_hint,
    ("trainer/checkpoint.py", "use --checkpoint auto"): test_unreachable_hub_checkpoint_hint,
    ("trainer/checkpoint.py", "'auto', "): test_bad_checkpoint_value_hint,
    ("pipeline/run_lock.py", "pass a different --output"):
        test_locked_output_hint_and_runs_output_hint,
    ("pipeline/report/runs.py", "pass the --output of"):
        test_locked_output_hint_and_runs_output_hint,
    ("pipeline/beam_options.py", "such as --beam-arg --name=value"): test_beam_arg_hint,
    ("pipeline/compiler.py", "pass --label-counts"): test_compile_label_counts_note,
    ("components/model_registry.py", "pass --registry-uri"): test_registry_uri_hint,
    ("pipeline/compiler.py", "Build it with `electra-tfx run --checkpoint scratch`"):
        test_compile_local_checkpoint_hints,
    ("pipeline/compiler.py", "Run `electra-tfx run --checkpoint packaged`"):
        test_compile_local_checkpoint_hints,
    # electra-tfx predict (tests/test_predict.py follows them: the same rows rerun with
    # --on-bad-rows quarantine are scored; outputs named .jsonl and .csv are written).
    ("pipeline/batch_predict.py", "rerun with --on-bad-rows quarantine"):
        "tests/test_predict.py::test_bad_rows_fail_or_are_quarantined",
    ("pipeline/predict.py", "unknown format {}; name it"):
        "tests/test_predict.py::test_every_task_output_format and "
        "test_the_command_scores_the_latest_push_to_csv",
    # pipeline_config.validate refuses these settings first ("model.scratch_hidden_size (..)
    # must be a multiple of model.scratch_num_heads (..)"), so the CLI never prints this one.
    ("trainer/checkpoints/scratch.py", "change one with --set model.scratch_"):
        "unreachable from the command line",
}
# What counts as a hint: words telling the user what to pass or rerun with.
HINT = re.compile(r"rerun|\b(?:pass|use|give|raise|Check|name it with) (?:a different |the )?--"
                  r"|Name (?:the columns|them) with|name it \S|such as --\S+ --"
                  r"|with --set |--set [a-z_]+\.[a-z_]+=|'auto'(?:, '\w+')* or 'scratch'"
                  r"|`electra-tfx run --")
HINT_SOURCES = ["components", "pipeline", "trainer", "pipeline_config.py"]


def _messages(path):
    """The string literals of a module that are not docstrings nor argparse help."""
    tree = ast.parse(path.read_text())
    skip = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
                skip.add(id(body[0].value))
        if isinstance(node, ast.Call):
            for keyword in node.keywords:
                if keyword.arg == "help":
                    skip.update(id(n) for n in ast.walk(keyword.value))
    for node in ast.walk(tree):
        if id(node) in skip:
            continue
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            yield node.value
        elif isinstance(node, ast.JoinedStr):
            skip.update(id(v) for v in node.values)
            yield "".join(v.value if isinstance(v, ast.Constant) else "{}" for v in node.values)


def test_every_hint_in_the_code_is_followed_here():
    found, unfollowed = set(), []
    for source in HINT_SOURCES:
        root = REPO_ROOT / source
        for path in ([root] if root.is_file() else sorted(root.rglob("*.py"))):
            name = str(path.relative_to(REPO_ROOT))
            for message in _messages(path):
                if HINT.search(message):
                    keys = [k for k in HINTS if k[0] == name and k[1] in message]
                    found.update(keys)
                    if not keys:
                        unfollowed.append(f"{name}: {message!r}")
    assert unfollowed == [], "hints no test follows:\n" + "\n".join(unfollowed)
    assert set(HINTS) == found, f"hints no longer in the code: {set(HINTS) - found}"
