"""TextExampleGen: input resolution, the per-format readers, and a few real pipeline runs."""
import glob
import gzip
import json
import os
import pickle

import pytest
import tensorflow as tf
from ml_metadata.metadata_store import metadata_store
from tfx import v1 as tfx

from pipeline.runner import run_locally
from components.text_example_gen import (
    BadInputError,
    InputError,
    TextExampleGen,
    read_csv,
    read_file,
    read_jsonl,
    read_tfrecord,
    resolve_inputs,
)

BEAM_ARGS = ["--direct_running_mode=in_memory", "--direct_num_workers=1"]


# ------------------------------------------------------------------------------ helpers


def write(path, text):
    """Writes str (as UTF-8, gzipped for *.gz) or bytes to `path`; returns it as a str."""
    os.makedirs(os.path.dirname(path), exist_ok=True)
    data = text if isinstance(text, bytes) else text.encode("utf-8")
    with (gzip.open if str(path).endswith(".gz") else open)(path, "wb") as f:
        f.write(data)
    return str(path)


def jsonl(records):
    return "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records)


def write_tfrecord(path, examples, compressed=False):
    options = tf.io.TFRecordOptions(compression_type="GZIP" if compressed else "")
    with tf.io.TFRecordWriter(str(path), options) as writer:
        for example in examples:
            writer.write(example.SerializeToString())
    return str(path)


def make_example(text, label):
    example = tf.train.Example()
    example.features.feature["text"].bytes_list.value.append(text.encode())
    example.features.feature["label"].int64_list.value.append(label)
    return example


def value(example, name):
    """The values of one feature as a Python list (bytes decoded); None when it is absent."""
    if name not in example.features.feature:
        return None
    feature = example.features.feature[name]
    kind = feature.WhichOneof("kind")
    values = list(getattr(feature, kind).value)
    return [v.decode() for v in values] if kind == "bytes_list" else values


def run_example_gen(root, spec):
    """Runs a pipeline holding only TextExampleGen; returns {split: [tf.train.Example]}."""
    root = str(root)
    connection = tfx.orchestration.metadata.sqlite_metadata_connection_config(
        os.path.join(root, "metadata.sqlite"))
    example_gen = TextExampleGen(input_base=spec.input_base, input_config=spec.input_config,
                                 output_config=spec.output_config)
    pipeline = tfx.dsl.Pipeline(
        pipeline_name="text_example_gen_test", pipeline_root=os.path.join(root, "pipeline"),
        components=[example_gen], metadata_connection_config=connection,
        beam_pipeline_args=BEAM_ARGS)
    run_locally(pipeline)

    [artifact] = metadata_store.MetadataStore(connection).get_artifacts_by_type("Examples")
    split_names = json.loads(artifact.properties["split_names"].string_value)
    splits = {}
    for split in split_names:
        files = sorted(glob.glob(os.path.join(artifact.uri, f"Split-{split}", "*.gz")))
        assert files, f"no output under {artifact.uri}/Split-{split}: {os.listdir(artifact.uri)}"
        splits[split] = [tf.train.Example.FromString(r.numpy())
                         for r in tf.data.TFRecordDataset(files, compression_type="GZIP")]
    return splits


def by_text(examples):
    return {value(e, "text")[0]: e for e in examples}


# -------------------------------------------------------------------- resolve_inputs


def test_single_file_gets_a_hash_split(tmp_path):
    path = write(tmp_path / "data" / "train.csv", "text,label\na,1\n")
    spec = resolve_inputs(path)
    assert spec.input_base == str(tmp_path / "data")
    assert [(s.name, s.pattern) for s in spec.input_config.splits] == [
        ("single_split", "train.csv")]
    assert [(s.name, s.hash_buckets) for s in spec.output_config.split_config.splits] == [
        ("train", 4), ("eval", 1)]
    assert spec.train_files == (path,)
    buckets = [s.hash_buckets for s in resolve_inputs(path, eval_percent=15)
               .output_config.split_config.splits]
    assert buckets == [17, 3]
    for bad in (0, 100, -5):
        with pytest.raises(ValueError, match="eval_percent"):
            resolve_inputs(path, eval_percent=bad)


