"""Adding a task is one module plus its fixtures: a throw-away task (predict how many words a
text has) defined here, registered by the decorator, and run through the contract test's
machinery (tests/test_task_contract.py), with no edit anywhere else."""
import pytest
import tensorflow as tf
import tf_keras

import pipeline_config
from tests.test_task_contract import (STRING, ContractFixture, check_contract,
                                      contract_checkpoint,  # noqa: F401  (a pytest fixture)
                                      reload_and_call_every_signature)
from trainer import gate_bars
from trainer import model as model_lib
from trainer import tasks
from trainer import tokenization
from trainer.features import SEQUENCE_FEATURES, dense_strings
from trainer.tasks.base import Task

WORD_COUNT = "word_count"


@tasks.register
class WordCountTask(Task):
    name = "word-count"
    label_feature = WORD_COUNT
    intended_use = "Predicts how many words a text has."
    # What the CLI knows before TensorFlow loads: no label column to count, short inputs.
    traits = tasks.Traits(label_column=None, default_max_seq_length=16, min_seq_length=4)

    def label_spec(self):
        return {WORD_COUNT: tf.io.FixedLenFeature([], tf.float32)}

    def split_features(self, example):
        return ({n: tf.cast(example[n], tf.int32) for n in SEQUENCE_FEATURES},
                example[WORD_COUNT])

    def preprocess(self, inputs, context):
        texts = dense_strings(inputs[context.config.data.text_column])
        encoder = tokenization.WordPieceEncoder(
            tokenization.load_vocab(f"{context.checkpoint_dir}/vocab.txt"), context.lower_case)
        encoded = encoder.encode(texts, context.config.model.max_seq_length)
        outputs = {n: encoded[n].to_sparse() for n in SEQUENCE_FEATURES}
        outputs[WORD_COUNT] = tf.cast(tf.strings.split(texts).row_lengths(), tf.float32)
        return outputs

    def build_model(self, context, transform_output):
        return model_lib.build_sequence_classifier(context.checkpoint_dir, 1, "regression")

    def loss(self):
        return tf_keras.losses.MeanSquaredError()

    def metrics(self):
        return [tf_keras.metrics.MeanAbsoluteError(name="mae")]

    def serving_signatures(self, model, transform_output, context):
        column = context.config.data.text_column
        spec = {column: transform_output.raw_feature_spec()[column]}
        model.tft_layer = transform_output.transform_features_layer()

        @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="examples")])
        def serve_examples(examples):
            transformed = model.tft_layer(tf.io.parse_example(examples, spec))
            words = model(model_lib.dense_sequence_features(transformed), training=False)
            return {"words": tf.reshape(tf.cast(words, tf.float32), [-1])}

        return {"serving_default": serve_examples.get_concrete_function()}

    def eval_config(self, context, label_counts):
        import tensorflow_model_analysis as tfma
        return tfma.EvalConfig(
            model_specs=[tfma.ModelSpec(signature_name="serving_default",
                                        label_key=WORD_COUNT, prediction_key="words")],
            metrics_specs=[tfma.MetricsSpec(metrics=[
                tfma.MetricConfig(class_name="MeanSquaredError")])])

    def gate_bars(self, context, label_counts, eval_label_counts):
        return gate_bars.regression_bars({"3": 1}, {"3": 1}, context.config.eval.chance_confidence)


@pytest.fixture
def registered():
    yield WordCountTask
    tasks.unregister(WordCountTask.name)


def test_a_task_defined_in_one_module_keeps_the_contract(registered, contract_checkpoint,
                                                         tmp_path):
    assert "word-count" in tasks.task_names()
    config = pipeline_config.PipelineConfig()
    config.task = "word-count"
    assert tasks.input_columns(config) == (["text"], None)
    resolved = pipeline_config.resolve(config, pipeline_config.CheckpointFacts("hub"),
                                       tasks.traits("word-count"))
    assert resolved.model.max_seq_length == 16
    resolved.model.max_seq_length = 3
    with pytest.raises(pipeline_config.ConfigError, match="at least 4 for word-count"):
        pipeline_config.validate(resolved, tasks.traits("word-count"))
    fixture = ContractFixture(rows=[{"text": t} for t in ("the pizza", "golf is great",
                                                          "paris", "the laptop was awful")],
                              raw_spec={"text": STRING}, serve={})
    job = check_contract(WordCountTask, fixture, contract_checkpoint, str(tmp_path))
    called = reload_and_call_every_signature({"word-count": job}, str(tmp_path))
    # Its own signature, and serving_default as TFX's BulkInferrer calls it (Task's default).
    assert called == {"word-count candidate serving_default": ["words"],
                      "word-count candidate bulk_inference": ["words"]}
