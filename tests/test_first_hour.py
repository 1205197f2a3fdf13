"""A new user's first hour: a mistake is reported in a second, before TensorFlow loads; the
help says what every flag does and its one default; `runs` says how each run ended and on
what data; `report --out DIR` writes the report elsewhere. No test here runs a pipeline.

Each command runs in a subprocess through a small wrapper that reports whether TensorFlow was
imported and how long `cli.main` took. That in-process time is held under 2 s; the process's
wall time (interpreter start-up included, which a loaded machine can stretch) under a looser
bound.
"""
import json
import os
import pathlib
import re
import subprocess
import sys
import time
import zipfile

import pytest

from tests import fixtures
from tests.conftest import REPO_ROOT

MAX_SECONDS = 2.0
MAX_WALL_SECONDS = 6.0

_WRAPPER = """
import sys, time
started = time.monotonic()
from pipeline import cli
try:
    code = cli.main(sys.argv[1:])
except SystemExit as e:  # argparse: a flag typo, --help
    code = e.code
sys.stdout.flush()
print(f"@@ tensorflow={'tensorflow' in sys.modules} seconds={time.monotonic() - started:.3f}",
      file=sys.stderr)
sys.exit(code)
"""


class Result:
    def __init__(self, code, out, err, seconds, wall, tensorflow):
        self.code, self.out, self.err = code, out, err
        self.seconds, self.wall, self.tensorflow = seconds, wall, tensorflow

    @property
    def lines(self):
        return [line for line in self.err.splitlines() if line.strip()]


def cli(*args, cwd=None) -> Result:
    """`electra-tfx ARGS` in a fresh interpreter, timed, with TensorFlow's import noted."""
    env = {**os.environ, "TF_USE_LEGACY_KERAS": "1", "TF_CPP_MIN_LOG_LEVEL": "2",
           "PYTHONPATH": str(REPO_ROOT)}
    started = time.monotonic()
    done = subprocess.run([sys.executable, "-c", _WRAPPER, *map(str, args)], env=env,
                          cwd=cwd or REPO_ROOT, capture_output=True, text=True, timeout=300)
    wall = time.monotonic() - started
    err, _, tail = done.stderr.rpartition("@@ ")
    match = re.match(r"tensorflow=(\w+) seconds=([\d.]+)", tail)
    assert match, done.stderr[-3000:]
    return Result(done.returncode, done.stdout, err, float(match.group(2)), wall,
                  match.group(1) == "True")


def assert_quick(result: Result) -> None:
    assert not result.tensorflow, "TensorFlow was imported"
    assert result.seconds < MAX_SECONDS, f"{result.seconds:.2f} s in cli.main"
    assert result.wall < MAX_WALL_SECONDS, f"{result.wall:.2f} s for the process"


def assert_one_line_error(result: Result, *expected: str) -> str:
    """Exit 2, one line on stderr saying `expected`, no traceback, in under 2 s, no TF."""
    assert result.code == 2, (result.code, result.err)
    assert "Traceback" not in result.err, result.err
    assert len(result.lines) == 1 or result.lines[0].startswith("usage:"), result.err
    message = result.lines[-1]
    for piece in expected:
        assert piece in message, message
    assert_quick(result)
    return message


# --------------------------------------------------------------------------- fixtures


def _rows(n=12):
    return fixtures.sentiment_rows(n, seed=5)