def test_folder_and_glob_inputs(tmp_path):
    data = tmp_path / "data"
    a = write(data / "a.csv", "text\nx\n")
    b = write(data / "b.jsonl.gz", jsonl([{"text": "y"}]))
    write(data / "README.md", "# not data\n")
    os.makedirs(data / "sub")
    write(data / "sub" / "c.csv", "text\nz\n")

    spec = resolve_inputs(str(data))
    assert spec.input_base == str(data)
    assert spec.input_config.splits[0].pattern == "*"
    assert spec.train_files == (a, b)

    spec = resolve_inputs(str(data / "*.csv"))
    assert (spec.input_base, spec.input_config.splits[0].pattern) == (str(data), "*.csv")
    assert spec.train_files == (a,)

    spec = resolve_inputs(str(data / "s*" / "*.csv"))
    assert (spec.input_base, spec.input_config.splits[0].pattern) == (str(data), "s*/*.csv")
    assert spec.train_files == (str(data / "sub" / "c.csv"),)


def test_train_and_eval_patterns_are_relative_to_a_common_base(tmp_path):
    train = write(tmp_path / "d" / "train [v2]" / "part[1].csv", "text\nx\n")
    evals = [write(tmp_path / "d" / "held out" / f"e{i}.jsonl", jsonl([{"text": "y"}]))
             for i in (1, 2)]
    spec = resolve_inputs(train, str(tmp_path / "d" / "held out" / "*.jsonl"))
    assert spec.input_base == str(tmp_path / "d")
    assert [s.name for s in spec.input_config.splits] == ["train", "eval"]
    assert not spec.output_config.split_config.splits
    # The patterns match exactly the files named (the [ in the names are escaped).
    matched = [sorted(tf.io.gfile.glob(os.path.join(spec.input_base, s.pattern)))
               for s in spec.input_config.splits]
    assert matched == [[train], evals]
    assert (spec.train_files, spec.eval_files) == ((train,), tuple(evals))


def test_input_errors_name_the_path_and_what_exists(tmp_path):
    write(tmp_path / "data" / "train.csv", "text\nx\n")
    write(tmp_path / "data" / "notes.txt", "hello\n")

    with pytest.raises(InputError,
                       match=r"trian\.csv does not exist.*holds: notes\.txt, train\.csv"):
        resolve_inputs(str(tmp_path / "data" / "trian.csv"))
    with pytest.raises(InputError, match=r"--eval .*nowhere.*does not exist"):
        resolve_inputs(str(tmp_path / "data"), str(tmp_path / "nowhere" / "x.csv"))
    with pytest.raises(InputError, match=r"\*\.jsonl matches no file.*holds: notes\.txt"):
        resolve_inputs(str(tmp_path / "data" / "*.jsonl"))
    with pytest.raises(InputError, match=r"\*\.txt matches no file with a recognised .*notes\.txt"):
        resolve_inputs(str(tmp_path / "data" / "*.txt"))
    with pytest.raises(InputError, match=r"notes\.txt has an unrecognised extension"):
        resolve_inputs(str(tmp_path / "data" / "notes.txt"))
    os.makedirs(tmp_path / "docs")
    write(tmp_path / "docs" / "README.md", "# hi\n")
    with pytest.raises(InputError, match=r"folder .*docs holds no file .*holds: README\.md"):
        resolve_inputs(str(tmp_path / "docs"))
    # A file in both --train (a folder) and --eval would leak eval data into training.
    with pytest.raises(InputError, match=r"both match train\.csv"):
        resolve_inputs(str(tmp_path / "data"), str(tmp_path / "data" / "train.csv"))


# ------------------------------------------------------------------------------ readers


def test_csv_reader_handles_quoting_newlines_unicode_and_empty_cells(tmp_path):
    path = write(tmp_path / "a.csv",
                 '\ufefftext,label\r\n'
                 '"Hello, world",pos\r\n'
                 '"two\nlines, ""quoted""",neg\r\n'
                 'naïve café 日本,\r\n'
                 '\r\n')
    examples = list(read_csv(path))
    assert [value(e, "text") for e in examples] == [
        ["Hello, world"], ['two\nlines, "quoted"'], ["naïve café 日本"]]
    assert [value(e, "label") for e in examples] == [["pos"], ["neg"], None]
    assert "label" not in examples[2].features.feature

    tsv = write(tmp_path / "b.tsv.gz", "text\tlabel\nx, y\t1\n")
    [example] = read_file(tsv)
    assert (value(example, "text"), value(example, "label")) == (["x, y"], ["1"])


