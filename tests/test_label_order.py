"""Label ids in natural order, stable across runs (trainer/label_order.py).

Transform's label vocabulary used to be learned by frequency: with labels 0/1 the model answered
id 0 for "1" when "1" was the more frequent, and the ids moved when the counts changed. Now the
label set known before the run (declared with --labels, else scanned) is reserved in natural
order at the start of the vocabulary.
"""
import pytest
import tensorflow as tf

import pipeline_config
from trainer import label_order
from trainer.run_context import RunContext
from trainer import tasks


@pytest.mark.parametrize("labels, expected", [
    (["10", "2", "1", "0"], ["0", "1", "2", "10"]),
    (["pos", "neg", "neutral"], ["neg", "neutral", "pos"]),
    (["-1", "2.5", "2", "10"], ["-1", "2", "2.5", "10"]),
    # Numbers first (numerically), then the other labels by their strings.
    (["positive", "7", "1", "0"], ["0", "1", "7", "positive"]),
    (["B-PER", "O", "I-PER", "B-LOC"], ["B-LOC", "B-PER", "I-PER", "O"]),
    (["1", "1", "0"], ["0", "1"]),
])
def test_natural_order(labels, expected):
    assert label_order.natural_label_order(labels) == expected


def _vocabulary(config, counts, label_kind=None):
    """The label vocabulary a run of `config` gets (its task's traits decide)."""
    from trainer import tasks
    return label_order.label_vocabulary(config, counts, label_kind,
                                        task=tasks.task_class(config))


def _config(task="text-classification", **task_options):
    cfg = pipeline_config.PipelineConfig(task=task)
    for key, value in task_options.items():
        setattr(cfg.task_options, key, value)
    cfg.model.max_seq_length = 16
    return cfg


def test_label_vocabulary_of_each_task():
    counts = {"10": 50, "2": 40, "1": 30, "0": 5}
    assert _vocabulary(_config(), counts) == ["0", "1", "2", "10"]
    # The same set with other counts: the same order.
    assert _vocabulary(_config(), {"0": 90, "1": 1, "2": 2, "10": 3}) == \
        ["0", "1", "2", "10"]
    # Multi-label: the labels inside the cells.
    assert _vocabulary(_config(multi_label=True),
                                        {"tech, sport": 4, "food": 9, "sport": 1}) == \
        ["food", "sport", "tech"]
    # Declared labels win, stripped and ordered, even one the data lacks.
    cfg = _config()
    cfg.data.labels = [" pos", "neg ", "neutral"]
    assert _vocabulary(cfg, {"pos": 3, "neg": 2}) == ["neg", "neutral", "pos"]
    # Float labels as TensorFlow writes them (what Transform sees).
    assert _vocabulary(_config(), {"1.0": 1, "0.5": 2}, "float") == \
        ["0.500000", "1.000000"]
    assert _vocabulary(_config(regression=True), {"0.5": 1}) == []
    assert _vocabulary(_config("question-answering"), {}) == []
    assert _vocabulary(_config("token-classification"),
                                        {"O": 90, "B-PER": 3, "I-PER": 2}) == \
        ["B-PER", "I-PER", "O"]


def _transform(tmp_path, task_name, cfg, rows, spec, labels):
    """Runs the task's preprocessing through tf.Transform; returns (transformed rows, the
    label vocabulary as saved)."""
    import tensorflow_transform as tft
    import tensorflow_transform.beam as tft_beam
    from tensorflow_transform.tf_metadata import dataset_metadata, schema_utils

    from tests.test_task_text_pair import tiny_vocab_checkpoint
    ckpt = tiny_vocab_checkpoint(tmp_path, ["pizza", "laptop", "golf", "the", "paris"])
    context = RunContext(cfg, ckpt, True, labels=labels)
    # Through custom_config, as Transform gets it.
    context = RunContext.from_custom_config(context.transform_custom_config())
    task = tasks.create(context)
    metadata = dataset_metadata.DatasetMetadata(schema_utils.schema_from_feature_spec(spec))
    out_dir = tmp_path / f"tft_out_{len(list(tmp_path.iterdir()))}"
    with tft_beam.Context(temp_dir=str(tmp_path / "tft"), force_tf_compat_v1=False):
        (out, _), transform_fn = (rows, metadata) | tft_beam.AnalyzeAndTransformDataset(
            lambda inputs: task.preprocess(inputs, context))
        _ = transform_fn | tft_beam.WriteTransformFn(str(out_dir))
    name = "tags" if task_name == "token-classification" else "label"
    vocabulary = [v.decode() for v in tft.TFTransformOutput(str(out_dir)).vocabulary_by_name(name)]
    return out, vocabulary


