"""Feature extraction: the checkpoint's encoder as a sentence-embedding model.

There is no label. What the pipeline does for `--task embedding`:

* Transform tokenizes the text column (`[CLS] text [SEP]`), nothing else;
* Trainer does not train: the model is the checkpoint's encoder (pretrained, or one fine-tuned
  elsewhere and given as `--checkpoint`), mean-pooled over the attention mask and
  L2-normalised. `fit` only iterates the data (its train and test steps compute nothing),
  then the SavedModel is exported;
* Evaluator runs the exported model over the eval split; the gate blesses it when it embedded
  the eval texts and tells them apart (mean cosine similarity of different texts below 0.99,
  trainer/gate_bars.py: a model that maps every text to one vector fails);
* Pusher pushes it like any other model.

Signatures: `serve_text` and `serve_embedding` (input `text` string [-1]) and `serving_default`
(input `examples`: serialized tf.Examples with the text column), all returning `embedding`
float32 [-1, hidden].
"""
from typing import Any, Dict, List, Mapping, TYPE_CHECKING

import tensorflow as tf
import tensorflow_text  # noqa: F401  (TF Text ops must be registered wherever this runs)
import tensorflow_transform as tft
import tf_keras

from trainer import embedding
from trainer import model as model_lib
from trainer import tokenization
from trainer.features import SEQUENCE_FEATURES, dense_strings
from trainer.run_context import RunContext
from trainer.tasks import register
from trainer.tasks.base import Task
from trainer.tasks.text_classification import as_raw_feature

if TYPE_CHECKING:  # TFMA (~150 MiB of imports) only where eval configs are built
    import tensorflow_model_analysis as tfma


class ExportOnlyModel(tf_keras.Model):
    """A functional model whose `fit`/`evaluate` steps do nothing (nothing to learn)."""

    def train_step(self, data):
        return {"loss": tf.constant(0.0)}

    def test_step(self, data):
        return {"loss": tf.constant(0.0)}


def build_embedding_model(checkpoint_dir: str) -> tf_keras.Model:
    """Dense sequence features -> L2-normalised mean-pooled embedding [batch, hidden]."""
    encoder = model_lib.build_encoder(checkpoint_dir)
    inputs = encoder.input
    outputs = embedding.mean_pool(encoder.output, inputs["attention_mask"])
    model = ExportOnlyModel(inputs=inputs, outputs=outputs, name="electra_embedding")
    return model_lib.attach_encoder(model, model_lib.encoder_of(encoder))


@register
class EmbeddingTask(Task):
    name = "embedding"
    label_feature = ""
    intended_use = "Turns a text into a sentence embedding for search and clustering."

    def label_spec(self) -> Dict[str, Any]:
        return {}

    def split_features(self, example):
        features = {name: tf.cast(example[name], tf.int32) for name in SEQUENCE_FEATURES}
        return features, tf.zeros([tf.shape(features["input_ids"])[0]], tf.float32)

    def preprocess(self, inputs: Dict[str, Any], context: RunContext) -> Dict[str, Any]:
        cfg = context.config
        encoder = tokenization.WordPieceEncoder(
            tokenization.load_vocab(f"{context.checkpoint_dir}/vocab.txt"), context.lower_case)
        encoded = encoder.encode(dense_strings(inputs[cfg.data.text_column]),
                                 cfg.model.max_seq_length)
        return {name: encoded[name].to_sparse() for name in SEQUENCE_FEATURES}

    def build_model(self, context: RunContext, transform_output: tft.TFTransformOutput):
        return build_embedding_model(context.checkpoint_dir)

    def loss(self):
        return tf_keras.losses.MeanSquaredError()  # never applied (ExportOnlyModel)

    def metrics(self) -> List[Any]:
        return []

    def serving_signatures(self, model, transform_output: tft.TFTransformOutput,
                           context: RunContext):
        text_column = context.config.data.text_column
        raw_spec = transform_output.raw_feature_spec()
        serving_spec = {text_column: raw_spec[text_column]}
        model.tft_layer = transform_output.transform_features_layer()

        def predict(raw_features):
            transformed = model.tft_layer(raw_features)
            vectors = model_lib.call_on_ids(model)(model_lib.dense_sequence_features(transformed))
            return {embedding.OUTPUT_NAME: tf.cast(vectors, tf.float32)}

        @model_lib.serving_function(
            input_signature=[tf.TensorSpec([None], tf.string, name="examples")])
        def serve_examples(examples):
            return predict(tf.io.parse_example(examples, serving_spec))

        @model_lib.serving_function(input_signature=[tf.TensorSpec([None], tf.string, name="text")])
        def serve_text(text):
            return predict({text_column: as_raw_feature(text, raw_spec[text_column])})

        return {
            "serving_default": serve_examples.get_concrete_function(),
            "serve_text": serve_text.get_concrete_function(),
            embedding.SIGNATURE_NAME: embedding.serve_embedding_signature(model, context),
        }

    def eval_config(self, context: RunContext, label_counts: Mapping[str, int]) -> "tfma.EvalConfig":
        # No label: the gate checks that the model embedded the eval split and tells texts
        # apart (gate_bars below; trainer/embedding_metrics.py).
        import tensorflow_model_analysis as tfma  # here: training does not need TFMA
        from trainer import embedding_metrics
        return tfma.EvalConfig(
            model_specs=[tfma.ModelSpec(signature_name="serving_default",
                                        prediction_key=embedding.OUTPUT_NAME)],
            slicing_specs=[tfma.SlicingSpec()],
            metrics_specs=[tfma.MetricsSpec(metrics=[
                tfma.MetricConfig(class_name="ExampleCount"),
                tfma.MetricConfig(class_name="MeanCosineSimilarity",
                                  module=embedding_metrics.__name__)])])

    def gate_bars(self, context: RunContext, label_counts, eval_label_counts):
        from trainer import gate_bars
        return gate_bars.embedding_bars()