def test_csv_row_with_the_wrong_column_count(tmp_path):
    path = write(tmp_path / "a.csv", 'text,label\n"multi\nline",1\n"bad, row",1,extra\n')
    with pytest.raises(BadInputError) as info:
        list(read_csv(path))
    error = info.value
    assert (error.file, error.line, error.unit) == (path, 3, "row")
    assert str(error) == (f"{path} row 3: 3 fields but the header has 2 "
                          "(the row starts at line 4): ['bad, row', '1', 'extra']")

    with pytest.raises(BadInputError, match=r"row 2: a quoted field is never closed"):
        list(read_csv(write(tmp_path / "b.csv", 'text,label\n"never closed,1\nx,2\n')))
    with pytest.raises(BadInputError, match=r"row 1: the header names 'a' more than once"):
        list(read_csv(write(tmp_path / "c.csv", "a,a\n1,2\n")))
    with pytest.raises(BadInputError, match=r"c\.csv line 2: not UTF-8 text"):
        list(read_csv(write(tmp_path / "c.csv", b"text\n\xff\xfe\n")))


def test_jsonl_reader_types(tmp_path):
    path = write(tmp_path / "a.json", jsonl([
        {"text": "hello", "label": 1, "label_name": "positive", "score": 0.5, "flag": True,
         "tags": ["a", "b"], "ids": [1, 2], "mixed": [1, 2.5], "missing": None, "empty": []},
        {"text": "ünïcödé", "label": -3, "label_name": "negative"},
    ]) + "\n   \n")
    first, second = read_jsonl(path)
    assert value(first, "text") == ["hello"]
    assert value(first, "label") == [1]
    assert value(first, "label_name") == ["positive"]
    assert value(first, "score") == [0.5]
    assert value(first, "flag") == [1]
    assert value(first, "tags") == ["a", "b"]
    assert value(first, "ids") == [1, 2]
    assert value(first, "mixed") == [1.0, 2.5]
    assert "missing" not in first.features.feature and "empty" not in first.features.feature
    assert (value(second, "text"), value(second, "label")) == (["ünïcödé"], [-3])


def test_jsonl_malformed_lines(tmp_path):
    good = json.dumps({"text": "x", "label": 1})
    path = write(tmp_path / "x.jsonl", f"{good}\n\n{good}\n{{\"text\": \"y\", \"label\": 1\n")
    with pytest.raises(BadInputError) as info:
        list(read_jsonl(path))
    assert (info.value.file, info.value.line) == (path, 4)
    assert str(info.value).startswith(f"{path} line 4: invalid JSON (")
    assert '{"text": "y", "label": 1' in str(info.value)

    with pytest.raises(BadInputError, match=r"line 2: not a JSON object: \[1, 2\]"):
        list(read_jsonl(write(tmp_path / "y.jsonl", f"{good}\n[1, 2]\n")))
    with pytest.raises(BadInputError, match=r"line 1: key 'meta': nested objects"):
        list(read_jsonl(write(tmp_path / "z.jsonl", '{"meta": {"a": 1}}\n')))
    with pytest.raises(BadInputError, match=r"line 1: key 'l': a list mixes strings and numbers"):
        list(read_jsonl(write(tmp_path / "z.jsonl", '{"l": ["a", 1]}\n')))
    with pytest.raises(BadInputError, match=r"one complete JSON object per line"):
        list(read_jsonl(write(tmp_path / "p.json", '[\n  {"text": "x"}\n]\n')))


def test_tfrecord_reader_and_error_pickling(tmp_path):
    examples = [make_example("a", 0), make_example("b", 1)]
    for name, compressed in (("x.tfrecord", False), ("x.tfrecord.gz", True)):
        path = write_tfrecord(tmp_path / name, examples, compressed)
        assert list(read_file(path)) == examples
    with pytest.raises(BadInputError, match=r"y\.tfrecord record 1: corrupt TFRecord data"):
        list(read_tfrecord(write(tmp_path / "y.tfrecord", "text,label\nnot,a record\n")))

    error = pickle.loads(pickle.dumps(BadInputError("a.csv", 5, "3 fields", unit="row")))
    assert (error.file, error.line, error.unit) == ("a.csv", 5, "row")
    assert str(error) == "a.csv row 5: 3 fields"


# --------------------------------------------------------------- pipeline runs (slow-ish)


