"""preprocessing_fn under tf.Transform: token ids equal the checkpoint's HF tokenizer, labels
become ids from a vocabulary learned on the data."""
import tempfile

import pytest
import tensorflow as tf
import tensorflow_transform as tft
import tensorflow_transform.beam as tft_beam
from tensorflow_transform.tf_metadata import dataset_metadata, schema_utils

import pipeline_config
from tests import fixtures
from trainer.preprocessing import preprocessing_fn
from trainer.run_context import RunContext

TEXTS = ["Great phone, works perfectly!", "The battery died after   two days...",
         "Naïve café owners — ÉMOJI 😀 and 中文 too", "", "word " * 80]


@pytest.fixture(scope="module")
def tiny_checkpoint(tmp_path_factory):
    from trainer.checkpoint import build_scratch_checkpoint
    config = pipeline_config.ModelConfig(scratch_vocab_size=300, scratch_hidden_size=16,
                                         scratch_num_layers=1, scratch_num_heads=2,
                                         scratch_intermediate_size=32)
    texts = [t for t, _ in fixtures.sentiment_rows(200)] + TEXTS
    return build_scratch_checkpoint(texts, str(tmp_path_factory.mktemp("c") / "ckpt"), config)


def _transform(rows, label_dtype, checkpoint_dir, max_seq_length=16):
    cfg = pipeline_config.PipelineConfig()
    cfg.model.max_seq_length = max_seq_length
    context = RunContext(config=cfg, checkpoint_dir=checkpoint_dir, lower_case=True)
    custom_config = context.to_custom_config()
    feature_spec = {"text": tf.io.FixedLenFeature([], tf.string),
                    "label": tf.io.FixedLenFeature([], label_dtype)}
    metadata = dataset_metadata.DatasetMetadata(schema_utils.schema_from_feature_spec(feature_spec))
    with tft_beam.Context(temp_dir=tempfile.mkdtemp(), force_tf_compat_v1=False):
        (transformed, transformed_metadata), transform_fn = (
            (rows, metadata) | tft_beam.AnalyzeAndTransformDataset(
                lambda inputs: preprocessing_fn(inputs, custom_config)))
    return transformed, transformed_metadata


def _unusual_texts():
    """Emoji, CJK, right-to-left (tests/data/bad/unusual_texts.jsonl, read with the bad-row
    checks, which keep them) and a 204,000-character text."""
    from components.bad_rows import RowChecks
    from components.text_example_gen import read_rows
    from tests.conftest import REPO_ROOT
    path = REPO_ROOT / "tests" / "data" / "bad" / "unusual_texts.jsonl"
    examples = list(read_rows(str(path), RowChecks(text_columns=["text"], label_column="label")))
    texts = [e.features.feature["text"].bytes_list.value[0].decode() for e in examples]
    assert len(texts) == 6
    return texts + ["great phone " * 17_000]


def test_ids_match_the_checkpoint_tokenizer(tiny_checkpoint):
    from transformers import ElectraTokenizerFast
    texts = TEXTS + _unusual_texts()
    rows = [{"text": t, "label": "pos" if i % 2 else "neg"} for i, t in enumerate(texts)]
    transformed, metadata = _transform(rows, tf.string, tiny_checkpoint)
    hf = ElectraTokenizerFast.from_pretrained(tiny_checkpoint)
    expected = hf(texts, truncation=True, max_length=16)["input_ids"]
    assert [list(r["input_ids"]) for r in transformed] == expected
    # Unusual texts are kept (one output per input) and cut to max_seq_length.
    assert len(expected[-1]) == 16 and expected[-1][-1] == hf.sep_token_id
    for row, ids in zip(transformed, expected):
        assert list(row["attention_mask"]) == [1] * len(ids)
        assert list(row["token_type_ids"]) == [0] * len(ids)
    # Variable-length outputs: padding happens per batch in the trainer, not here.
    spec = metadata.schema and schema_utils.schema_as_feature_spec(metadata.schema).feature_spec
    assert isinstance(spec["input_ids"], tf.io.VarLenFeature)


def test_string_and_integer_labels_get_vocabulary_ids(tiny_checkpoint):
    rows = [{"text": "a", "label": "pos"}, {"text": "b", "label": "neg"},
            {"text": "c", "label": "pos"}, {"text": "d", "label": " pos "}]
    transformed, _ = _transform(rows, tf.string, tiny_checkpoint)
    ids = [int(r["label_id"]) for r in transformed]
    # Frequency order: 'pos' (3, after stripping spaces) gets 0, 'neg' gets 1.
    assert ids == [0, 1, 0, 0]
    int_rows = [{"text": "a", "label": 7}, {"text": "b", "label": 3}, {"text": "c", "label": 7}]
    transformed, _ = _transform(int_rows, tf.int64, tiny_checkpoint)
    assert [int(r["label_id"]) for r in transformed] == [0, 1, 0]


def test_dense_strings_handles_every_raw_shape():
    from trainer.features import dense_strings
    as_list = lambda t: [v.decode() for v in t.numpy()]
    assert as_list(dense_strings(tf.constant([[3], [4]], tf.int64))) == ["3", "4"]
    assert as_list(dense_strings(tf.constant(["a", "b"]))) == ["a", "b"]
    sparse = tf.SparseTensor([[0, 0], [2, 0]], tf.constant([5, 6], tf.int64), [3, 1])
    assert as_list(dense_strings(sparse)) == ["5", "", "6"]
    ragged = tf.ragged.constant([["x"], [], ["z"]])
    assert as_list(dense_strings(ragged)) == ["x", "", "z"]
    assert as_list(dense_strings(tf.zeros([2, 0], tf.string))) == ["", ""]

