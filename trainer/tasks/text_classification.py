"""Single-text classification: one label per text, softmax head, accuracy/AUC/per-class P/R.

Two more variants, each its own Task class selected by task_options:
`MultiLabelTextClassificationTask` (`--multi-label`: several labels per text, separated by
data.label_separator; sigmoid head, a label is predicted when its probability is >= 0.5;
micro/macro F1; the target is a multi-hot vector over the run's labels) and
`RegressionTextClassificationTask` (`--regression`: a float label, e.g. a similarity score;
MSE loss; Pearson, Spearman and MSE). Every variant also exports `serve_embedding`.
"""
from typing import Any, Dict, List, Mapping, Optional, TYPE_CHECKING

import numpy as np
import tensorflow as tf
import tensorflow_text  # noqa: F401  (TF Text ops must be registered wherever this runs)
import tensorflow_transform as tft
import tf_keras

from trainer import embedding
from trainer import gate_bars
from trainer import label_order
from trainer import model as model_lib
from trainer import tokenization
from trainer.features import SEQUENCE_FEATURES, dense_strings
from trainer.run_context import RunContext
from trainer.tasks import outcomes, register
from trainer.tasks.base import Task, TuningObjective
from trainer.tasks.outcomes import ExampleOutcome, ExampleOutcomes, ExampleView

if TYPE_CHECKING:  # TFMA (~150 MiB of imports) only where eval configs are built
    import tensorflow_model_analysis as tfma

LABEL_VOCABULARY = "label"
# Transformed label features of the variants (single-label keeps `label_id`).
MULTI_LABEL_FEATURE = "label_ids"        # int64 list: the ids of the example's labels
MULTI_HOT_FEATURE = "label_multi_hot"    # float [labels], only in transform_features (TFMA)
REGRESSION_FEATURE = "label_value"       # float
MULTI_LABEL_THRESHOLD = 0.5


def dense_floats(feature: Any) -> tf.Tensor:
    """A raw numeric (or numeric string) column as a dense float32 [batch] tensor."""
    if feature.dtype == tf.string:
        return tf.strings.to_number(tf.strings.strip(dense_strings(feature)), tf.float32)
    if isinstance(feature, tf.SparseTensor):
        feature = tf.sparse.to_dense(feature, default_value=tf.zeros([], feature.dtype))
    elif isinstance(feature, tf.RaggedTensor):
        feature = feature.to_tensor(default_value=tf.zeros([], feature.dtype))
    feature = tf.cast(feature, tf.float32)
    if feature.shape.rank == 2:
        feature = feature[:, 0]
    return feature


def multi_hot(label_ids: tf.Tensor, num_labels: int) -> tf.Tensor:
    """float32 [batch, num_labels] from the label ids [batch, n] (padded with -1)."""
    hot = tf.one_hot(tf.cast(label_ids, tf.int32), num_labels, dtype=tf.float32)  # -1: zeros
    return tf.reduce_max(hot, axis=1) if label_ids.shape.rank == 2 else hot


class _PerExampleLoss(tf_keras.losses.Loss):
    """A Keras loss from a function returning one loss per example."""

    def __init__(self, fn, name):
        super().__init__(name=name)
        self.fn = fn

    def call(self, y_true, y_pred):
        return self.fn(y_true, y_pred)


