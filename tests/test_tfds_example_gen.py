"""TfdsExampleGen: `--train tfds:NAME[/CONFIG][:SPLIT]`, with TFDS mocked (no downloads).

tfds.testing.mock_data patches TFDS in this process; LocalDagRunner runs the ExampleGen's Beam
pipeline in process (DirectRunner, in memory), so the component itself reads the mock.
"""
import glob
import json
import os

import pytest
import tensorflow as tf
import tensorflow_datasets as tfds

from components import tfds_example_gen
from components.input_files import InputError
from pipeline import data_scan
from tests import fixtures

# imdb_reviews: 0 neg, 1 pos. Enough distinct texts that SchemaGen infers no domain for them.
ROWS = fixtures.sentiment_rows(160, seed=7, label_names=(0, 1))


def imdb_as_dataset(self, split, **kwargs):
    """Deterministic imdb_reviews-shaped examples: text and a ClassLabel int."""
    del self, split, kwargs
    return tf.data.Dataset.from_tensor_slices({
        "text": [t.encode() for t, _ in ROWS],
        "label": tf.constant([y for _, y in ROWS], tf.int64)})


@pytest.fixture
def mock_imdb(tmp_path):
    with tfds.testing.mock_data(as_dataset_fn=imdb_as_dataset, data_dir=str(tmp_path / "tfds")):
        yield str(tmp_path / "tfds")


def _value(example, name):
    feature = example.features.feature[name]
    values = getattr(feature, feature.WhichOneof("kind")).value
    return [v.decode() if isinstance(v, bytes) else v for v in values]


@pytest.mark.parametrize("value, default, name, split", [
    ("tfds:imdb_reviews", "train", "imdb_reviews", "train"),
    ("tfds:glue/sst2:validation", "train", "glue/sst2", "validation"),
    ("tfds:imdb_reviews:train[:10%]", "test", "imdb_reviews", "train[:10%]"),
    ("tfds:glue/sst2", "test", "glue/sst2", "test"),
])
def test_source_names_dataset_config_and_split(value, default, name, split):
    source = tfds_example_gen.parse_source(value, default, "gs://b/tfds")
    assert (source.name, source.split, source.data_dir) == (name, split, "gs://b/tfds")
    assert tfds_example_gen.TfdsSource.from_pattern(source.to_pattern()) == source


@pytest.mark.parametrize("value", ["tfds:", "tfds:Bad Name", "tfds:../x", "imdb_reviews"])
def test_bad_sources_are_input_errors(value):
    with pytest.raises(InputError, match="tfds:NAME"):
        tfds_example_gen.parse_source(value, "train")


def test_input_configs_hash_split_or_two_splits():
    single, output = tfds_example_gen.input_configs("tfds:imdb_reviews", None, 20)
    assert [s.name for s in single.splits] == ["single_split"]
    assert [(s.name, s.hash_buckets) for s in output.split_config.splits] == [("train", 4),
                                                                              ("eval", 1)]
    both, output = tfds_example_gen.input_configs("tfds:glue/sst2", "tfds:glue/sst2:validation",
                                                  20)
    patterns = {s.name: json.loads(s.pattern)["split"] for s in both.splits}
    assert patterns == {"train": "train", "eval": "validation"} and not output.split_config.splits
    with pytest.raises(InputError, match="--eval must be a TFDS source"):
        tfds_example_gen.input_configs("tfds:imdb_reviews", "eval.csv", 20)


def test_class_labels_become_their_names(mock_imdb):
    source = tfds_example_gen.parse_source("tfds:imdb_reviews", "train", mock_imdb)
    examples = list(tfds_example_gen.read_examples(source))
    assert [(_value(e, "text")[0], _value(e, "label")[0]) for e in examples] == [
        (t, ["neg", "pos"][y]) for t, y in ROWS]


def test_glue_features_and_missing_labels(tmp_path):
    def as_dataset(self, split, **kwargs):
        return tf.data.Dataset.from_tensor_slices({
            "sentence": [b"a fine film", b"unlabelled test row"],
            "label": tf.constant([1, -1], tf.int64), "idx": tf.constant([7, 8], tf.int32)})
    with tfds.testing.mock_data(as_dataset_fn=as_dataset, data_dir=str(tmp_path)):
        first, second = tfds_example_gen.read_examples(
            tfds_example_gen.parse_source("tfds:glue/sst2:test", "train", str(tmp_path)))
    assert _value(first, "label") == ["positive"] and _value(first, "idx") == [7]
    assert _value(first, "sentence") == ["a fine film"]
    assert "label" not in second.features.feature  # TFDS' -1: no label


