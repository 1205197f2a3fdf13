"""What a task owns: its in-graph preprocessing, model head, loss, metrics and signatures.

Adding a task means one new module that subclasses `Task`, plus its tests; the pipeline,
data pipeline, optimizer and export code are shared.
"""
import abc
from typing import Any, Dict, List

import tensorflow as tf
import tensorflow_model_analysis as tfma
import tensorflow_transform as tft

from trainer.run_context import RunContext

# Sequence features every task emits from Transform (variable length, no padding).
SEQUENCE_FEATURES = ("input_ids", "attention_mask", "token_type_ids")


class Task(abc.ABC):
    name: str = ""
    # The transformed feature holding the training target.
    label_feature: str = "label_id"

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
    def eval_config(self, context: RunContext, label_stats: Any) -> tfma.EvalConfig:
        """TFMA set-up: metrics, thresholds and the model spec for the Evaluator."""