class _MultiLabelF1(tf_keras.metrics.Metric):
    """Micro or macro F1 of sigmoid(logits) >= 0.5 against the example's labels."""

    def __init__(self, average: str, name: Optional[str] = None, **kwargs):
        super().__init__(name=name or f"{average}_f1", **kwargs)
        self.average = average
        self.tp = self.fp = self.fn = None

    def _slots(self, num_labels):
        if self.tp is None:
            self.tp = self.add_weight("tp", shape=[num_labels], initializer="zeros")
            self.fp = self.add_weight("fp", shape=[num_labels], initializer="zeros")
            self.fn = self.add_weight("fn", shape=[num_labels], initializer="zeros")

    def update_state(self, y_true, y_pred, sample_weight=None):
        num_labels = y_pred.shape[-1]
        self._slots(num_labels)
        truth = tf.cast(tf.reshape(y_true, [-1, num_labels]), tf.float32)
        predicted = tf.cast(tf.sigmoid(tf.cast(y_pred, tf.float32)) >= MULTI_LABEL_THRESHOLD,
                            tf.float32)
        self.tp.assign_add(tf.reduce_sum(truth * predicted, axis=0))
        self.fp.assign_add(tf.reduce_sum((1 - truth) * predicted, axis=0))
        self.fn.assign_add(tf.reduce_sum(truth * (1 - predicted), axis=0))

    def result(self):
        if self.tp is None:
            return tf.constant(0.0)
        if self.average == "micro":
            tp, fp, fn = (tf.reduce_sum(v) for v in (self.tp, self.fp, self.fn))
            return tf.math.divide_no_nan(2 * tp, 2 * tp + fp + fn)
        return tf.reduce_mean(tf.math.divide_no_nan(2 * self.tp, 2 * self.tp + self.fp + self.fn))

    def reset_state(self):
        for v in (self.tp, self.fp, self.fn):
            if v is not None:
                v.assign(tf.zeros_like(v))


class _Pearson(tf_keras.metrics.Metric):
    """Streaming Pearson correlation of the regression output with the target."""

    def __init__(self, name="pearson", **kwargs):
        super().__init__(name=name, **kwargs)
        self.sums = self.add_weight("sums", shape=[6], initializer="zeros", dtype=tf.float64)

    def update_state(self, y_true, y_pred, sample_weight=None):
        x = tf.cast(tf.reshape(y_pred, [-1]), tf.float64)
        y = tf.cast(tf.reshape(y_true, [-1]), tf.float64)
        self.sums.assign_add(tf.stack([tf.cast(tf.size(x), tf.float64), tf.reduce_sum(x),
                                       tf.reduce_sum(y), tf.reduce_sum(x * x),
                                       tf.reduce_sum(y * y), tf.reduce_sum(x * y)]))

    def result(self):
        n, sx, sy, sxx, syy, sxy = tf.unstack(self.sums)
        cov = n * sxy - sx * sy
        var = tf.sqrt(tf.maximum(n * sxx - sx * sx, 0.0) * tf.maximum(n * syy - sy * sy, 0.0))
        return tf.cast(tf.math.divide_no_nan(cov, var), tf.float32)

    def reset_state(self):
        self.sums.assign(tf.zeros_like(self.sums))