def test_csv_hash_split_is_about_20_percent_and_deterministic(tmp_path):
    rows = ['"Hello, world",1', '"first line\nsecond line",0', "naïve café 日本 🙂,1"]
    rows += [f"sentence number {i},{i % 2}" for i in range(197)]
    path = write(tmp_path / "data" / "train.csv", "text,label\n" + "\n".join(rows) + "\n")
    spec = resolve_inputs(path)

    first = run_example_gen(tmp_path / "run1", spec)
    assert set(first) == {"train", "eval"}
    texts = {split: set(by_text(examples)) for split, examples in first.items()}
    assert not texts["train"] & texts["eval"]
    assert len(texts["train"]) + len(texts["eval"]) == 200
    assert 0.12 <= len(texts["eval"]) / 200 <= 0.28

    examples = by_text(first["train"] + first["eval"])
    assert value(examples["Hello, world"], "label") == ["1"]
    assert value(examples["first line\nsecond line"], "label") == ["0"]
    assert value(examples["naïve café 日本 🙂"], "label") == ["1"]

    second = run_example_gen(tmp_path / "run2", spec)
    assert {split: set(by_text(examples)) for split, examples in second.items()} == texts


def test_jsonl_folder_train_and_glob_eval(tmp_path):
    train = [{"text": f"train {i}", "label": i % 3, "label_name": ["neg", "neu", "pos"][i % 3]}
             for i in range(12)]
    write(tmp_path / "train" / "part-0.jsonl", jsonl(train[:5]))
    write(tmp_path / "train" / "part-1.jsonl.gz", jsonl(train[5:]))
    write(tmp_path / "train" / "README.md", "# The training data\n")
    evals = [{"text": f"eval {i}", "label": 1, "label_name": "neu"} for i in range(4)]
    write(tmp_path / "eval" / "eval.jsonl", jsonl(evals))
    write(tmp_path / "eval" / "notes.txt", "not data\n")

    splits = run_example_gen(tmp_path / "run",
                             resolve_inputs(str(tmp_path / "train"), str(tmp_path / "eval" / "*")))
    assert set(splits) == {"train", "eval"}
    for split, expected in (("train", train), ("eval", evals)):
        got = sorted(({name: value(e, name)[0] for name in ("text", "label", "label_name")}
                      for e in splits[split]), key=lambda r: r["text"])
        assert got == sorted(expected, key=lambda r: r["text"])


def test_tfrecord_train_and_eval(tmp_path):
    train = [make_example(f"train {i}", i % 2) for i in range(10)]
    evals = [make_example(f"eval {i}", 1) for i in range(3)]
    spec = resolve_inputs(write_tfrecord(tmp_path / "train.tfrecord", train),
                          write_tfrecord(tmp_path / "eval.tfrecord.gz", evals, compressed=True))
    splits = run_example_gen(tmp_path / "run", spec)
    key = lambda e: e.SerializeToString(deterministic=True)  # noqa: E731
    assert sorted(splits["train"], key=key) == sorted(train, key=key)
    assert sorted(splits["eval"], key=key) == sorted(evals, key=key)


def test_bad_input_error_comes_out_of_the_pipeline(tmp_path):
    path = write(tmp_path / "data" / "x.jsonl", '{"text": "a"}\n{"text": oops}\n')
    with pytest.raises(BadInputError) as info:
        run_example_gen(tmp_path / "run", resolve_inputs(path))
    assert str(info.value).startswith(f"{path} line 2: invalid JSON")


def test_example_gen_reads_a_non_posix_uri(tmp_path):
    """Input on ram:// (TensorFlow's in-memory file system, as an object store: no folders of
    its own), spelled out without listing as `compile --label-counts` does, read by the
    ExampleGen through tf.io.gfile."""
    from components.input_files import unlisted_inputs
    from tests import fixtures
    local = fixtures.write_csv(tmp_path / "train.csv", fixtures.sentiment_rows(20))
    base = f"ram://{tmp_path.name}/data"
    tf.io.gfile.makedirs(base)
    tf.io.gfile.copy(str(local), f"{base}/train.csv")
    spec = unlisted_inputs(f"{base}/", eval_percent=20)
    assert resolve_inputs(f"{base}/").input_config == spec.input_config
    splits = run_example_gen(tmp_path / "run", spec)
    assert sum(len(v) for v in splits.values()) == 20