@pytest.fixture
def data(tmp_path):
    """A folder of small files, good and bad."""
    d = tmp_path / "data"
    fixtures.write_csv(d / "reviews.csv", _rows(), header=("review", "label"))
    fixtures.write_csv(d / "good.csv", _rows())
    fixtures.write_jsonl(d / "reviews.jsonl", _rows(), keys=("review", "label"))
    (d / "header_only.csv").write_text("text,label\n")
    (d / "pretty.jsonl").write_text('{\n  "text": "good", "label": "pos"\n}\n')
    (d / "not_a_record.tfrecord").write_text("text,label\ngood film,pos\n")
    (d / "model.pkl").write_bytes(b"\x80\x04K\x01.")
    with zipfile.ZipFile(d / "workbook.csv", "w") as z:
        z.writestr("sheet.xml", "<x/>")
    (d / "pair.csv").write_text("text,label\ngood,pos\nbad,neg\n")
    (d / "ner.jsonl").write_text(json.dumps({"tokens": ["EU", "rejects"],
                                             "labels": ["B-ORG", "O"]}) + "\n")
    not_checkpoint = d / "my-model"
    not_checkpoint.mkdir()
    (not_checkpoint / "config.json").write_text('{"model_type": "electra"}')
    return d


def _run(data, *args):
    return cli("run", "--output", data.parent / "out", *args)


# ------------------------------------------------------------------ mistakes, in a second


MISTAKES = {
    # name: (arguments, pieces of the one-line message)
    "flag typo": (["--epochz", "1"], ["unrecognized arguments: --epochz"]),
    "unknown --set key": (["--set", "train.epoch=1"], ["did you mean train.epochs?"]),
    "unknown --set section": (["--set", "trian.epochs=1"], ["did you mean train.epochs"]),
    "bad --set value": (["--set", "train.epochs=three"], ["train.epochs=three", "expected int"]),
    "out-of-range --set value": (["--set", "train.warmup_ratio=2"], ["train.warmup_ratio"]),
    "missing --train file": (["--train", "{d}/missing.csv"],
                             ["--train", "missing.csv does not exist", "reviews.csv"]),
    "missing --eval file": (["--train", "{d}/good.csv", "--eval", "{d}/nope.csv"],
                            ["--eval", "nope.csv does not exist"]),
    "unrecognised extension": (["--train", "{d}/model.pkl"], ["unrecognised extension"]),
    "a ZIP named .csv": (["--train", "{d}/workbook.csv"], ["ZIP archive", "export it as CSV"]),
    "header-only CSV": (["--train", "{d}/header_only.csv"], ["only the header row"]),
    "pretty-printed JSON": (["--train", "{d}/pretty.jsonl"], ["one complete JSON object per line"]),
    "not a TFRecord": (["--train", "{d}/not_a_record.tfrecord"], ["is it a TFRecord file?"]),
    "CSV without the text column": (["--train", "{d}/reviews.csv"],
                                    ["no column 'text'", "'review', 'label'", "--text-column"]),
    "wrong --label-column": (["--train", "{d}/reviews.csv", "--text-column", "review",
                              "--label-column", "stars"], ["no column 'stars'"]),
    "JSON Lines without the text key": (["--train", "{d}/reviews.jsonl"],
                                        ["no record has 'text'", "'label', 'review'"]),
    "text pair without its second column": (
        ["--train", "{d}/pair.csv", "--task", "text-pair-classification"],
        ["no column 'text_pair'"]),
    "token classification without tags": (
        ["--train", "{d}/ner.jsonl", "--task", "token-classification"],
        ["no record has 'tags'"]),
    "a folder that is not a checkpoint": (
        ["--train", "{d}/good.csv", "--checkpoint", "{d}/my-model"],
        ["not a usable ELECTRA checkpoint", "vocab.txt", "tf_model.h5"]),
    "a file as --checkpoint": (["--train", "{d}/good.csv", "--checkpoint", "{d}/good.csv"],
                               ["is a file, not a directory"]),
    "QA without the baseline its gate needs": (
        ["--task", "question-answering", "--set", "eval.simple_baseline=false"],
        ["eval.simple_baseline=false", "chance-level rule"]),
    # Offline (HF_HUB_OFFLINE=1, tests/conftest.py) and not in the HuggingFace cache.
    "a hub id that cannot be had": (
        ["--train", "{d}/good.csv", "--checkpoint", "nobody/no-such-electra"],
        ["could not load nobody/no-such-electra", "--checkpoint PATH", "--checkpoint auto"]),
    "MySQL metadata without its user": (
        ["--train", "{d}/good.csv", "--metadata-mysql", "db:3306/m"],
        ["--metadata-mysql", "ELECTRA_TFX_MYSQL_USER"]),
    "neither a folder nor a hub id": (["--train", "{d}/good.csv", "--checkpoint", "no/such/dir"],
                                      ["no such directory", "'scratch'"]),
}