@register
class TextClassificationTask(Task):
    """One label per text (the default variant; the others subclass it)."""
    name = "text-classification"
    label_feature = "label_id"
    has_classes = True
    single_label = True
    calibrated = True
    label_vocabulary = LABEL_VOCABULARY
    intended_use = "Assigns one of the labels below to a text."
    baseline_module = "components.baseline.bag_of_words"
    baseline_description = "TF-IDF logistic regression over WordPiece ids"
    tuning_objective = TuningObjective("accuracy", "max", "accuracy")

    # ---- Inputs (the text-pair tasks override these) ----------------------------------
    def serving_text_inputs(self, config) -> Dict[str, str]:
        """Signature input name of serve_text -> raw column it feeds."""
        return {"text": config.data.text_column}

    def encode(self, encoder: tokenization.WordPieceEncoder, texts: Dict[str, tf.Tensor],
               config) -> Dict[str, tf.RaggedTensor]:
        """Token ids from the dense raw text columns (keyed by column)."""
        return encoder.encode(texts[config.data.text_column], config.model.max_seq_length)

    def label_slice_column(self, config=None) -> Optional[str]:
        return (config or self.config).data.label_column

    # ---- Data hooks ------------------------------------------------------------------
    def label_spec(self) -> Dict[str, Any]:
        return {self.label_feature: tf.io.FixedLenFeature([], tf.int64)}

    def split_features(self, example: Dict[str, tf.Tensor]):
        features = {name: tf.cast(example[name], tf.int32) for name in SEQUENCE_FEATURES}
        return features, tf.cast(example[self.label_feature], tf.int64)

    # ---- Transform -------------------------------------------------------------------
    def preprocess(self, inputs: Dict[str, Any], context: RunContext) -> Dict[str, Any]:
        cfg = context.config
        encoder = tokenization.WordPieceEncoder(
            tokenization.load_vocab(f"{context.checkpoint_dir}/vocab.txt"), context.lower_case)
        texts = {column: dense_strings(inputs[column])
                 for column in self.serving_text_inputs(cfg).values()}
        encoded = self.encode(encoder, texts, cfg)
        outputs = {name: encoded[name].to_sparse() for name in SEQUENCE_FEATURES}
        outputs.update(self.preprocess_labels(inputs, context))
        return outputs

    def preprocess_labels(self, inputs: Dict[str, Any], context: RunContext) -> Dict[str, Any]:
        cfg = context.config
        labels = tf.strings.strip(dense_strings(inputs[cfg.data.label_column]))
        # The label vocabulary is saved with the transform graph. Its ids are the natural
        # order of the label set known before the run (context.labels, trainer/label_order.py),
        # reserved at its start, never the frequency order of the training split; an unseen
        # label maps to -1 (the row checks and the schema check catch it first).
        return {self.label_feature: tft.compute_and_apply_vocabulary(
            labels, vocab_filename=LABEL_VOCABULARY, num_oov_buckets=0, default_value=-1,
            reserved_tokens=list(context.labels) or None)}

    # ---- Trainer ---------------------------------------------------------------------
    def num_outputs(self, transform_output: tft.TFTransformOutput) -> int:
        """The width of the model's output (a linear baseline's too)."""
        return transform_output.vocabulary_size_by_name(LABEL_VOCABULARY)

    problem_type = "single_label_classification"

    def build_model(self, context: RunContext, transform_output: tft.TFTransformOutput):
        return model_lib.build_sequence_classifier(
            context.checkpoint_dir, self.num_outputs(transform_output), self.problem_type)

    def loss(self):
        def sparse_categorical_crossentropy(y_true, y_pred):
            return tf_keras.losses.sparse_categorical_crossentropy(
                tf.reshape(tf.cast(y_true, tf.int64), [-1]), y_pred, from_logits=True)
        return _PerExampleLoss(sparse_categorical_crossentropy,
                               name="sparse_categorical_crossentropy")

    def metrics(self) -> List[Any]:
        return [tf_keras.metrics.SparseCategoricalAccuracy(name="accuracy")]

    # ---- Export ----------------------------------------------------------------------
    def label_names(self, transform_output: tft.TFTransformOutput) -> List[str]:
        return [v.decode("utf-8") for v in transform_output.vocabulary_by_name(LABEL_VOCABULARY)]

    def predictions(self, logits: tf.Tensor, label_table: tf.Tensor) -> Dict[str, tf.Tensor]:
        """The serving outputs from the model's float32 logits."""
        probabilities = tf.nn.softmax(logits, axis=-1)
        label_ids = tf.argmax(probabilities, axis=-1, output_type=tf.int64)
        return {"probabilities": probabilities, "label_ids": label_ids,
                "labels": tf.gather(label_table, label_ids)}

    def eval_labels(self, transformed: Dict[str, Any], num_labels: int) -> Dict[str, Any]:
        """The transform_features signature's output (TFMA's labels) from the transformed
        features of labelled examples."""
        return transformed

    def serving_signatures(self, model, transform_output: tft.TFTransformOutput,
                           context: RunContext):
        text_inputs = self.serving_text_inputs(context.config)
        raw_spec = transform_output.raw_feature_spec()
        serving_spec = {column: raw_spec[column] for column in text_inputs.values()}
        # Attached to the model so the SavedModel tracks the transform graph and its tables.
        model.tft_layer = transform_output.transform_features_layer()
        model.tft_layer_eval = transform_output.transform_features_layer()
        label_names = self.label_names(transform_output)
        label_table = tf.constant(label_names, dtype=tf.string)

        def predict(raw_features):
            transformed = model.tft_layer(raw_features)
            logits = tf.cast(model_lib.call_on_ids(model)(
                model_lib.dense_sequence_features(transformed)), tf.float32)
            return self.predictions(logits, label_table)

        @model_lib.serving_function(
            input_signature=[tf.TensorSpec([None], tf.string, name="examples")])
        def serve_examples(examples):
            return predict(tf.io.parse_example(examples, serving_spec))

        text_specs = [tf.TensorSpec([None], tf.string, name=name) for name in text_inputs]

        @model_lib.serving_function(input_signature=text_specs)
        def serve_text(*texts):
            return predict({column: as_raw_feature(text, raw_spec[column])
                            for column, text in zip(text_inputs.values(), texts)})

        @model_lib.serving_function(
            input_signature=[tf.TensorSpec([None], tf.string, name="examples")])
        def transform_features(examples):
            # For TFMA: the transformed features (including the labels) of labelled examples.
            transformed = model.tft_layer_eval(tf.io.parse_example(examples, raw_spec))
            return self.eval_labels(transformed, len(label_names))

        return {
            "serving_default": serve_examples.get_concrete_function(),
            "serve_text": serve_text.get_concrete_function(),
            "transform_features": transform_features.get_concrete_function(),
            embedding.SIGNATURE_NAME: embedding.serve_embedding_signature(model, context),
        }

    # ---- Evaluator -------------------------------------------------------------------
    def eval_config(self, context: RunContext, label_counts: Mapping[str, int]) -> "tfma.EvalConfig":
        import tensorflow_model_analysis as tfma  # here: training does not need TFMA
        cfg = context.config
        # The gate's bars (gate_bars below) are checked by components/blessing_gate.py; TFMA
        # holds only the change threshold against the last blessed model.
        accuracy = tfma.MetricConfig(
            class_name="SparseCategoricalAccuracy",
            threshold=tfma.MetricThreshold(
                change_threshold=tfma.GenericChangeThreshold(
                    direction=tfma.MetricDirection.HIGHER_IS_BETTER,
                    absolute={"value": -cfg.eval.max_accuracy_drop})))
        num_labels = max(len(self.label_order(context, label_counts)), 2)
        per_class = [tfma.MetricConfig(class_name="Precision"),
                     tfma.MetricConfig(class_name="Recall"),
                     tfma.MetricConfig(class_name="AUC")]
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

    def label_order(self, context: RunContext, label_counts: Mapping[str, int]) -> List[str]:
        """The labels in class-id order (the model's label vocabulary, trainer/label_order.py)."""
        labels = getattr(context, "labels", None)
        if labels:
            return list(labels)
        return label_order.label_vocabulary(context.config, label_counts, task=self)

    def gate_bars(self, context: RunContext, label_counts: Mapping[str, int],
                  eval_label_counts: Mapping[str, int]) -> List[gate_bars.Bar]:
        cfg = context.config
        ids = gate_bars.label_ids_in_order(self.label_order(context, label_counts))
        return gate_bars.single_label_bars(eval_label_counts, ids, cfg.eval.min_accuracy,
                                           cfg.eval.chance_confidence)

    # ---- The run report's examples ---------------------------------------------------
    def example_outcomes(self, outputs, examples) -> ExampleOutcomes:
        """The predicted label against the true one; the confidence is the largest class
        probability."""
        column = self.config.data.label_column
        rows = []
        for example, p, predicted in zip(examples, outputs["probabilities"], outputs["labels"]):
            label = " ".join(str(v) for v in outcomes.values(example, column)).strip()
            predicted = outcomes.text(predicted)
            confidence = float(p.max())
            rows.append(ExampleOutcome(predicted, label, predicted == label, confidence,
                                       confidence))
        return ExampleOutcomes(ExampleView(), rows)


