"""Single-text classification: one label per text, softmax head, accuracy/AUC/per-class P/R."""
from typing import Any, Dict, List, Mapping, Optional

import tensorflow as tf
import tensorflow_model_analysis as tfma
import tensorflow_text  # noqa: F401  (TF Text ops must be registered wherever this runs)
import tensorflow_transform as tft
import tf_keras

from trainer import model as model_lib
from trainer import tokenization
from trainer.features import dense_strings
from trainer.run_context import RunContext
from trainer.tasks.base import SEQUENCE_FEATURES, Task

LABEL_VOCABULARY = "label"


class TextClassificationTask(Task):
    name = "text-classification"
    label_feature = "label_id"

    # ---- Transform -------------------------------------------------------------------
    def preprocess(self, inputs: Dict[str, Any], context: RunContext) -> Dict[str, Any]:
        cfg = context.config
        encoder = tokenization.WordPieceEncoder(
            tokenization.load_vocab(f"{context.checkpoint_dir}/vocab.txt"), context.lower_case)
        encoded = encoder.encode(dense_strings(inputs[cfg.data.text_column]),
                                 cfg.model.max_seq_length)
        outputs = {name: encoded[name].to_sparse() for name in SEQUENCE_FEATURES}
        labels = tf.strings.strip(dense_strings(inputs[cfg.data.label_column]))
        # The label vocabulary is learned from the training split and saved with the
        # transform graph; an unseen label maps to -1 (the schema check catches it first).
        outputs[self.label_feature] = tft.compute_and_apply_vocabulary(
            labels, vocab_filename=LABEL_VOCABULARY, num_oov_buckets=0, default_value=-1)
        return outputs

    # ---- Trainer ---------------------------------------------------------------------
    def build_model(self, context: RunContext, transform_output: tft.TFTransformOutput):
        num_labels = transform_output.vocabulary_size_by_name(LABEL_VOCABULARY)
        return model_lib.build_sequence_classifier(context.checkpoint_dir, num_labels)

    def loss(self):
        return tf_keras.losses.SparseCategoricalCrossentropy(from_logits=True)

    def metrics(self) -> List[Any]:
        return [tf_keras.metrics.SparseCategoricalAccuracy(name="accuracy")]

    # ---- Export ----------------------------------------------------------------------
    def serving_signatures(self, model, transform_output: tft.TFTransformOutput,
                           context: RunContext):
        text_column = context.config.data.text_column
        label_names = [v.decode("utf-8") for v in
                       transform_output.vocabulary_by_name(LABEL_VOCABULARY)]
        raw_spec = transform_output.raw_feature_spec()
        serving_spec = {text_column: raw_spec[text_column]}
        # Attached to the model so the SavedModel tracks the transform graph and its tables.
        model.tft_layer = transform_output.transform_features_layer()
        model.tft_layer_eval = transform_output.transform_features_layer()
        label_table = tf.constant(label_names, dtype=tf.string)

        def predict(raw_features):
            transformed = model.tft_layer(raw_features)
            logits = model(model_lib.dense_sequence_features(transformed), training=False)
            probabilities = tf.nn.softmax(tf.cast(logits, tf.float32), axis=-1)
            label_ids = tf.argmax(probabilities, axis=-1, output_type=tf.int64)
            return {"probabilities": probabilities, "label_ids": label_ids,
                    "labels": tf.gather(label_table, label_ids)}

        @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="examples")])
        def serve_examples(examples):
            return predict(tf.io.parse_example(examples, serving_spec))

        @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="text")])
        def serve_text(text):
            return predict({text_column: as_raw_feature(text, raw_spec[text_column])})

        @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="examples")])
        def transform_features(examples):
            # For TFMA: the transformed features (including label_id) of labelled examples.
            return model.tft_layer_eval(tf.io.parse_example(examples, raw_spec))

        return {
            "serving_default": serve_examples.get_concrete_function(),
            "serve_text": serve_text.get_concrete_function(),
            "transform_features": transform_features.get_concrete_function(),
        }

    # ---- Evaluator -------------------------------------------------------------------
    def eval_config(self, context: RunContext, label_counts: Mapping[str, int]) -> tfma.EvalConfig:
        cfg = context.config
        total = sum(label_counts.values()) or 1
        majority_rate = max(label_counts.values(), default=0) / total
        min_accuracy: Optional[float] = cfg.eval.min_accuracy
        if min_accuracy is None:
            # "Better than always predicting the most frequent label."
            min_accuracy = majority_rate + 1e-6
        accuracy = tfma.MetricConfig(
            class_name="SparseCategoricalAccuracy",
            threshold=tfma.MetricThreshold(
                value_threshold=tfma.GenericValueThreshold(lower_bound={"value": min_accuracy}),
                change_threshold=tfma.GenericChangeThreshold(
                    direction=tfma.MetricDirection.HIGHER_IS_BETTER,
                    absolute={"value": -cfg.eval.max_accuracy_drop})))
        num_labels = max(len(label_counts), 2)
        per_class = [tfma.MetricConfig(class_name="Precision"),
                     tfma.MetricConfig(class_name="Recall")]
        if num_labels == 2:
            per_class.append(tfma.MetricConfig(class_name="AUC"))
        return tfma.EvalConfig(
            model_specs=[tfma.ModelSpec(
                signature_name="serving_default", label_key=self.label_feature,
                prediction_key="probabilities",
                preprocessing_function_names=["transform_features"])],
            slicing_specs=[tfma.SlicingSpec()],
            metrics_specs=[
                tfma.MetricsSpec(metrics=[
                    tfma.MetricConfig(class_name="ExampleCount"),
                    accuracy,
                    tfma.MetricConfig(class_name="MultiClassConfusionMatrixPlot"),
                ]),
                tfma.MetricsSpec(
                    binarize=tfma.BinarizationOptions(class_ids={"values": list(range(num_labels))}),
                    metrics=per_class),
            ])


def as_raw_feature(values: tf.Tensor, spec) -> Any:
    """A [batch] string tensor shaped like the raw feature spec Transform was built with."""
    if isinstance(spec, tf.io.FixedLenFeature):
        return tf.reshape(values, [-1] + list(spec.shape))
    # VarLenFeature: one value per row, kept even when it is the empty string.
    batch = tf.shape(values, out_type=tf.int64)[0]
    indices = tf.stack([tf.range(batch), tf.zeros([batch], tf.int64)], axis=1)
    return tf.SparseTensor(indices, values, dense_shape=tf.stack([batch, 1]))