@pytest.mark.parametrize("name", sorted(MISTAKES))
def test_mistake_is_reported_in_a_second_before_tensorflow(data, name):
    args, expected = MISTAKES[name]
    result = _run(data, *[a.format(d=data) for a in args])
    assert_one_line_error(result, *expected)


COMPILE_MISTAKES = {
    "missing --train file": (["--train", "{d}/missing.csv"], ["missing.csv does not exist"]),
    "CSV without the text column": (["--train", "{d}/reviews.csv"], ["no column 'text'"]),
    "a folder that is not a checkpoint": (
        ["--train", "{d}/good.csv", "--checkpoint", "{d}/my-model"],
        ["not a usable ELECTRA checkpoint"]),
}


@pytest.mark.parametrize("name", sorted(COMPILE_MISTAKES))
def test_compile_mistake_is_reported_in_a_second_before_tensorflow(data, name):
    args, expected = COMPILE_MISTAKES[name]
    result = cli("compile", "--image", "img", "--pipeline-root", "gs://b/root",
                 "--out", data.parent / "p.json", *[a.format(d=data) for a in args])
    assert_one_line_error(result, *expected)


def test_compile_leaves_remote_checkpoints_and_uncounted_data_to_the_cluster(data):
    """A checkpoint URI, and with --label-counts data paths that exist only where the pipeline
    runs, pass the checks (they are read on the cluster)."""
    from pipeline import cli as cli_module, precheck
    args = cli_module.build_parser().parse_args([
        "compile", "--image", "img", "--pipeline-root", "gs://b/root", "--out", "p.json",
        "--train", "/mnt/cluster-only/train.csv", "--checkpoint", "gs://b/electra"])
    cfg = cli_module.config_from_args(args)
    precheck.check(cfg, on_cluster=True, read_data=False)
    with pytest.raises(precheck.ERRORS, match="does not exist"):
        precheck.check(cfg, on_cluster=True)
    with pytest.raises(precheck.ERRORS, match="gs://b/electra"):
        precheck.check(cfg)  # a local run cannot read a checkpoint URI


def _checkpoint_dir(path: pathlib.Path) -> pathlib.Path:
    """What check_requested accepts as a checkpoint folder (the files' contents are not
    loaded by it)."""
    path.mkdir()
    (path / "config.json").write_text(json.dumps({"model_type": "electra", "vocab_size": 10}))
    (path / "vocab.txt").write_text("\n".join(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]))
    (path / "tf_model.h5").write_bytes(b"")
    return path


def test_good_input_passes_the_checks_without_tensorflow(data, tmp_path):
    """The checks let good data through: the embedded data, a CSV with its columns named, a
    folder, JSON Lines, a real checkpoint folder (checked in a fresh interpreter)."""
    checkpoint = _checkpoint_dir(tmp_path / "ckpt")
    code = f"""
import sys
import pipeline_config
from pipeline import precheck
cfg = pipeline_config.PipelineConfig()
cfg.model.checkpoint = 'auto'  # (the default, a hub id, is fetched: offline here)
precheck.check(cfg)
for train, text in [({str(data / 'reviews.csv')!r}, 'review'),
                    ({str(data / 'reviews.jsonl')!r}, 'review'),
                    ({str(data / 'good.csv')!r}, 'text')]:
    cfg.data.train, cfg.data.text_column = train, text
    cfg.model.checkpoint = {str(checkpoint)!r}
    precheck.check(cfg)
assert 'tensorflow' not in sys.modules
"""
    subprocess.run([sys.executable, "-c", code], check=True, cwd=REPO_ROOT,
                   env={**os.environ, "PYTHONPATH": str(REPO_ROOT)})


