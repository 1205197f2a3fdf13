"""Extractive question answering (SQuAD 1.1 and 2.0): start/end heads over context windows.

Data: records with `id`, `question`, `context` and `answers` = {"text": [...],
"answer_start": [...]} (JSON Lines, or a SQuAD JSON file read by components/readers/squad.py);
the reader stores the answers as the features `answers_text` (strings) and `answers_start`
(character offsets). No answer = an unanswerable (SQuAD 2.0) question.

Transform emits, per example, the windows of trainer/qa_features.py concatenated
(`input_ids`, `token_type_ids`, `attention_mask`), their lengths (`window_lengths`) and the
start/end token of the first answer in each window (0 = [CLS] when the window does not hold
it). The trainer's data pipeline turns every window into one training example (`flatten`).

Model: TFElectraForQuestionAnswering's start/end heads, logits stacked as [B, T, 2]; loss =
mean of the start and end cross-entropies. Serving (`serve_text`: question, context ->
answer, score, start, end) computes the windows and decodes the best span in the graph.
"""
from typing import Any, Dict, List, TYPE_CHECKING

import tensorflow as tf
import tensorflow_text  # noqa: F401  (TF Text ops must be registered wherever this runs)
import tensorflow_transform as tft
import tf_keras

from trainer import model as model_lib
from trainer import qa_features, ragged_rows
from trainer import tokenization
from trainer.features import SEQUENCE_FEATURES, dense_strings
from trainer.run_context import RunContext
from trainer import qa_postprocess
from trainer.tasks import outcomes, register
from trainer.tasks.base import Task, TuningObjective
from trainer.tasks.outcomes import ExampleOutcome, ExampleOutcomes, ExampleView

if TYPE_CHECKING:  # TFMA (~150 MiB of imports) only where eval configs are built
    import tensorflow_model_analysis as tfma

WINDOW_FEATURES = ("window_lengths", "start_positions", "end_positions")


def answer_columns(config):
    """The two features the readers make of the nested `answers` object."""
    column = config.data.answers_column
    return f"{column}_text", f"{column}_start"


def first_int(feature: Any, default: int = -1) -> tf.Tensor:
    """The first value of an int column per example as a dense [batch] int64 tensor."""
    if isinstance(feature, tf.SparseTensor):
        feature = tf.sparse.to_dense(feature, default_value=default)
    elif isinstance(feature, tf.RaggedTensor):
        feature = feature.to_tensor(default_value=default)
    feature = tf.cast(feature, tf.int64)
    if feature.shape.rank == 2:
        feature = tf.cond(tf.shape(feature)[1] > 0, lambda: feature[:, 0],
                          lambda: tf.fill([tf.shape(feature)[0]], tf.constant(default, tf.int64)))
    return feature


def span_loss(y_true, y_pred):
    """Mean of the start and end cross-entropies; y_true [B, 2], y_pred logits [B, T, 2]."""
    y_true = tf.cast(y_true, tf.int32)
    y_pred = tf.cast(y_pred, tf.float32)
    start = tf_keras.losses.sparse_categorical_crossentropy(
        y_true[:, 0], y_pred[:, :, 0], from_logits=True)
    end = tf_keras.losses.sparse_categorical_crossentropy(
        y_true[:, 1], y_pred[:, :, 1], from_logits=True)
    return (start + end) / 2.0


def span_exact_match(y_true, y_pred):
    """1 when both the arg-max start and end token equal the labels (per window)."""
    y_true = tf.cast(y_true, tf.int64)
    predicted = tf.argmax(y_pred, axis=1)  # [B, 2]
    return tf.cast(tf.reduce_all(tf.equal(predicted, y_true), axis=1), tf.float32)


def make_featurizer(context: RunContext) -> qa_features.QAFeaturizer:
    encoder = tokenization.WordPieceEncoder(
        tokenization.load_vocab(f"{context.checkpoint_dir}/vocab.txt"), context.lower_case)
    return qa_features.QAFeaturizer(encoder, context.config.model.max_seq_length,
                                    context.config.task_options.doc_stride)