@register
class MultiLabelTextClassificationTask(TextClassificationTask):
    """`--multi-label`: several labels per text; the target is their multi-hot vector."""
    options = {"multi_label": True}
    label_feature = MULTI_LABEL_FEATURE
    single_label = False
    multi_label = True
    intended_use = "Assigns every applicable label below to a text."
    tuning_objective = TuningObjective("micro_f1", "max", "micro F1")
    problem_type = "multi_label_classification"

    def schema_free_columns(self, config) -> List[str]:
        """The text and the label cells: a cell is a set of labels, and the sets an eval split
        holds need not be those training had (each label is checked instead: RowChecks'
        known and declared labels)."""
        return super().schema_free_columns(config) + [self.raw_label_column(config)]

    @property
    def num_labels(self) -> int:
        """The width of the multi-hot target: the run's labels (RunContext.labels)."""
        if not self.labels:
            from pipeline_config import ConfigError
            raise ConfigError("--multi-label needs the run's labels (RunContext.labels)")
        return len(self.labels)

    def label_spec(self) -> Dict[str, Any]:
        return {MULTI_LABEL_FEATURE: tf.io.RaggedFeature(tf.int64)}

    def padding_values(self) -> Dict[str, Any]:
        return {MULTI_LABEL_FEATURE: -1}

    def split_features(self, example: Dict[str, tf.Tensor]):
        features = {name: tf.cast(example[name], tf.int32) for name in SEQUENCE_FEATURES}
        return features, multi_hot(example[MULTI_LABEL_FEATURE], self.num_labels)

    def preprocess_labels(self, inputs, context):
        cfg = context.config
        labels = tf.strings.strip(dense_strings(inputs[cfg.data.label_column]))
        parts = tf.strings.strip(tf.strings.split(labels, cfg.data.label_separator))
        parts = tf.ragged.boolean_mask(parts, tf.strings.length(parts) > 0)
        return {MULTI_LABEL_FEATURE: tft.compute_and_apply_vocabulary(
            parts.to_sparse(), vocab_filename=LABEL_VOCABULARY, num_oov_buckets=0,
            default_value=-1, reserved_tokens=list(context.labels) or None)}

    def build_model(self, context: RunContext, transform_output: tft.TFTransformOutput):
        vocabulary = self.num_outputs(transform_output)
        if self.context is not None and vocabulary != self.num_labels:
            from pipeline_config import ConfigError
            raise ConfigError(f"the label vocabulary has {vocabulary} labels, the run "
                              f"{self.num_labels} ({', '.join(self.labels)})")
        return super().build_model(context, transform_output)

    def loss(self):
        def sigmoid_cross_entropy(y_true, y_pred):
            logits = tf.cast(y_pred, tf.float32)
            truth = tf.cast(tf.reshape(y_true, tf.shape(logits)), tf.float32)
            return tf.reduce_mean(tf.nn.sigmoid_cross_entropy_with_logits(truth, logits),
                                  axis=-1)
        return _PerExampleLoss(sigmoid_cross_entropy, name="sigmoid_cross_entropy")

    def metrics(self) -> List[Any]:
        return [_MultiLabelF1("micro"), _MultiLabelF1("macro")]

    def predictions(self, logits, label_table):
        probabilities = tf.sigmoid(logits)
        chosen = probabilities >= MULTI_LABEL_THRESHOLD
        names = tf.ragged.boolean_mask(tf.broadcast_to(label_table, tf.shape(probabilities)),
                                       chosen)
        return {"probabilities": probabilities,
                "predictions": tf.cast(chosen, tf.int64),
                "labels": tf.strings.reduce_join(names, axis=-1,
                                                 separator=self.config.data.label_separator)}

    def eval_labels(self, transformed, num_labels):
        ids = transformed.pop(MULTI_LABEL_FEATURE)
        ids = tf.sparse.to_dense(ids, default_value=-1) if isinstance(
            ids, tf.SparseTensor) else ids
        transformed[MULTI_HOT_FEATURE] = tf.minimum(tf.reduce_sum(
            tf.one_hot(tf.cast(ids, tf.int32), num_labels), axis=1), 1.0)
        return transformed

    def eval_config(self, context, label_counts):
        return multi_label_eval_config(context.config, label_counts)

    def gate_bars(self, context, label_counts, eval_label_counts):
        cfg = context.config
        ids = gate_bars.label_ids_in_order(self.label_order(context, label_counts))
        return gate_bars.multi_label_bars(eval_label_counts, ids, cfg.data.label_separator,
                                          cfg.eval.min_accuracy, cfg.eval.chance_confidence)

    EXAMPLE_VIEW = ExampleView(
        label="true labels",
        correct_order="From the most to the least confident right set of labels.",
        confidence="confidence (the least sure label's max(p, 1 − p))")

    def example_outcomes(self, outputs, examples) -> ExampleOutcomes:
        """The predicted set of labels against the true set (data.label_separator between
        labels); right when they are the same set. The confidence of the set is that of its
        least sure label decision: the smallest max(p, 1 − p) over the labels."""
        separator = self.config.data.label_separator
        column = self.config.data.label_column

        def as_set(cells):
            return {part.strip() for cell in cells for part in str(cell).split(separator)
                    if part.strip()}

        def shown(labels):
            return separator.join(sorted(labels)) or "(none)"
        rows = []
        for example, p, predicted in zip(examples, outputs["probabilities"], outputs["labels"]):
            true = as_set(outcomes.values(example, column))
            chosen = as_set([outcomes.text(predicted)])
            confidence = float(np.min(np.maximum(p, 1.0 - p)))
            rows.append(ExampleOutcome(shown(chosen), shown(true), chosen == true, confidence,
                                       confidence))
        return ExampleOutcomes(self.EXAMPLE_VIEW, rows)