SINGLE_SPEC = {"text": tf.io.FixedLenFeature([], tf.string),
               "label": tf.io.FixedLenFeature([], tf.string)}


def _rows(counts):
    return [{"text": "the pizza", "label": label} for label, n in counts.items() for _ in range(n)]


@pytest.mark.parametrize("counts", [{"10": 6, "2": 5, "1": 3, "0": 1},
                                    {"0": 6, "1": 1, "10": 2, "2": 4}])
def test_integer_labels_get_ids_in_numeric_order_whatever_the_counts(tmp_path, counts):
    cfg = _config()
    labels = _vocabulary(cfg, counts)
    out, vocabulary = _transform(tmp_path, "text-classification", cfg, _rows(counts),
                                 SINGLE_SPEC, labels)
    assert vocabulary == ["0", "1", "2", "10"]
    rows = _rows(counts)
    assert [int(o["label_id"]) for o in out] == [vocabulary.index(r["label"]) for r in rows]


def test_string_labels_sorted_and_unlabelled_context_keeps_the_old_order(tmp_path):
    counts = {"pos": 5, "neutral": 3, "neg": 1}
    cfg = _config()
    _, vocabulary = _transform(tmp_path, "text-classification", cfg, _rows(counts), SINGLE_SPEC,
                               _vocabulary(cfg, counts))
    assert vocabulary == ["neg", "neutral", "pos"]
    # Without labels in the context (an old custom_config): the frequency order as before.
    _, vocabulary = _transform(tmp_path, "text-classification", cfg, _rows(counts), SINGLE_SPEC, [])
    assert vocabulary == ["pos", "neutral", "neg"]


def test_declared_label_missing_from_the_data_keeps_its_id(tmp_path):
    cfg = _config()
    cfg.data.labels = ["neg", "neutral", "pos"]
    counts = {"pos": 5, "neg": 2}
    _, vocabulary = _transform(tmp_path, "text-classification", cfg, _rows(counts), SINGLE_SPEC,
                               _vocabulary(cfg, counts))
    assert vocabulary == ["neg", "neutral", "pos"]


def test_multi_label_ids_in_natural_order(tmp_path):
    cfg = _config(multi_label=True)
    rows = [{"text": "the pizza", "label": "tech"}] * 5 + [
        {"text": "laptop golf", "label": "tech, sport"}, {"text": "golf", "label": "sport"},
        {"text": "pizza", "label": "food"}]
    counts = {}
    for row in rows:
        counts[row["label"]] = counts.get(row["label"], 0) + 1
    labels = _vocabulary(cfg, counts)
    out, vocabulary = _transform(tmp_path, "text-classification", cfg, rows, SINGLE_SPEC, labels)
    assert vocabulary == ["food", "sport", "tech"]
    assert [sorted(int(i) for i in o["label_ids"]) for o in out][-3:] == [[1, 2], [1], [0]]


def test_token_tags_in_natural_order(tmp_path):
    cfg = _config("token-classification")
    rows = [{"tokens": ["the", "paris"], "tags": ["O", "B-LOC"]}] * 3 + [
        {"tokens": ["pizza"], "tags": ["B-FOOD"]}, {"tokens": ["the", "golf"], "tags": ["O", "O"]}]
    counts = {}
    for row in rows:
        for tag in row["tags"]:
            counts[tag] = counts.get(tag, 0) + 1
    spec = {"tokens": tf.io.VarLenFeature(tf.string), "tags": tf.io.VarLenFeature(tf.string)}
    _, vocabulary = _transform(tmp_path, "token-classification", cfg, rows, spec,
                               _vocabulary(cfg, counts))
    assert vocabulary == ["B-FOOD", "B-LOC", "O"]
