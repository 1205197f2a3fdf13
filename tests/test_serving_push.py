"""The Pusher's TF Serving checks: a model with an op stock TF Serving lacks is refused with
the op named; a pushed model carries warm-up requests that parse and run against it."""
import pathlib

import pytest
import tensorflow as tf
import tensorflow_text as tf_text
from tfx.proto import pusher_pb2
from tfx.types import standard_artifacts
from tfx.utils import proto_utils

from components import atomic_pusher, serving_compat, serving_warmup

VOCAB = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "the", "movie", "was", "great", "bad", "##s",
         "film"]
SENTENCES = [b"The movie was great", b"the films were bad", b"Great film", b"bad", b"movies"]


def _vocab_table():
    return tf.lookup.StaticVocabularyTable(
        tf.lookup.KeyValueTensorInitializer(VOCAB, tf.range(len(VOCAB), dtype=tf.int64)),
        num_oov_buckets=1)


class WordPieceModel(tf.Module):
    """Only TF Text ops that TF Serving links: BertTokenizer (CaseFoldUTF8, NormalizeUTF8,
    RegexSplitWithOffsets, WordpieceTokenizeWithOffsets) and FastWordpieceTokenizer."""

    def __init__(self):
        super().__init__()
        self.tokenizer = tf_text.BertTokenizer(_vocab_table(), lower_case=True)
        self.fast = tf_text.FastWordpieceTokenizer(VOCAB, no_pretokenization=False)

    def predict(self, text):
        ids = self.tokenizer.tokenize(text).merge_dims(1, 2)
        fast = self.fast.tokenize(text)
        return {"length": ids.row_lengths(), "fast_length": fast.row_lengths()}


class TrimmerModel(WordPieceModel):
    """Also trims a text pair with RoundRobinTrimmer (TF Text >= 2.13's TFText>RoundRobinTrim)."""

    def predict(self, text):
        ids = self.tokenizer.tokenize(text).merge_dims(1, 2)
        first, second = tf_text.RoundRobinTrimmer(max_seq_length=6).trim([ids, ids])
        return {"length": first.row_lengths() + second.row_lengths()}


class FailingModel(WordPieceModel):
    """Fails on any text with the word "bad" (as a model that breaks on some real input)."""

    def predict(self, text):
        bad = tf.reduce_any(tf.strings.regex_full_match(text, ".*bad.*"))
        with tf.control_dependencies([tf.debugging.assert_equal(bad, False, message="bad")]):
            return super().predict(tf.identity(text))


def save(module: WordPieceModel, path: pathlib.Path) -> pathlib.Path:
    spec = {"sentence": tf.io.FixedLenFeature([], tf.string)}

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="examples")])
    def serve_examples(examples):
        return module.predict(tf.io.parse_example(examples, spec)["sentence"])

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="text")])
    def serve_text(text):
        return module.predict(text)

    tf.saved_model.save(module, str(path), signatures={
        "serving_default": serve_examples.get_concrete_function(),
        "serve_text": serve_text.get_concrete_function()})
    return path


def eval_examples(path: pathlib.Path) -> pathlib.Path:
    """An ExampleGen-like Examples folder with a gzipped Split-eval."""
    (path / "Split-eval").mkdir(parents=True)
    with tf.io.TFRecordWriter(str(path / "Split-eval" / "data_tfrecord-00000-of-00001.gz"),
                              "GZIP") as writer:
        for sentence in SENTENCES:
            writer.write(tf.train.Example(features=tf.train.Features(feature={
                "sentence": tf.train.Feature(bytes_list=tf.train.BytesList(value=[sentence])),
                "label": tf.train.Feature(int64_list=tf.train.Int64List(value=[1]))}))
                .SerializeToString())
    return path