@register
class RegressionTextClassificationTask(TextClassificationTask):
    """`--regression`: a float label per text (e.g. a similarity score); MSE loss."""
    options = {"regression": True}
    label_feature = REGRESSION_FEATURE
    has_classes = False
    single_label = False
    calibrated = False
    intended_use = "Predicts a numeric score for a text."
    baseline_description = "TF-IDF linear regression over WordPiece ids"
    # The loss is the mean squared error (the gate's headline metric).
    tuning_objective = TuningObjective("loss", "min", "MSE")
    problem_type = "regression"

    def label_slice_column(self, config=None):
        return None

    def label_spec(self) -> Dict[str, Any]:
        return {REGRESSION_FEATURE: tf.io.FixedLenFeature([], tf.float32)}

    def split_features(self, example):
        features = {name: tf.cast(example[name], tf.int32) for name in SEQUENCE_FEATURES}
        return features, tf.cast(example[REGRESSION_FEATURE], tf.float32)

    def preprocess_labels(self, inputs, context):
        return {REGRESSION_FEATURE: dense_floats(inputs[context.config.data.label_column])}

    def num_outputs(self, transform_output):
        return 1

    def loss(self):
        def mse(y_true, y_pred):
            y_pred = tf.reshape(tf.cast(y_pred, tf.float32), [-1])
            return tf.square(y_pred - tf.reshape(tf.cast(y_true, tf.float32), [-1]))
        return _PerExampleLoss(mse, name="mse")

    def metrics(self) -> List[Any]:
        return [_Pearson(name="pearson")]

    def label_names(self, transform_output):
        return []

    def predictions(self, logits, label_table):
        return {"score": tf.reshape(logits, [-1])}

    def eval_config(self, context, label_counts):
        return regression_eval_config(context.config, label_counts)

    def gate_bars(self, context, label_counts, eval_label_counts):
        return gate_bars.regression_bars(label_counts, eval_label_counts,
                                         context.config.eval.chance_confidence)

    EXAMPLE_VIEW = ExampleView(
        score="absolute error", label="true value", mistakes="largest errors",
        mistakes_order="largest first",
        correct="Best-predicted examples", correct_order="The smallest absolute errors.",
        right_or_wrong=False, confidence=None)

    def example_outcomes(self, outputs, examples) -> ExampleOutcomes:
        """The predicted value against the true one, ranked by the absolute error (a
        prediction is not right or wrong, only more or less off; no reliability diagram). An
        example without a numeric label has no outcome."""
        column = self.config.data.label_column
        rows: List[Optional[ExampleOutcome]] = []
        for example, value in zip(examples, outputs["score"]):
            raw = outcomes.values(example, column)
            try:
                true = float(str(raw[0]).strip())
            except (IndexError, ValueError):
                rows.append(None)
                continue
            value = float(value)
            rows.append(ExampleOutcome(f"{value:.4g}", f"{true:.4g}", None, abs(value - true)))
        return ExampleOutcomes(self.EXAMPLE_VIEW, rows)


