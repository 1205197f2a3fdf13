"""Single-text classification: one label per text, softmax head, accuracy/AUC/per-class P/R.

Two variants (task_options): `multi_label` (several labels per text, separated by
data.label_separator; sigmoid head, a label is predicted when its probability is >= 0.5;
micro/macro F1) and `regression` (a float label, e.g. a similarity score; MSE loss;
Pearson, Spearman and MSE). Every variant also exports `serve_embedding`.
"""
import math
from typing import Any, Dict, List, Mapping, Optional, TYPE_CHECKING

import tensorflow as tf
import tensorflow_text  # noqa: F401  (TF Text ops must be registered wherever this runs)
import tensorflow_transform as tft
import tf_keras

from trainer import embedding
from trainer import model as model_lib
from trainer import tokenization
from trainer.features import dense_strings
from trainer.run_context import RunContext
from trainer.tasks.base import SEQUENCE_FEATURES, Task

if TYPE_CHECKING:  # TFMA (~150 MiB of imports) only where eval configs are built
    import tensorflow_model_analysis as tfma

LABEL_VOCABULARY = "label"
SINGLE_LABEL, MULTI_LABEL, REGRESSION = "single_label", "multi_label", "regression"
# Transformed label features of the variants (single-label keeps `label_id`).
MULTI_LABEL_FEATURE = "label_ids"        # int64 list: the ids of the example's labels
MULTI_HOT_FEATURE = "label_multi_hot"    # float [labels], only in transform_features (TFMA)
REGRESSION_FEATURE = "label_value"       # float
MULTI_LABEL_THRESHOLD = 0.5


def label_mode(config) -> str:
    options = config.task_options
    if options.multi_label and options.regression:
        from pipeline_config import ConfigError
        raise ConfigError("--multi-label and --regression cannot be combined")
    return MULTI_LABEL if options.multi_label else REGRESSION if options.regression else SINGLE_LABEL


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


# Labels beyond this many cannot be packed into one int64 target (multi-label only).
MAX_MULTI_LABELS = 63
_NO_LABEL_ID = -2  # label_id's parse default: the example has no single label (other variants)


class _PackedTargets:
    """Every variant's target as one int64 per example, so the data pipeline (which knows no
    config) needs no variant: single-label the label id (unchanged), regression the float32's
    bits, multi-label a bit mask of the label ids (bit i = label i)."""

    @staticmethod
    def pack(example):
        label_id = tf.cast(example["label_id"], tf.int64)
        value = tf.cast(example[REGRESSION_FEATURE], tf.float32)
        ids = tf.cast(example[MULTI_LABEL_FEATURE], tf.int64)  # [batch, n], -1 pads
        bits = tf.where(ids >= 0, tf.bitwise.left_shift(tf.ones_like(ids), tf.maximum(ids, 0)),
                        tf.zeros_like(ids))
        mask = tf.reduce_sum(bits, axis=1)  # distinct ids: sum == bitwise or
        value_bits = tf.cast(tf.bitcast(value, tf.int32), tf.int64)
        return tf.where(~tf.math.is_nan(value), value_bits,
                        tf.where(label_id != _NO_LABEL_ID, label_id, mask))

    @staticmethod
    def single(y):
        return tf.reshape(tf.cast(y, tf.int64), [-1])

    @staticmethod
    def value(y):
        return tf.bitcast(tf.cast(tf.reshape(y, [-1]), tf.int32), tf.float32)

    @staticmethod
    def multi_hot(y, num_labels):
        y = tf.reshape(tf.cast(y, tf.int64), [-1, 1])
        shifts = tf.range(num_labels, dtype=tf.int64)[None, :]
        return tf.cast(tf.bitwise.bitwise_and(tf.bitwise.right_shift(y, shifts), 1), tf.float32)


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
        truth = _PackedTargets.multi_hot(y_true, num_labels)
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
        y = tf.cast(_PackedTargets.value(y_true), tf.float64)
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