def push(model_dir: pathlib.Path, tmp_path: pathlib.Path, examples_dir=None):
    model = standard_artifacts.Model()
    model.uri = str(model_dir.parent)  # the Trainer's <uri>/Format-Serving
    blessing = standard_artifacts.ModelBlessing()
    blessing.uri = str(tmp_path / "blessing")
    blessing.set_int_custom_property("blessed", 1)
    pushed = standard_artifacts.PushedModel()
    pushed.uri = str(tmp_path / "pushed_model")
    inputs = {"model": [model], "model_blessing": [blessing]}
    if examples_dir is not None:
        examples = standard_artifacts.Examples()
        examples.uri = str(examples_dir)
        inputs["examples"] = [examples]
    destination = pusher_pb2.PushDestination(filesystem=pusher_pb2.PushDestination.Filesystem(
        base_directory=str(tmp_path / "serving")))
    atomic_pusher.AtomicPusherExecutor().Do(
        inputs, {"pushed_model": [pushed]},
        {"push_destination": proto_utils.proto_to_json(destination),
         "custom_config": '{"serve_text_inputs": {"text": "sentence"}}'})
    return pushed


@pytest.fixture(scope="module")
def wordpiece_model(tmp_path_factory):
    return save(WordPieceModel(), tmp_path_factory.mktemp("wp") / "Format-Serving")


@pytest.fixture(scope="module")
def trimmer_model(tmp_path_factory):
    return save(TrimmerModel(), tmp_path_factory.mktemp("trim") / "Format-Serving")


def test_tf_text_ops_and_tensorflow_ops_are_told_apart():
    assert {"WordpieceTokenizeWithOffsets", "FastWordpieceTokenizeWithOffsets", "CaseFoldUTF8",
            "FastBertNormalize"} <= serving_compat.TF_TEXT_2_12_1_OPS
    assert "TFText>RoundRobinTrim" not in serving_compat.TF_TEXT_2_12_1_OPS
    installed = serving_compat.installed_tf_text_ops()
    assert "TFText>RoundRobinTrim" in installed  # TF Text 2.16 has it; TF Serving does not
    core = serving_compat.tensorflow_ops()
    assert {"MatMul", "StatefulPartitionedCall", "ParseExampleV2", "SaveV2"} <= core
    assert not core & installed


def test_a_wordpiece_model_passes(wordpiece_model):
    ops = serving_compat.saved_model_ops(str(wordpiece_model))
    assert {"WordpieceTokenizeWithOffsets", "FastWordpieceTokenizeWithOffsets"} <= ops
    result = serving_compat.check_saved_model(str(wordpiece_model))
    assert result.ok, result.describe()


def test_a_round_robin_trimmer_model_is_refused_with_the_op_named(trimmer_model, tmp_path):
    result = serving_compat.check_saved_model(str(trimmer_model))
    assert not result.ok
    assert "TFText>RoundRobinTrim" in result.missing
    pushed = push(trimmer_model, tmp_path, eval_examples(tmp_path / "examples"))
    assert pushed.get_int_custom_property("pushed") == 0
    reason = pushed.get_string_custom_property(atomic_pusher.NOT_PUSHED_REASON)
    assert "TFText>RoundRobinTrim" in reason and "TF Serving 2.16" in reason
    serving = tmp_path / "serving"
    assert not serving.exists() or not any(p.name.isdigit() for p in serving.iterdir())


def test_the_pushed_model_carries_warmup_requests_that_run(wordpiece_model, tmp_path):
    pushed = push(wordpiece_model, tmp_path, eval_examples(tmp_path / "examples"))
    assert pushed.get_int_custom_property("pushed") == 1
    version = pathlib.Path(pushed.get_string_custom_property("pushed_destination"))
    assert (version / serving_warmup.WARMUP_FILE).is_file()
    logs = serving_warmup.read_warmup(str(version))
    requests = [log.predict_log.request for log in logs]
    assert [(r.model_spec.signature_name, len(next(iter(r.inputs.values())).string_val))
            for r in requests] == [("serving_default", 1), ("serving_default", 4),
                                   ("serve_text", 1), ("serve_text", 4)]
    assert list(requests[3].inputs["text"].string_val) == SENTENCES[:4]
    outputs = serving_warmup.replay(str(version), logs)
    assert [o["length"].shape[0] for o in outputs] == [1, 4, 1, 4]
    # The same examples give the same answers through either signature.
    assert outputs[1]["length"].numpy().tolist() == outputs[3]["length"].numpy().tolist()