def _model_spec(label_key: str, prediction_key: str) -> "tfma.ModelSpec":
    import tensorflow_model_analysis as tfma  # here: training does not need TFMA
    return tfma.ModelSpec(signature_name="serving_default", label_key=label_key,
                          prediction_key=prediction_key,
                          preprocessing_function_names=["transform_features"])


REGRESSION_METRICS = "trainer.regression_metrics"


def regression_eval_config(cfg, label_counts: Mapping[str, int]) -> "tfma.EvalConfig":
    """MSE, MAE, Pearson and Spearman; MSE may not rise against the last blessed model by more
    than eval.max_accuracy_drop times the training labels' variance."""
    import tensorflow_model_analysis as tfma  # here: training does not need TFMA
    values, weights = [], []
    for value, count in label_counts.items():
        try:
            values.append(float(value))
            weights.append(count)
        except ValueError:
            continue
    total = sum(weights) or 1
    mean = sum(v * w for v, w in zip(values, weights)) / total
    variance = sum(w * (v - mean) ** 2 for v, w in zip(values, weights)) / total
    mse = tfma.MetricConfig(
        class_name="MeanSquaredError",
        threshold=tfma.MetricThreshold(
            change_threshold=tfma.GenericChangeThreshold(
                direction=tfma.MetricDirection.LOWER_IS_BETTER,
                absolute={"value": cfg.eval.max_accuracy_drop * max(variance, 1e-12)})))
    return tfma.EvalConfig(
        model_specs=[_model_spec(REGRESSION_FEATURE, "score")],
        slicing_specs=[tfma.SlicingSpec()],
        metrics_specs=[tfma.MetricsSpec(metrics=[
            tfma.MetricConfig(class_name="ExampleCount"), mse,
            tfma.MetricConfig(class_name="MeanAbsoluteError"),
            tfma.MetricConfig(class_name="PearsonCorrelation", module=REGRESSION_METRICS),
            tfma.MetricConfig(class_name="SpearmanCorrelation", module=REGRESSION_METRICS)])])


