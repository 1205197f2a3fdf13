"""What a task owns: its in-graph preprocessing, model head, loss, metrics and signatures,
and every task-dependent choice the pipeline makes (the traits and hooks below).

Adding a task means one new module with a `Task` subclass decorated with
`trainer.tasks.register`, plus its tests (tests/test_task_contract.py runs every registered
task); the pipeline, data pipeline, optimizer and export code are shared. A task instance is
bound to its config (and, inside the pipeline's components, its RunContext):
`trainer.tasks.create(config_or_context)`.
"""
import abc
from typing import Any, Dict, List, Mapping, NamedTuple, Optional, Sequence, TYPE_CHECKING

import tensorflow as tf
import tensorflow_transform as tft

from trainer import model as model_lib
from trainer.features import SEQUENCE_FEATURES
from trainer.tasks import Traits, input_columns
from trainer.tasks.outcomes import ExampleOutcomes
from trainer.run_context import RunContext

if TYPE_CHECKING:  # TFMA (~150 MiB of imports) only where eval configs are built
    import tensorflow_model_analysis as tfma

    from trainer.gate_bars import Bar

__all__ = ["SEQUENCE_FEATURES", "Task", "TuningObjective"]


class TuningObjective(NamedTuple):
    """What the trials of --tune are compared on (trainer/tuning.py): a Keras metric of the
    compiled model (a key of `model.evaluate(..., return_dict=True)`: one of the task's
    `metrics()`, or "loss"), measured on the tuning split, standing for the gate's headline
    metric (the first absolute bar's, trainer/gate_bars.py)."""
    metric: str
    direction: str  # "max" or "min"
    # How the summary and the report name it, e.g. "accuracy".
    label: str


class Task(abc.ABC):
    name: str = ""
    # The task_options values that select this class among the task's label variants
    # ({}: the default variant), e.g. {"multi_label": True}.
    options: Mapping[str, Any] = {}
    # The transformed feature holding the training target.
    label_feature: str = "label_id"

    # ---- Traits the pipeline, the data scan and the report read ------------------------
    # What the pipeline knows of the task before TensorFlow loads (columns, sequence lengths,
    # windows): trainer/tasks/__init__.py's Traits; a built-in task's come from BUILTIN_TRAITS.
    traits: Traits = Traits()
    # The labels are a set of classes (or tags) with ids (trainer/label_order.py).
    has_classes: bool = False
    # One class per row: the data scan checks the label type and the eval label set.
    single_label: bool = False
    # Several labels per row, separated by data.label_separator.
    multi_label: bool = False
    # Probabilities over classes: calibration error and confusion matrix in the Evaluator.
    calibrated: bool = False
    # The Transform vocabulary file of the labels (None: no label vocabulary).
    label_vocabulary: Optional[str] = None
    # The model card's "intended use".
    intended_use: str = ""
    # The simple baseline trained beside the candidate: a module with
    # `train(task, context, transform_output, train_files, eval_files)`, and a few words
    # saying what it is (None: the task has no baseline).
    baseline_module: Optional[str] = None
    baseline_description: Optional[str] = None
    # The metric --tune's trials are compared on (None: the task has nothing to tune).
    tuning_objective: Optional[TuningObjective] = None

    def __init__(self, config_or_context=None):
        if isinstance(config_or_context, RunContext):
            self.context: Optional[RunContext] = config_or_context
            self.config = config_or_context.config
        else:
            self.context = None
            self.config = config_or_context

    def __repr__(self):
        return f"{type(self).__name__}({self.name!r})"

    def label_slice_column(self, config=None) -> Optional[str]:
        """The raw column the Evaluator slices by label (None: no label slice)."""
        return None

    @property
    def labels(self) -> List[str]:
        """The labels in id order, as the bound RunContext holds them."""
        return list(self.context.labels) if self.context is not None else []

    # ---- Data hooks (defaults fit one integer label per example) ------------------------
    def raw_text_columns(self, config) -> List[str]:
        """Raw columns holding text (the data scan checks them and learns scratch vocabularies);
        the task's Traits name them."""
        return input_columns(config, self.name)[0]

    def schema_free_columns(self, config) -> List[str]:
        """Raw columns whose values the schema must not pin to a list (FreeTextSchema): the
        free text."""
        return list(self.raw_text_columns(config))

    def serving_text_inputs(self, config) -> Dict[str, str]:
        """`serve_text`'s input names -> the raw column feeding each (the TF Serving warm-up
        requests are read from eval examples: components/serving_warmup.py)."""
        return dict(zip(("text", "text_pair"), self.raw_text_columns(config)))

    def raw_label_column(self, config) -> Optional[str]:
        """The raw column whose values the data scan counts (None: nothing to count)."""
        return input_columns(config, self.name)[1]

    def label_spec(self) -> Dict[str, Any]:
        """How to parse the transformed label feature(s) from one tf.Example."""
        return {self.label_feature: tf.io.FixedLenFeature([], tf.int64)}

    def padding_values(self) -> Dict[str, Any]:
        """Padding for variable-length label features when batches are padded (0 otherwise)."""
        return {}

    def flatten(self, ds: "tf.data.Dataset") -> "tf.data.Dataset":
        """One stored record -> the training examples it holds (default: itself)."""
        return ds

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

    def bulk_inference_signature(self, signatures: Mapping[str, Any]) -> Any:
        """`serving_default` as TFX's BulkInferrer can call it (components/bulk_inference.py).

        tfx_bsl's RunInference splits every output along the batch and builds each row's
        TensorProto from `output[i].dtype`: a row of a [batch] string output (labels, QA's
        answer) is a Python bytes without one, and the run fails. Here such outputs get a
        trailing axis of 1 ([batch, 1]); everything else is serving_default's, unchanged."""
        serving_default = signatures["serving_default"]

        @model_lib.serving_function(
            input_signature=[tf.TensorSpec([None], tf.string, name="examples")])
        def bulk_inference(examples):
            outputs = serving_default(examples=examples)
            return {name: value[:, None] if value.dtype == tf.string and value.shape.rank == 1
                    else value for name, value in outputs.items()}

        return bulk_inference.get_concrete_function()

    @abc.abstractmethod
    def eval_config(self, context: RunContext, label_stats: Any) -> "tfma.EvalConfig":
        """TFMA set-up: metrics, the no-regression change threshold of the headline metric
        and the model spec for the Evaluator. Every metric the gate bars name must be here."""

    @abc.abstractmethod
    def gate_bars(self, context: RunContext, label_counts: Mapping[str, int],
                  eval_label_counts: Mapping[str, int]) -> List["Bar"]:
        """The blessing gate's absolute bar (beat a trivial predictor on the eval split) and
        chance-level bar (a random ranking fails) for this task: trainer/gate_bars.py. The
        first absolute bar's metric is the task's headline metric."""

    # ---- The run report's examples (pipeline/example_predictions.py) -------------------
    def example_outcomes(self, outputs: Mapping[str, Any],
                         examples: Sequence[Any]) -> Optional[ExampleOutcomes]:
        """What the served model's predictions on a batch of eval examples mean: per example,
        the prediction and the true label as text, whether it is right, and the score the
        report ranks the mistakes by (trainer/tasks/outcomes.py). `outputs`: the
        `serving_default` outputs as NumPy arrays; `examples`: the batch's raw
        `tf.train.Example`s. None (the default): nothing is right or wrong, the report shows
        no examples."""
        return None