class TextClassificationTask(Task):
    name = "text-classification"
    label_feature = "label_id"
    # Set by build_model (always called before loss() and metrics()).
    _mode = SINGLE_LABEL

    # ---- Inputs (the text-pair task overrides these) ----------------------------------
    def serving_text_inputs(self, config) -> Dict[str, str]:
        """Signature input name of serve_text -> raw column it feeds."""
        return {"text": config.data.text_column}

    def encode(self, encoder: tokenization.WordPieceEncoder, texts: Dict[str, tf.Tensor],
               config) -> Dict[str, tf.RaggedTensor]:
        """Token ids from the dense raw text columns (keyed by column)."""
        return encoder.encode(texts[config.data.text_column], config.model.max_seq_length)

    # ---- Data hooks ------------------------------------------------------------------
    def label_spec(self) -> Dict[str, Any]:
        # Every variant's features; the ones a variant does not write take their defaults.
        return {self.label_feature: tf.io.FixedLenFeature([], tf.int64,
                                                          default_value=_NO_LABEL_ID),
                REGRESSION_FEATURE: tf.io.FixedLenFeature([], tf.float32,
                                                          default_value=float("nan")),
                MULTI_LABEL_FEATURE: tf.io.RaggedFeature(tf.int64)}

    def padding_values(self) -> Dict[str, Any]:
        return {MULTI_LABEL_FEATURE: -1}

    def split_features(self, example: Dict[str, tf.Tensor]):
        features = {name: tf.cast(example[name], tf.int32) for name in SEQUENCE_FEATURES}
        return features, _PackedTargets.pack(example)

    # ---- Transform -------------------------------------------------------------------
    def preprocess(self, inputs: Dict[str, Any], context: RunContext) -> Dict[str, Any]:
        cfg = context.config
        encoder = tokenization.WordPieceEncoder(
            tokenization.load_vocab(f"{context.checkpoint_dir}/vocab.txt"), context.lower_case)
        texts = {column: dense_strings(inputs[column])
                 for column in self.serving_text_inputs(cfg).values()}
        encoded = self.encode(encoder, texts, cfg)
        outputs = {name: encoded[name].to_sparse() for name in SEQUENCE_FEATURES}
        mode = label_mode(cfg)
        if mode == REGRESSION:
            outputs[REGRESSION_FEATURE] = dense_floats(inputs[cfg.data.label_column])
            return outputs
        labels = tf.strings.strip(dense_strings(inputs[cfg.data.label_column]))
        if mode == MULTI_LABEL:
            parts = tf.strings.strip(tf.strings.split(labels, cfg.data.label_separator))
            parts = tf.ragged.boolean_mask(parts, tf.strings.length(parts) > 0)
            outputs[MULTI_LABEL_FEATURE] = tft.compute_and_apply_vocabulary(
                parts.to_sparse(), vocab_filename=LABEL_VOCABULARY, num_oov_buckets=0,
                default_value=-1)
            return outputs
        # The label vocabulary is learned from the training split and saved with the
        # transform graph; an unseen label maps to -1 (the schema check catches it first).
        outputs[self.label_feature] = tft.compute_and_apply_vocabulary(
            labels, vocab_filename=LABEL_VOCABULARY, num_oov_buckets=0, default_value=-1)
        return outputs

    # ---- Trainer ---------------------------------------------------------------------
    def set_label_mode(self, config) -> str:
        """Picks the label variant that loss() and metrics() serve; build_model calls it, and so
        does any other model trained on this task's features (the in-pipeline baseline)."""
        self._mode = label_mode(config)
        return self._mode

    def build_model(self, context: RunContext, transform_output: tft.TFTransformOutput):
        self.set_label_mode(context.config)
        if self._mode == REGRESSION:
            return model_lib.build_sequence_classifier(context.checkpoint_dir, 1, "regression")
        num_labels = transform_output.vocabulary_size_by_name(LABEL_VOCABULARY)
        if self._mode == MULTI_LABEL and num_labels > MAX_MULTI_LABELS:
            from pipeline_config import ConfigError
            raise ConfigError(f"--multi-label supports at most {MAX_MULTI_LABELS} labels, "
                              f"the training data has {num_labels}")
        problem = ("multi_label_classification" if self._mode == MULTI_LABEL
                   else "single_label_classification")
        return model_lib.build_sequence_classifier(context.checkpoint_dir, num_labels, problem)

    def loss(self):
        mode = self._mode
        if mode == REGRESSION:
            def mse(y_true, y_pred):
                y_pred = tf.reshape(tf.cast(y_pred, tf.float32), [-1])
                return tf.square(y_pred - _PackedTargets.value(y_true))
            return _PerExampleLoss(mse, name="mse")
        if mode == MULTI_LABEL:
            def sigmoid_cross_entropy(y_true, y_pred):
                logits = tf.cast(y_pred, tf.float32)
                truth = _PackedTargets.multi_hot(y_true, logits.shape[-1])
                return tf.reduce_mean(tf.nn.sigmoid_cross_entropy_with_logits(truth, logits),
                                      axis=-1)
            return _PerExampleLoss(sigmoid_cross_entropy,
                                                       name="sigmoid_cross_entropy")
        def sparse_categorical_crossentropy(y_true, y_pred):
            return tf_keras.losses.sparse_categorical_crossentropy(
                _PackedTargets.single(y_true), y_pred, from_logits=True)
        return _PerExampleLoss(sparse_categorical_crossentropy,
                                                   name="sparse_categorical_crossentropy")

    def metrics(self) -> List[Any]:
        if self._mode == REGRESSION:
            return [_Pearson(name="pearson")]
        if self._mode == MULTI_LABEL:
            return [_MultiLabelF1("micro"), _MultiLabelF1("macro")]
        return [tf_keras.metrics.SparseCategoricalAccuracy(name="accuracy")]

    # ---- Export ----------------------------------------------------------------------
    def serving_signatures(self, model, transform_output: tft.TFTransformOutput,
                           context: RunContext):
        mode = label_mode(context.config)
        text_inputs = self.serving_text_inputs(context.config)
        raw_spec = transform_output.raw_feature_spec()
        serving_spec = {column: raw_spec[column] for column in text_inputs.values()}
        # Attached to the model so the SavedModel tracks the transform graph and its tables.
        model.tft_layer = transform_output.transform_features_layer()
        model.tft_layer_eval = transform_output.transform_features_layer()
        if mode == REGRESSION:
            label_names = []
        else:
            label_names = [v.decode("utf-8") for v in
                           transform_output.vocabulary_by_name(LABEL_VOCABULARY)]
        label_table = tf.constant(label_names, dtype=tf.string)
        separator = context.config.data.label_separator

        def predict(raw_features):
            transformed = model.tft_layer(raw_features)
            logits = tf.cast(model(model_lib.dense_sequence_features(transformed),
                                   training=False), tf.float32)
            if mode == REGRESSION:
                return {"score": tf.reshape(logits, [-1])}
            if mode == MULTI_LABEL:
                probabilities = tf.sigmoid(logits)
                chosen = probabilities >= MULTI_LABEL_THRESHOLD
                names = tf.ragged.boolean_mask(
                    tf.broadcast_to(label_table, tf.shape(probabilities)), chosen)
                return {"probabilities": probabilities,
                        "predictions": tf.cast(chosen, tf.int64),
                        "labels": tf.strings.reduce_join(names, axis=-1, separator=separator)}
            probabilities = tf.nn.softmax(logits, axis=-1)
            label_ids = tf.argmax(probabilities, axis=-1, output_type=tf.int64)
            return {"probabilities": probabilities, "label_ids": label_ids,
                    "labels": tf.gather(label_table, label_ids)}

        @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="examples")])
        def serve_examples(examples):
            return predict(tf.io.parse_example(examples, serving_spec))

        text_specs = [tf.TensorSpec([None], tf.string, name=name) for name in text_inputs]

        @tf.function(input_signature=text_specs)
        def serve_text(*texts):
            return predict({column: as_raw_feature(text, raw_spec[column])
                            for column, text in zip(text_inputs.values(), texts)})

        @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="examples")])
        def transform_features(examples):
            # For TFMA: the transformed features (including the labels) of labelled examples.
            transformed = model.tft_layer_eval(tf.io.parse_example(examples, raw_spec))
            if mode == MULTI_LABEL:
                ids = transformed.pop(MULTI_LABEL_FEATURE)
                ids = tf.sparse.to_dense(ids, default_value=-1) if isinstance(
                    ids, tf.SparseTensor) else ids
                transformed[MULTI_HOT_FEATURE] = tf.minimum(tf.reduce_sum(
                    tf.one_hot(tf.cast(ids, tf.int32), len(label_names)), axis=1), 1.0)
            return transformed

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
        mode = label_mode(cfg)
        if mode == REGRESSION:
            return regression_eval_config(cfg, label_counts)
        if mode == MULTI_LABEL:
            return multi_label_eval_config(cfg, label_counts)
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