def multi_label_eval_config(cfg, label_counts: Mapping[str, int]) -> "tfma.EvalConfig":
    """Micro F1 (threshold 0.5), per-label F1 and AUC (the gate's chance bar), macro F1."""
    import tensorflow_model_analysis as tfma  # here: training does not need TFMA
    per_label: Dict[str, int] = {}
    examples = 0
    for cell, count in label_counts.items():
        examples += count
        for label in {p.strip() for p in cell.split(cfg.data.label_separator) if p.strip()}:
            per_label[label] = per_label.get(label, 0) + count
    num_labels = max(len(per_label), 1)
    micro = tfma.MetricConfig(
        class_name="F1Score",
        threshold=tfma.MetricThreshold(
            change_threshold=tfma.GenericChangeThreshold(
                direction=tfma.MetricDirection.HIGHER_IS_BETTER,
                absolute={"value": -cfg.eval.max_accuracy_drop})))
    class_ids = tfma.BinarizationOptions(class_ids={"values": list(range(num_labels))})
    return tfma.EvalConfig(
        model_specs=[_model_spec(MULTI_HOT_FEATURE, "probabilities")],
        slicing_specs=[tfma.SlicingSpec()],
        metrics_specs=[
            tfma.MetricsSpec(metrics=[tfma.MetricConfig(class_name="ExampleCount")]),
            tfma.MetricsSpec(metrics=[micro],
                             aggregate=tfma.AggregationOptions(micro_average=True)),
            tfma.MetricsSpec(metrics=[tfma.MetricConfig(class_name="AUC")], binarize=class_ids),
            tfma.MetricsSpec(metrics=[tfma.MetricConfig(class_name="F1Score")], binarize=class_ids,
                             aggregate=tfma.AggregationOptions(
                                 macro_average=True,
                                 class_weights={i: 1.0 for i in range(num_labels)})),
        ])


def as_raw_feature(values: tf.Tensor, spec) -> Any:
    """A [batch] string tensor shaped like the raw feature spec Transform was built with."""
    if isinstance(spec, tf.io.FixedLenFeature):
        return tf.reshape(values, [-1] + list(spec.shape))
    # VarLenFeature: one value per row, kept even when it is the empty string.
    batch = tf.shape(values, out_type=tf.int64)[0]
    indices = tf.stack([tf.range(batch), tf.zeros([batch], tf.int64)], axis=1)
    return tf.SparseTensor(indices, values, dense_shape=tf.stack([batch, 1]))