def predict_answers(model, featurizer: qa_features.QAFeaturizer, questions, contexts,
                    options) -> Dict[str, tf.Tensor]:
    """Windows, the model on every window, and span decoding: all TensorFlow ops."""
    windows = featurizer.windows(questions, contexts)
    inputs = {name: tf.cast(windows[name].to_tensor(default_value=0), tf.int32)
              for name in SEQUENCE_FEATURES}
    logits = model_lib.call_on_ids(model)(inputs)
    return qa_features.decode_spans(
        logits[:, :, 0], logits[:, :, 1],
        windows["char_starts"].to_tensor(default_value=-1),
        windows["char_ends"].to_tensor(default_value=-1),
        windows["window_example"], contexts,
        n_best_size=options.n_best_size, max_answer_length=options.max_answer_length,
        null_score_threshold=options.null_score_threshold)


@register
class QuestionAnsweringTask(Task):
    name = "question-answering"
    label_feature = "start_positions"
    intended_use = ("Extracts the answer to a question from a given context "
                    "(or answers nothing when the context holds none).")
    baseline_module = "components.baseline.span_heuristic"
    baseline_description = "the first words of the context (median training answer length)"
    # The gate's F1 needs the answers decoded from the windows (TFMA, trainer/qa_metrics.py);
    # the trials compare what the training graph measures: start and end tokens both right.
    tuning_objective = TuningObjective("span_exact_match", "max", "span exact match")

    # ---- Data hooks (the raw columns: trainer/tasks/__init__.py's Traits) -------
    def label_spec(self) -> Dict[str, Any]:
        return {name: tf.io.RaggedFeature(tf.int64) for name in WINDOW_FEATURES}

    def flatten(self, ds: tf.data.Dataset) -> tf.data.Dataset:
        """One record per question -> one example per window."""
        def windows(example):
            ends = tf.cumsum(example["window_lengths"])
            starts = ends - example["window_lengths"]

            def window(start, end, start_position, end_position):
                out = {name: example[name][start:end] for name in SEQUENCE_FEATURES}
                out["start_positions"] = start_position
                out["end_positions"] = end_position
                return out
            return tf.data.Dataset.from_tensor_slices(
                (starts, ends, example["start_positions"], example["end_positions"])).map(window)
        return ds.flat_map(windows)

    def split_features(self, example: Dict[str, tf.Tensor]):
        features = {name: tf.cast(example[name], tf.int32) for name in SEQUENCE_FEATURES}
        targets = tf.stack([example["start_positions"], example["end_positions"]], axis=1)
        return features, targets

    # ---- Transform -------------------------------------------------------------------
    def preprocess(self, inputs: Dict[str, Any], context: RunContext) -> Dict[str, Any]:
        cfg = context.config
        text_column, start_column = answer_columns(cfg)
        batch = tf.shape(dense_strings(inputs[cfg.data.question_column]))[0]
        answer_texts = (dense_strings(inputs[text_column]) if text_column in inputs
                        else tf.fill([batch], ""))
        answer_starts = (first_int(inputs[start_column]) if start_column in inputs
                         else tf.fill([batch], tf.constant(-1, tf.int64)))
        windows = make_featurizer(context).windows(
            dense_strings(inputs[cfg.data.question_column]),
            dense_strings(inputs[cfg.data.context_column]), answer_starts, answer_texts)
        rows = windows["window_example"]
        nrows = tf.cast(batch, tf.int64)

        def per_example(values):
            return tf.RaggedTensor.from_value_rowids(values, rows, nrows=nrows, validate=False)

        outputs = {name: ragged_rows.merge_inner(per_example(windows[name])).to_sparse()
                   for name in SEQUENCE_FEATURES}
        outputs["window_lengths"] = per_example(windows["input_ids"].row_lengths()).to_sparse()
        outputs["start_positions"] = per_example(windows["start_positions"]).to_sparse()
        outputs["end_positions"] = per_example(windows["end_positions"]).to_sparse()
        return outputs

    # ---- Trainer ---------------------------------------------------------------------
    def build_model(self, context: RunContext, transform_output: tft.TFTransformOutput):
        return model_lib.build_span_extractor(context.checkpoint_dir)

    def loss(self):
        return span_loss

    def metrics(self) -> List[Any]:
        return [span_exact_match]

    # ---- Export ----------------------------------------------------------------------
    def serving_text_inputs(self, config) -> Dict[str, str]:
        return {"question": config.data.question_column, "context": config.data.context_column}

    def serving_signatures(self, model, transform_output: tft.TFTransformOutput,
                           context: RunContext):
        cfg = context.config
        options = cfg.task_options
        # Attached to the model so the SavedModel tracks the vocabulary table.
        model.qa_featurizer = make_featurizer(context)
        question_column, context_column = cfg.data.question_column, cfg.data.context_column
        spec = {question_column: tf.io.FixedLenFeature([], tf.string, default_value=""),
                context_column: tf.io.FixedLenFeature([], tf.string, default_value="")}

        @model_lib.serving_function(input_signature=[
            tf.TensorSpec([None], tf.string, name="question"),
            tf.TensorSpec([None], tf.string, name="context")])
        def serve_text(question, context):
            return predict_answers(model, model.qa_featurizer, question, context, options)

        @model_lib.serving_function(
            input_signature=[tf.TensorSpec([None], tf.string, name="examples")])
        def serve_examples(examples):
            raw = tf.io.parse_example(examples, spec)
            return predict_answers(model, model.qa_featurizer, raw[question_column],
                                   raw[context_column], options)

        return {
            "serving_default": serve_examples.get_concrete_function(),
            "serve_text": serve_text.get_concrete_function(),
        }

    # ---- Evaluator -------------------------------------------------------------------
    def eval_config(self, context: RunContext, label_counts) -> "tfma.EvalConfig":
        """SQuAD EM/F1 (fractions) of the served answers against the raw `answers_text`.

        Blessing (gate_bars): F1 above `eval.min_accuracy` (default: 0, some answer overlaps)
        and above the span heuristic's; here only the change threshold: F1 may not drop more
        than `eval.max_accuracy_drop` against the last blessed model.
        """
        import tensorflow_model_analysis as tfma  # here: training does not need TFMA
        from trainer import qa_metrics

        cfg = context.config
        module = qa_metrics.__name__
        return tfma.EvalConfig(
            model_specs=[tfma.ModelSpec(signature_name="serving_default",
                                        label_key=answer_columns(cfg)[0],
                                        prediction_key="answer")],
            slicing_specs=[tfma.SlicingSpec()],
            metrics_specs=[tfma.MetricsSpec(metrics=[
                tfma.MetricConfig(class_name="ExampleCount"),
                tfma.MetricConfig(class_name="SquadExactMatch", module=module),
                tfma.MetricConfig(
                    class_name="SquadF1", module=module,
                    threshold=tfma.MetricThreshold(
                        change_threshold=tfma.GenericChangeThreshold(
                            direction=tfma.MetricDirection.HIGHER_IS_BETTER,
                            absolute={"value": -cfg.eval.max_accuracy_drop}))),
            ])])

    def gate_bars(self, context: RunContext, label_counts, eval_label_counts):
        from trainer import gate_bars
        return gate_bars.span_bars(context.config.eval.min_accuracy)

    # ---- The run report's examples ---------------------------------------------------
    _RIGHT = "right: the same as a gold answer after SQuAD normalisation"
    SCORED_VIEW = ExampleView(
        score="span score", label="gold answers",
        mistakes="wrong answers with the highest span scores",
        mistakes_order=f"highest span score (start + end logit) first; {_RIGHT}",
        correct="Correct answers",
        correct_order="From the highest to the lowest span score.", confidence=None)
    UNSCORED_VIEW = ExampleView(
        score="1 − F1", label="gold answers",
        mistakes="wrong answers with the least overlap with a gold answer",
        mistakes_order=f"least word overlap (SQuAD F1) first; {_RIGHT}",
        correct="Correct answers", correct_order="In the order of the eval split.",
        confidence=None)

    def example_outcomes(self, outputs, examples) -> ExampleOutcomes:
        """The answer against the gold answers (none: unanswerable), right on an exact match
        after SQuAD's normalisation (trainer/qa_postprocess.py, as the Evaluator's exact
        match); ranked by the served span score (not a probability: no reliability diagram),
        else by how little the answer overlaps a gold one."""
        column = answer_columns(self.config)[0]
        scores = outputs.get("score")
        rows = []
        for i, example in enumerate(examples):
            golds = list(dict.fromkeys(outcomes.values(example, column)))
            answer = outcomes.text(outputs["answer"][i])
            right = qa_postprocess.max_over_golds(qa_postprocess.exact_match, answer, golds)
            if scores is not None:
                score = float(scores[i])
            else:
                score = 1.0 - qa_postprocess.max_over_golds(qa_postprocess.f1, answer, golds)
            shown = [g for g in golds if qa_postprocess.normalize_answer(g)]
            rows.append(ExampleOutcome(answer or "(no answer)",
                                       " | ".join(shown) or "(no answer)", right == 1.0, score))
        return ExampleOutcomes(self.SCORED_VIEW if scores is not None else self.UNSCORED_VIEW,
                               rows)