def test_a_large_jsonl_is_judged_on_its_first_records(tmp_path):
    """A JSON Lines file is not read to its end before TensorFlow loads: a missing key is
    reported from its first records, saying so."""
    from components.readers.errors import BadInputError
    from components.readers.head import HEAD_RECORDS, check_head
    path = fixtures.write_jsonl(tmp_path / "big.jsonl", _rows() * (HEAD_RECORDS // 10 + 1),
                                keys=("review", "label"))
    with pytest.raises(BadInputError, match=f"none of the first {HEAD_RECORDS:,} records has"):
        check_head(str(path), ["text", "label"])
    check_head(str(path), ["review", "label"])


# ------------------------------------------------------------------------------- help


def _subparsers():
    from pipeline import cli as cli_module
    parser = cli_module.build_parser()
    (sub,) = [a for a in parser._actions if a.__class__.__name__ == "_SubParsersAction"]
    return parser, sub.choices


def test_every_flag_has_help_and_at_most_one_default():
    _, commands = _subparsers()
    assert set(commands) == {"run", "compile", "runs", "report", "predict"}
    for command, parser in commands.items():
        formatter = parser.formatter_class(prog=parser.prog)
        for action in parser._actions:
            name = "/".join(action.option_strings) or action.dest
            assert action.help and action.help.strip(), f"{command} {name} has no help"
            shown = (formatter._get_help_string(action) if hasattr(formatter, "_get_help_string")
                     else action.help)
            assert shown.count("(default:") <= 1, f"{command} {name}: {shown}"
        text = parser.format_help()
        assert "(default: None)" not in text, text
        assert not re.search(r"\(default: [^)]*\) \(default:", text), text


def test_top_level_help_says_what_the_tool_does_and_shows_the_commands():
    result = cli("--help")
    assert result.code == 0
    description = result.out.split("\n\n")[1]
    assert description.startswith("electra-tfx fine-tunes an ELECTRA text model")
    assert description.count(". ") == 0, "one sentence"
    assert "electra-tfx run --checkpoint auto" in result.out  # what `make run` runs
    assert "electra-tfx run --train " in result.out
    assert "electra-tfx runs" in result.out and "electra-tfx report" in result.out
    assert_quick(result)


@pytest.mark.parametrize("command", ["run", "compile", "runs", "report", "predict"])
def test_help_of_every_command_loads_no_tensorflow(command):
    result = cli(command, "--help")
    assert result.code == 0 and "--output" in result.out
    assert_quick(result)


# ------------------------------------------------------------------- runs and report


def _store(path: pathlib.Path):
    from ml_metadata.metadata_store import metadata_store
    from ml_metadata.proto import metadata_store_pb2 as pb
    config = pb.ConnectionConfig()
    config.sqlite.filename_uri = str(path)
    config.sqlite.connection_mode = pb.SqliteMetadataSourceConfig.READWRITE_OPENCREATE
    return metadata_store.MetadataStore(config)


def fake_runs(output: pathlib.Path, train: str):
    """An ML Metadata store with four runs, built by hand (no pipeline): blessed, not blessed
    (the baseline rule), stopped by bad rows at TextExampleGen, failed in the Trainer."""
    from ml_metadata.proto import metadata_store_pb2 as pb
    output.mkdir(parents=True, exist_ok=True)
    store = _store(output / "metadata.sqlite")
    run_type = store.put_context_type(pb.ContextType(name="pipeline_run"))
    node_type = store.put_context_type(pb.ContextType(name="node"))
    execution_type = store.put_execution_type(pb.ExecutionType(name="component"))
    blessing_type = store.put_artifact_type(pb.ArtifactType(name="ModelBlessing"))
    nodes = {}

    def node(name):
        if name not in nodes:
            context = pb.Context(type_id=node_type, name=f"electra-tfx.{name}")
            [context.id] = store.put_contexts([context])
            nodes[name] = context
        return nodes[name]

    def run(run_id, states, blessing=None):
        run_context = pb.Context(type_id=run_type, name=run_id)
        [run_context.id] = store.put_contexts([run_context])
        for name, state in states:
            execution = pb.Execution(type_id=execution_type, last_known_state=state)
            if name == "TextExampleGen":
                execution.custom_properties["input_base"].string_value = os.path.dirname(train)
                execution.custom_properties["input_config"].string_value = json.dumps(
                    {"splits": [{"name": "single_split",
                                 "pattern": os.path.basename(train)}]})
            outputs = []
            if name == "blessing_gate" and blessing is not None:
                artifact = pb.Artifact(type_id=blessing_type, uri=str(output / "blessing"))
                artifact.custom_properties["blessed"].int_value = int(blessing[0])
                artifact.custom_properties["decided_by"].string_value = blessing[1]
                artifact.custom_properties["rules"].string_value = json.dumps([{
                    "rule": blessing[1], "applied": True, "passed": blessing[0], "detail": "",
                    "checks": [{"metric": "sparse_categorical_accuracy", "value": 0.8125}]}])
                outputs.append((artifact, pb.Event(type=pb.Event.OUTPUT)))
            store.put_execution(execution, outputs, [run_context, node(name)])
        time.sleep(0.01)  # runs are ordered by their creation time

    done, failed = pb.Execution.COMPLETE, pb.Execution.FAILED
    run("2024-05-01T10:00:00.000001", [("TextExampleGen", done), ("Trainer", done),
                                       ("blessing_gate", done)], (True, "all rules passed"))
    run("2024-05-02T10:00:00.000001", [("TextExampleGen", done), ("Trainer", done),
                                       ("blessing_gate", done)],
        (False, "beats the simple baseline"))
    run("2024-05-03T10:00:00.000001", [("TextExampleGen", failed)])
    run("2024-05-04T10:00:00.000001", [("TextExampleGen", done), ("Trainer", failed)])
    return ["2024-05-01T10:00:00.000001", "2024-05-02T10:00:00.000001",
            "2024-05-03T10:00:00.000001", "2024-05-04T10:00:00.000001"]


def test_runs_shows_each_runs_status_and_data_file_without_tensorflow(tmp_path):
    train = str(tmp_path / "data" / "reviews.csv")
    output = tmp_path / "out"
    ids = fake_runs(output, train)
    result = cli("runs", "--output", output)
    assert result.code == 0, result.err
    assert_quick(result)
    lines = result.out.splitlines()
    assert lines[0].split()[:3] == ["run", "started", "status"]
    rows = {line.split()[0]: line for line in lines[1:]}
    assert list(rows) == ids
    assert "  blessed  " in rows[ids[0]] and "accuracy 0.8125" in rows[ids[0]]
    assert "not blessed: beats the simple baseline" in rows[ids[1]]
    assert "stopped: bad input rows or files (TextExampleGen)" in rows[ids[2]]
    assert "failed at Trainer" in rows[ids[3]]
    assert all(train in row for row in rows.values()), result.out
    assert " – " not in rows[ids[3]].split("failed at Trainer")[0]


def test_runs_on_a_folder_without_runs_is_quick_and_says_what_to_pass(tmp_path):
    result = cli("runs", "--output", tmp_path / "nothing")
    assert_one_line_error(result, "no runs in", "pass the --output of `electra-tfx run`")


def test_report_out_writes_the_report_elsewhere_without_tensorflow(tmp_path):
    """A run whose report the pipeline wrote: `report RUN --out DIR` copies the page and the
    files it links to DIR, and leaves the run's folder as it was."""
    from pipeline.report import html_report
    from tests.test_report import full_run
    output = tmp_path / "out"
    ids = fake_runs(output, str(tmp_path / "reviews.csv"))
    data = full_run(ids[1])
    page = pathlib.Path(html_report.write_report(data, str(output), latest=True))
    before = sorted((p.name, p.stat().st_mtime) for p in page.parent.iterdir())
    out = tmp_path / "elsewhere"

    result = cli("report", ids[1], "--output", output, "--out", out)
    assert result.code == 0, result.err
    assert_quick(result)
    assert f"Run {ids[1]}" in result.out
    assert f"Report: {out / 'index.html'}" in result.out
    html = (out / "index.html").read_text()
    linked = set(re.findall(r'src="([^":]+)"', html))
    assert linked and all((out / name).is_file() for name in linked), linked
    assert sorted((p.name, p.stat().st_mtime) for p in page.parent.iterdir()) == before

    # The latest run by default; --run as before.
    assert cli("report", "--output", output, "--run", ids[1]).code == 0
    result = cli("report", "no-such-run", "--output", output)
    assert_one_line_error(result, "no run 'no-such-run'")


def _write_tfrecord(path: pathlib.Path, rows, keys, options=None) -> pathlib.Path:
    import tensorflow as tf  # in the test process only: the CLI's checks must not need it
    with tf.io.TFRecordWriter(str(path), options=options) as writer:
        for row in rows:
            writer.write(tf.train.Example(features=tf.train.Features(feature={
                key: tf.train.Feature(bytes_list=tf.train.BytesList(value=[value.encode()]))
                for key, value in zip(keys, row)})).SerializeToString())
    return path


def test_tfrecord_columns_are_checked_before_tensorflow(data):
    reviews = _write_tfrecord(data / "reviews.tfrecord", _rows(), ("review", "label"))
    result = _run(data, "--train", reviews)
    assert_one_line_error(result, "no record has 'text'", "'label', 'review'", "--text-column")


def test_tfrecord_heads_are_read_without_tensorflow(data):
    from components.readers.errors import BadInputError
    from components.readers.head import check_head
    good = _write_tfrecord(data / "good.tfrecord.gz", _rows(), ("text", "label"), "GZIP")
    check_head(str(good), ["text", "label"])
    with pytest.raises(BadInputError, match="no record has 'tags'"):
        check_head(str(good), ["text", "tags"])
    # An empty value is no value: a column that is always empty is missing.
    empty = data / "empty_label.tfrecord"
    import tensorflow as tf
    with tf.io.TFRecordWriter(str(empty)) as writer:  # label as an empty BytesList
        writer.write(tf.train.Example(features=tf.train.Features(feature={
            "text": tf.train.Feature(bytes_list=tf.train.BytesList(value=[b"good"])),
            "label": tf.train.Feature(bytes_list=tf.train.BytesList(value=[]))}))
            .SerializeToString())
    with pytest.raises(BadInputError, match="no record has 'label'"):
        check_head(str(empty), ["text", "label"])
    with tf.io.TFRecordWriter(str(data / "junk.tfrecord")) as writer:
        writer.write(b"\xff\xff\xff")  # framed correctly, but not a serialized message
    with pytest.raises(BadInputError, match="not a tf.train.Example"):
        check_head(str(data / "junk.tfrecord"), ["text"])


def test_a_tfrecord_head_stops_at_a_corrupt_later_record(data):
    """Only the first record must fit: a broken one later ends the head (the pipeline's reader
    reports it), a broken gzip stream is a one-line error, neither a traceback."""
    import gzip
    from components.readers.errors import BadInputError
    from components.readers.head import check_head, tfrecord_keys
    good = _write_tfrecord(data / "two.tfrecord", _rows(2), ("text", "label")).read_bytes()
    broken = data / "broken_tail.tfrecord"
    broken.write_bytes(good + b"\xff" * 8 + b"\0" * 8)  # a length of 2**64 - 1, then nothing
    assert tfrecord_keys(str(broken), False) == ({"text", "label"}, 2, True)
    check_head(str(broken), ["text", "label"])
    cut = data / "cut.tfrecord.gz"
    cut.write_bytes(gzip.compress(good * 50)[:-30])
    with pytest.raises(BadInputError, match="cannot decompress the gzip data"):
        check_head(str(cut), ["text"])
