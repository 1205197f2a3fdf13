"""What a task owns: its in-graph preprocessing, model head, loss, metrics and signatures.

Adding a task means one new module that subclasses `Task`, plus its tests; the pipeline,
data pipeline, optimizer and export code are shared.
"""
import abc
from typing import Any, Dict, List, TYPE_CHECKING

import tensorflow as tf
import tensorflow_transform as tft

from trainer.run_context import RunContext

if TYPE_CHECKING:  # TFMA (~150 MiB of imports) only where eval configs are built
    import tensorflow_model_analysis as tfma

# Sequence features every task emits from Transform (variable length, no padding).
SEQUENCE_FEATURES = ("input_ids", "attention_mask", "token_type_ids")


class Task(abc.ABC):
    name: str = ""
    # The transformed feature holding the training target.
    label_feature: str = "label_id"

    # ---- Data hooks (defaults fit one integer label per example) ------------------------
    def raw_text_columns(self, config) -> List[str]:
        """Raw columns holding text (the data scan checks them and learns scratch vocabularies)."""
        return [config.data.text_column]

    def raw_label_column(self, config) -> str:
        """The raw column whose values the data scan counts (None: nothing to count)."""
        return config.data.label_column

    def label_spec(self) -> Dict[str, Any]:
        """How to parse the transformed label feature(s) from one tf.Example."""
        return {self.label_feature: tf.io.FixedLenFeature([], tf.int64)}

    def padding_values(self) -> Dict[str, Any]:
        """Padding for variable-length label features when batches are padded (0 otherwise)."""
        return {}

    def split_features(self, example: Dict[str, tf.Tensor]):
        """(model inputs, targets) from one padded batch."""
        features = {name: tf.cast(example[name], tf.int32) for name in SEQUENCE_FEATURES}
        return features, example[self.label_feature]

    @abc.abstractmethod
    def preprocess(self, inputs: Dict[str, Any], context: RunContext) -> Dict[str, Any]:
        """The body of Transform's preprocessing_fn for this task."""

    @abc.abstractmethod
    def build_model(self, context: RunContext, transform_output: tft.TFTransformOutput) -> Any:
        """A compiled-ready tf_keras.Model taking the dense SEQUENCE_FEATURES."""

    @abc.abstractmethod
    def loss(self) -> Any:
        ...

    @abc.abstractmethod
    def metrics(self) -> List[Any]:
        ...

    @abc.abstractmethod
    def serving_signatures(self, model: Any, transform_output: tft.TFTransformOutput,
                           context: RunContext) -> Dict[str, tf.types.experimental.ConcreteFunction]:
        """The SavedModel's signatures, keyed by signature name."""

    @abc.abstractmethod
    def eval_config(self, context: RunContext, label_stats: Any) -> "tfma.EvalConfig":
        """TFMA set-up: metrics, thresholds and the model spec for the Evaluator."""