def test_a_model_that_fails_on_a_warmup_request_is_not_pushed(tmp_path):
    model = save(FailingModel(), tmp_path / "model" / "Format-Serving")
    pushed = push(model, tmp_path, eval_examples(tmp_path / "examples"))
    assert pushed.get_int_custom_property("pushed") == 0
    reason = pushed.get_string_custom_property(atomic_pusher.NOT_PUSHED_REASON)
    assert reason.startswith("the model failed on a warm-up request (real eval examples) to "
                             "serving_default: InvalidArgumentError: assertion failed: [bad]"), reason
    assert not (tmp_path / "serving").exists() or not any(
        p.name.isdigit() for p in (tmp_path / "serving").iterdir())
    assert not (tmp_path / "pushed_model" / "saved_model.pb").exists()  # nor archived


def test_no_examples_no_warmup(wordpiece_model, tmp_path):
    pushed = push(wordpiece_model, tmp_path)
    version = pathlib.Path(pushed.get_string_custom_property("pushed_destination"))
    assert (version / "saved_model.pb").is_file()
    assert not (version / serving_warmup.WARMUP_FILE).exists()


def test_the_pipeline_gives_the_pusher_the_examples_and_the_text_columns(tmp_path):
    import json

    import pipeline_config
    from pipeline.pipeline import create_pipeline
    from tests import fixtures
    from trainer.run_context import RunContext
    cfg = pipeline_config.PipelineConfig(output=str(tmp_path / "out"))
    cfg.data.train = str(fixtures.write_csv(tmp_path / "train.csv", fixtures.sentiment_rows(10)))
    cfg.model.max_seq_length = 16
    pipeline = create_pipeline(RunContext(cfg, str(tmp_path), True), {"neg": 5, "pos": 5})
    (pusher,) = [c for c in pipeline.components if c.id == "Pusher"]
    (example_gen,) = [c for c in pipeline.components if c.id.endswith("ExampleGen")]
    assert pusher.inputs["examples"].producer_component_id == example_gen.id
    assert json.loads(pusher.exec_properties["custom_config"]) == {
        "serve_text_inputs": {"text": cfg.data.text_column}}


def test_the_summary_and_the_report_say_why_nothing_was_pushed():
    import types

    import pipeline_config
    from pipeline import summary
    from pipeline.report.model import ReportData
    from pipeline.run_record import RunRecord
    reason = serving_compat.Compatibility(
        serving_compat.TARGETS["2.16"][1], ["TFText>RoundRobinTrim"], 40).describe()
    record = RunRecord(run_id="r", components=[], split_counts={"train": 10}, anomalies_found=0,
                       candidate_metrics={}, baseline_metrics={}, blessed=True,
                       failed_checks=[], pushed_path=None, not_pushed_reason=reason)
    checkpoint = types.SimpleNamespace(requested="c", source="local", path="/c", warning=None)
    scan = types.SimpleNamespace(label_counts={}, num_examples=10)
    text = summary.format_summary(pipeline_config.PipelineConfig(), record, checkpoint, scan, 1.0)
    assert ("Nothing pushed: the model uses op TFText>RoundRobinTrim, which TF Serving 2.16 "
            "(TensorFlow's ops + TF Text 2.12.1) does not have") in text
    assert "TFText>RoundRobinTrim" in ReportData(run_id="r", not_pushed_reason=reason).push_text()


def test_a_column_of_several_words_feeds_serve_text_joined_by_spaces(wordpiece_model):
    """Token classification's examples hold one word a value; serve_text takes the sentence."""
    record = tf.train.Example(features=tf.train.Features(feature={"tokens": tf.train.Feature(
        bytes_list=tf.train.BytesList(value=[b"Great", b"film", b"."]))})).SerializeToString()
    logs = serving_warmup.warmup_logs(str(wordpiece_model), [record], {"text": "tokens"})
    assert [(log.predict_log.request.model_spec.signature_name,
             list(next(iter(log.predict_log.request.inputs.values())).string_val))
            for log in logs] == [("serving_default", [record]), ("serve_text", [b"Great film ."])]
    # A column the examples lack: no serve_text request rather than a wrong one.
    assert len(serving_warmup.warmup_logs(str(wordpiece_model), [record], {"text": "x"})) == 1