def test_the_data_scan_counts_label_names(mock_imdb):
    scan = data_scan.scan("tfds:imdb_reviews", ["text"], "label", tfds_data_dir=mock_imdb)
    assert scan.label_counts == {"neg": 80, "pos": 80} and scan.num_examples == 160
    with pytest.raises(data_scan.DataError, match="no column 'sentence'"):
        data_scan.scan("tfds:imdb_reviews", ["sentence"], "label", tfds_data_dir=mock_imdb)


def test_the_component_writes_train_and_eval_splits(mock_imdb, tmp_path):
    from ml_metadata.metadata_store import metadata_store
    from tfx import v1 as tfx

    from pipeline.runner import run_locally

    connection = tfx.orchestration.metadata.sqlite_metadata_connection_config(
        str(tmp_path / "metadata.sqlite"))
    example_gen = tfds_example_gen.TfdsExampleGen(*tfds_example_gen.input_configs(
        "tfds:imdb_reviews", None, 25, mock_imdb))
    run_locally(tfx.dsl.Pipeline(
        pipeline_name="tfds_example_gen_test", pipeline_root=str(tmp_path / "root"),
        components=[example_gen], metadata_connection_config=connection,
        beam_pipeline_args=["--direct_running_mode=in_memory", "--direct_num_workers=1"]))
    [artifact] = metadata_store.MetadataStore(connection).get_artifacts_by_type("Examples")
    splits = {}
    for split in json.loads(artifact.properties["split_names"].string_value):
        files = glob.glob(os.path.join(artifact.uri, f"Split-{split}", "*.gz"))
        splits[split] = [tf.train.Example.FromString(r.numpy())
                         for r in tf.data.TFRecordDataset(files, compression_type="GZIP")]
    assert set(splits) == {"train", "eval"}
    assert len(splits["train"]) + len(splits["eval"]) == len(ROWS) and splits["eval"]
    texts = {t: ["neg", "pos"][y] for t, y in ROWS}
    for example in splits["train"] + splits["eval"]:
        assert texts[_value(example, "text")[0]] == _value(example, "label")[0]
    # The data scan sends the same examples to the eval split.
    scan = data_scan.scan("tfds:imdb_reviews", ["text"], "label", single_label=True,
                          tfds_data_dir=mock_imdb, eval_percent=25)
    written = {}
    for example in splits["eval"]:
        written[_value(example, "label")[0]] = written.get(_value(example, "label")[0], 0) + 1
    assert scan.eval_label_counts == written and scan.eval_num_examples == len(splits["eval"])


@pytest.mark.slow
def test_a_tfds_run_goes_through_the_whole_pipeline(mock_imdb, tmp_path):
    """`run --train tfds:imdb_reviews` with the mock, in process: every component runs, the
    Evaluator sees the ClassLabel names, and the Trainer runs under MirroredStrategy."""
    from pipeline import cli, runner
    from trainer.checkpoint import build_scratch_checkpoint
    import pipeline_config

    model = pipeline_config.ModelConfig(scratch_vocab_size=200, scratch_hidden_size=32,
                                        scratch_num_layers=1, scratch_num_heads=2,
                                        scratch_intermediate_size=64)
    checkpoint = build_scratch_checkpoint([t for t, _ in ROWS], str(tmp_path / "ckpt"), model)
    parser = cli.argparse.ArgumentParser()
    cli._add_run_parser(parser.add_subparsers(dest="command"))
    cfg = cli.config_from_args(parser.parse_args([
        "run", "--train", "tfds:imdb_reviews", "--tfds-data-dir", mock_imdb,
        "--checkpoint", checkpoint, "--output", str(tmp_path / "out"), "--epochs", "2",
        "--batch-size", "16", "--learning-rate", "1e-3", "--max-seq-length", "16",
        "--set", "train.strategy=mirrored", "--set", "train.bucket_boundaries=8"]))
    record, _, scan, _ = runner.run_pipeline(cfg)
    assert scan.label_counts == {"neg": 80, "pos": 80}
    for component in ("TfdsExampleGen", "StatisticsGen", "SchemaGen", "ExampleValidator",
                      "Transform", "Trainer", "Evaluator", "Pusher"):
        assert record.state_of(component) == "ran", (component, record.components)
    assert sum(record.split_counts.values()) >= len(ROWS)
    assert "sparse_categorical_accuracy" in record.candidate_metrics, record.candidate_metrics