def _model_spec(label_key: str, prediction_key: str) -> "tfma.ModelSpec":
    import tensorflow_model_analysis as tfma  # here: training does not need TFMA
    return tfma.ModelSpec(signature_name="serving_default", label_key=label_key,
                          prediction_key=prediction_key,
                          preprocessing_function_names=["transform_features"])


REGRESSION_METRICS = "trainer.regression_metrics"


def regression_eval_config(cfg, label_counts: Mapping[str, int]) -> "tfma.EvalConfig":
    """MSE must beat predicting the training mean (MSE = variance of the training labels)."""
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
    bar = variance if math.isfinite(variance) and variance > 0 else float("inf")
    mse = tfma.MetricConfig(
        class_name="MeanSquaredError",
        threshold=tfma.MetricThreshold(
            value_threshold=tfma.GenericValueThreshold(upper_bound={"value": bar}),
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
    """Micro F1 (threshold 0.5) must beat predicting every label for every text
    (micro F1 2p/(1+p) with p the share of positive label cells), or eval.min_accuracy."""
    import tensorflow_model_analysis as tfma  # here: training does not need TFMA
    per_label: Dict[str, int] = {}
    examples = 0
    for cell, count in label_counts.items():
        examples += count
        for label in {p.strip() for p in cell.split(cfg.data.label_separator) if p.strip()}:
            per_label[label] = per_label.get(label, 0) + count
    num_labels = max(len(per_label), 1)
    p = sum(per_label.values()) / max(examples * num_labels, 1)
    bar = cfg.eval.min_accuracy if cfg.eval.min_accuracy is not None else 2 * p / (1 + p) + 1e-6
    micro = tfma.MetricConfig(
        class_name="F1Score",
        threshold=tfma.MetricThreshold(
            value_threshold=tfma.GenericValueThreshold(lower_bound={"value": bar}),
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
