"""Token classification (e.g. named-entity recognition): one tag per word.

Data: JSON Lines `{"tokens": [...], "tags": [...]}` or CoNLL files (components/readers/conll.py).

* Transform tokenizes every word on its own with the checkpoint's WordPiece vocabulary and builds
  `[CLS] pieces [SEP]`; the word's tag id (a `tft.vocabulary` of the stripped tags) goes to its
  first piece, every other position gets -100 (ignored by the loss and the accuracy). Training
  sentences longer than `max_seq_length - 2` pieces are truncated (as HuggingFace does).
* Serving tags every word, however long the sentence: the pieces are cut into windows of
  `max_seq_length - 2` pieces that overlap by half a window, and each word takes its tag from the
  window in which its first piece has the most context (the larger min(left, right) distance to
  the window's edges; the earlier window on a tie).
* Metrics: token accuracy; for BIO/IOB2 tag sets also strict entity-level precision, recall and
  F1 (seqeval semantics, trainer/entity_metrics.py), computed by TFMA in the Evaluator.
"""
from typing import Any, Dict, List, Mapping, TYPE_CHECKING

import tensorflow as tf
import tensorflow_text  # noqa: F401  (TF Text ops must be registered wherever this runs)
import tensorflow_transform as tft
import tf_keras

from trainer import model as model_lib
from trainer import ragged_rows, tokenization
from trainer.run_context import RunContext
from trainer.tasks import outcomes, register
from trainer.tasks.base import Task, TuningObjective
from trainer.tasks.outcomes import ExampleOutcome, ExampleOutcomes, ExampleView

if TYPE_CHECKING:  # TFMA (~150 MiB of imports) only where eval configs are built
    import tensorflow_model_analysis as tfma

TAG_VOCABULARY = "tags"
IGNORE_INDEX = -100
# Outputs of the serving signatures.
WORDS, TAGS, SCORES = "words", "tags", "scores"
# The transform_features signature's word-level gold tags (padded with ""), TFMA's label.
EVAL_TAGS = "word_tags"


def as_ragged(feature: Any) -> tf.RaggedTensor:
    """A raw list column ([batch, n] sparse, ragged or dense) as a ragged [batch, (n)]."""
    if isinstance(feature, tf.SparseTensor):
        ragged = tf.RaggedTensor.from_sparse(feature)
    elif isinstance(feature, tf.RaggedTensor):
        ragged = feature
        while ragged.ragged_rank > 1:
            ragged = ragged.merge_dims(1, 2)
    else:
        ragged = tf.RaggedTensor.from_tensor(tf.reshape(feature, [tf.shape(feature)[0], -1]))
    ragged = ragged.with_row_splits_dtype(tf.int64)
    if ragged.dtype != tf.string:
        ragged = ragged.with_flat_values(tf.strings.as_string(ragged.flat_values))
    return ragged


def word_pieces(encoder: tokenization.WordPieceEncoder, words: tf.RaggedTensor) -> tf.RaggedTensor:
    """string [B, (words)] -> int64 [B, (words), (pieces)]; a word without pieces becomes [UNK].

    Every word is tokenized separately (so a piece never spans two words).
    """
    flat = encoder.tokenize(words.flat_values)  # [N, (pieces)]
    empty = tf.cast(flat.row_lengths() == 0, tf.int64)
    unk = ragged_rows.from_lengths(
        tf.fill([tf.reduce_sum(empty)], tf.constant(encoder.unk_id, tf.int64)), empty)
    flat = ragged_rows.concat_rows([flat, unk])
    return tf.RaggedTensor.from_row_splits(flat, words.row_splits, validate=False)


def _wrap(ids: tf.RaggedTensor, first: int, last: int) -> tf.RaggedTensor:
    return ragged_rows.concat_rows([first, ids, last])


def window_stride(max_seq_length: int) -> int:
    return max(1, (max_seq_length - 2) // 2)


class MaskedTokenAccuracy(tf_keras.metrics.Metric):
    """Accuracy over the positions whose label is not -100 (first pieces of words)."""

    def __init__(self, name="token_accuracy", **kwargs):
        super().__init__(name=name, **kwargs)
        self.correct = self.add_weight(name="correct", initializer="zeros")
        self.total = self.add_weight(name="total", initializer="zeros")

    def update_state(self, y_true, y_pred, sample_weight=None):
        y_true = tf.cast(y_true, tf.int64)
        mask = tf.not_equal(y_true, IGNORE_INDEX)
        hits = tf.logical_and(mask, tf.equal(tf.argmax(y_pred, axis=-1), y_true))
        self.correct.assign_add(tf.reduce_sum(tf.cast(hits, tf.float32)))
        self.total.assign_add(tf.reduce_sum(tf.cast(mask, tf.float32)))

    def result(self):
        return tf.math.divide_no_nan(self.correct, self.total)

    def reset_state(self):
        self.correct.assign(0.0)
        self.total.assign(0.0)


def masked_sparse_categorical_crossentropy(y_true, y_pred):
    """Mean cross-entropy over the positions whose label is not -100."""
    y_true = tf.cast(y_true, tf.int64)
    mask = tf.not_equal(y_true, IGNORE_INDEX)
    losses = tf_keras.losses.sparse_categorical_crossentropy(
        tf.where(mask, y_true, 0), tf.cast(y_pred, tf.float32), from_logits=True)
    mask = tf.cast(mask, losses.dtype)
    return tf.math.divide_no_nan(tf.reduce_sum(losses * mask), tf.reduce_sum(mask))


@register
class TokenClassificationTask(Task):
    name = "token-classification"
    label_feature = "label_ids"
    has_classes = True
    label_vocabulary = TAG_VOCABULARY
    intended_use = "Tags every word of a sentence with one of the tags below."
    baseline_module = "components.baseline.tag_lookup"
    baseline_description = "the most frequent tag of each word"
    tuning_objective = TuningObjective("token_accuracy", "max", "token accuracy")

    def label_slice_column(self, config=None):
        return (config or self.config).data.tags_column

    # ---- Data hooks (the raw columns: trainer/tasks/__init__.py's Traits) -------
    def label_spec(self) -> Dict[str, Any]:
        return {self.label_feature: tf.io.RaggedFeature(tf.int64)}

    def padding_values(self) -> Dict[str, Any]:
        return {self.label_feature: IGNORE_INDEX}

    # ---- Transform -------------------------------------------------------------------
    def preprocess(self, inputs: Dict[str, Any], context: RunContext) -> Dict[str, Any]:
        cfg = context.config
        encoder = tokenization.WordPieceEncoder(
            tokenization.load_vocab(f"{context.checkpoint_dir}/vocab.txt"), context.lower_case)
        words = as_ragged(inputs[cfg.data.tokens_column])
        tags = as_ragged(inputs[cfg.data.tags_column])
        tags = tags.with_flat_values(tf.strings.strip(tags.flat_values))
        check = tf.debugging.assert_equal(
            words.row_lengths(), tags.row_lengths(),
            message=f"every example needs as many {cfg.data.tags_column!r} as "
                    f"{cfg.data.tokens_column!r}")
        # Tag ids in the natural order of the tag set known before the run (context.labels,
        # trainer/label_order.py), not the training split's frequency order. A constant made
        # here, outside the check's dependencies: the analyzer evaluates it without inputs.
        reserved = tf.constant(list(context.labels), tf.string) if context.labels else None
        with tf.control_dependencies([check]):
            tag_ids = tft.compute_and_apply_vocabulary(
                tf.identity(tags.flat_values), vocab_filename=TAG_VOCABULARY, num_oov_buckets=0,
                default_value=-1, reserved_tokens=reserved)
        pieces = word_pieces(encoder, words)  # [B, (W), (p)]
        per_word = pieces.values  # [N, (p)]
        is_first = tf.equal(tf.ragged.range(per_word.row_lengths()).flat_values, 0)
        piece_labels = tf.where(is_first, tf.gather(tag_ids, per_word.value_rowids()),
                                tf.constant(IGNORE_INDEX, tf.int64))
        body = cfg.model.max_seq_length - 2
        ids = ragged_rows.merge_inner(pieces)[:, :body]
        labels = ragged_rows.merge_inner(pieces.with_flat_values(piece_labels))[:, :body]
        input_ids = _wrap(ids, encoder.cls_id, encoder.sep_id)
        return {
            "input_ids": input_ids.to_sparse(),
            "token_type_ids": tf.zeros_like(input_ids).to_sparse(),
            "attention_mask": tf.ones_like(input_ids).to_sparse(),
            self.label_feature: _wrap(labels, IGNORE_INDEX, IGNORE_INDEX).to_sparse(),
        }

    # ---- Trainer ---------------------------------------------------------------------
    def build_model(self, context: RunContext, transform_output: tft.TFTransformOutput):
        num_tags = transform_output.vocabulary_size_by_name(TAG_VOCABULARY)
        return model_lib.build_token_classifier(context.checkpoint_dir, num_tags)

    def loss(self):
        return masked_sparse_categorical_crossentropy

    def metrics(self) -> List[Any]:
        return [MaskedTokenAccuracy()]

    # ---- Export ----------------------------------------------------------------------
    def serving_signatures(self, model, transform_output: tft.TFTransformOutput,
                           context: RunContext):
        cfg = context.config
        tag_names = [v.decode("utf-8") for v in transform_output.vocabulary_by_name(TAG_VOCABULARY)]
        tagger = WindowedTagger(model, context, tag_names)
        # Attached so the SavedModel tracks the tokenizer's table.
        model.token_tagger = tagger
        tokens_spec = {cfg.data.tokens_column: tf.io.VarLenFeature(tf.string)}
        tags_spec = {cfg.data.tags_column: tf.io.VarLenFeature(tf.string)}

        @model_lib.serving_function(
            input_signature=[tf.TensorSpec([None], tf.string, name="examples")])
        def serve_examples(examples):
            parsed = tf.io.parse_example(examples, tokens_spec)
            tokens = as_ragged(parsed[cfg.data.tokens_column])
            # The words are echoed back: valid UTF-8, as the encoder reads them.
            return tagger(tokens.with_flat_values(tokenization.valid_utf8(tokens.flat_values)))

        @model_lib.serving_function(input_signature=[tf.TensorSpec([None], tf.string, name="text")])
        def serve_text(text):
            return tagger(tokenization.whitespace_words(text))

        @model_lib.serving_function(
            input_signature=[tf.TensorSpec([None], tf.string, name="examples")])
        def transform_features(examples):
            # For TFMA: the gold tags of labelled examples, padded like the predicted tags.
            tags = as_ragged(tf.io.parse_example(examples, tags_spec)[cfg.data.tags_column])
            return {EVAL_TAGS: tags.with_flat_values(
                tf.strings.strip(tags.flat_values)).to_tensor(default_value="")}

        signatures = {
            "serving_default": serve_examples.get_concrete_function(),
            "serve_text": serve_text.get_concrete_function(),
            "transform_features": transform_features.get_concrete_function(),
        }
        try:
            from trainer import embedding
        except ImportError:  # pragma: no cover - trainer/embedding.py is optional
            embedding = None
        if embedding is not None:
            signatures[embedding.SIGNATURE_NAME] = embedding.serve_embedding_signature(model, context)
        return signatures

    # ---- Evaluator -------------------------------------------------------------------
    def eval_config(self, context: RunContext, label_counts: Mapping[str, int]) -> "tfma.EvalConfig":
        import tensorflow_model_analysis as tfma  # here: training does not need TFMA

        from trainer import entity_metrics  # its TFMA metrics import TFMA
        cfg = context.config
        module = entity_metrics.__name__
        # The gate's bars (gate_bars below) are checked by components/blessing_gate.py; TFMA
        # holds only the change threshold against the last blessed model.
        metrics = [
            tfma.MetricConfig(class_name="ExampleCount"),
            tfma.MetricConfig(
                class_name="TokenAccuracy", module=module,
                threshold=tfma.MetricThreshold(
                    change_threshold=tfma.GenericChangeThreshold(
                        direction=tfma.MetricDirection.HIGHER_IS_BETTER,
                        absolute={"value": -cfg.eval.max_accuracy_drop}))),
        ]
        if entity_metrics.is_bio_tag_set(label_counts):
            metrics += [
                tfma.MetricConfig(class_name="EntityPrecision", module=module),
                tfma.MetricConfig(class_name="EntityRecall", module=module),
                tfma.MetricConfig(class_name="EntityF1", module=module),
            ]
        return tfma.EvalConfig(
            model_specs=[tfma.ModelSpec(
                signature_name="serving_default", label_key=EVAL_TAGS, prediction_key=TAGS,
                preprocessing_function_names=["transform_features"])],
            slicing_specs=[tfma.SlicingSpec()],
            metrics_specs=[tfma.MetricsSpec(metrics=metrics)])


    def gate_bars(self, context: RunContext, label_counts: Mapping[str, int],
                  eval_label_counts: Mapping[str, int]):
        from trainer import entity_metrics, gate_bars  # entity_metrics imports TFMA
        return gate_bars.token_bars(eval_label_counts, context.config.eval.min_accuracy,
                                    entity_metrics.is_bio_tag_set(label_counts))

    # ---- The run report's examples ---------------------------------------------------
    CONFIDENT_VIEW = ExampleView(
        correct="Correct sentences",
        correct_order="Every tag right; from the most to the least confident.",
        confidence="confidence (the least sure word's tag probability)")
    COUNTED_VIEW = ExampleView(
        score="wrong tags", mistakes="sentences with the most wrong tags",
        mistakes_order="most wrong tags first", correct="Correct sentences",
        correct_order="Every tag right.", confidence=None, score_format="%d")

    def example_outcomes(self, outputs, examples) -> ExampleOutcomes:
        """Every word's predicted tag against its true tag; a sentence is right when every
        tag is. With the served tag probabilities, its confidence is its least sure word's;
        without them the mistakes are ranked by their number of wrong tags. A sentence whose
        words and tags differ in number has no outcome."""
        cfg = self.config
        scores = outputs.get(SCORES)
        rows = []
        for i, example in enumerate(examples):
            true = [str(t).strip() for t in outcomes.values(example, cfg.data.tags_column)]
            n = len(outcomes.values(example, cfg.data.tokens_column))
            if n != len(true) or n == 0:
                rows.append(None)
                continue
            words = [outcomes.text(w) for w in outputs[WORDS][i][:n]]
            predicted = [outcomes.text(t) for t in outputs[TAGS][i][:n]]
            wrong = sum(p != t for p, t in zip(predicted, true))
            confidence = float(min(scores[i][:n])) if scores is not None else None
            rows.append(ExampleOutcome(
                " ".join(predicted), " ".join(true), wrong == 0,
                confidence if confidence is not None else float(wrong), confidence,
                words=list(zip(words, predicted, true))))
        return ExampleOutcomes(self.CONFIDENT_VIEW if scores is not None else self.COUNTED_VIEW,
                               rows)

class WindowedTagger(tf.Module):
    """Tags every word of [B, (words)] with the trained model, through overlapping windows."""

    def __init__(self, model, context: RunContext, tag_names: List[str]):
        super().__init__(name="windowed_tagger")
        self.model = model
        self.encoder = tokenization.WordPieceEncoder(
            tokenization.load_vocab(f"{context.checkpoint_dir}/vocab.txt"), context.lower_case)
        self.max_seq_length = int(context.config.model.max_seq_length)
        self.stride = window_stride(self.max_seq_length)
        self.tag_names = tf.constant(tag_names, tf.string)

    def __call__(self, words: tf.RaggedTensor) -> Dict[str, tf.Tensor]:
        body, stride = self.max_seq_length - 2, self.stride
        pieces = word_pieces(self.encoder, words)  # [B, (W), (p)]
        sentence = ragged_rows.merge_inner(pieces)  # [B, (P)]
        sentence_of_word = words.value_rowids()  # [N]
        # Position of each word's first piece inside its sentence.
        starts = tf.cumsum(pieces.values.row_lengths(), exclusive=True)
        first = starts - tf.gather(sentence.row_splits, sentence_of_word)
        # Windows: start 0, stride, 2*stride, ... until the last one reaches the end.
        lengths = sentence.row_lengths()
        num_windows = 1 + tf.maximum(tf.constant(0, tf.int64), (lengths - body + stride - 1) // stride)
        window_starts = tf.ragged.range(num_windows) * stride  # [B, (windows)]
        window_sentence = window_starts.value_rowids()
        window_len = tf.minimum(tf.constant(body, tf.int64),
                                tf.gather(lengths, window_sentence) - window_starts.flat_values)
        offsets = tf.gather(sentence.row_splits, window_sentence) + window_starts.flat_values
        index = tf.ragged.range(offsets, offsets + window_len)
        window_ids = index.with_flat_values(tf.gather(sentence.flat_values, index.flat_values))
        input_ids = _wrap(window_ids, self.encoder.cls_id, self.encoder.sep_id)
        features = {
            "input_ids": tf.cast(input_ids.to_tensor(0), tf.int32),
            "attention_mask": tf.cast(tf.ones_like(input_ids).to_tensor(0), tf.int32),
            "token_type_ids": tf.cast(tf.zeros_like(input_ids).to_tensor(0), tf.int32),
        }
        logits = tf.cast(model_lib.call_on_ids(self.model)(features), tf.float32)  # [K, T, C]
        # The window in which each word's first piece has the most context.
        starts_by_sentence = tf.gather(window_starts.to_tensor(-1), sentence_of_word)  # [N, M]
        lens_by_sentence = tf.gather(window_starts.with_flat_values(window_len).to_tensor(0),
                                     sentence_of_word)
        p = first[:, None]
        inside = (p >= starts_by_sentence) & (p < starts_by_sentence + lens_by_sentence) & (
            starts_by_sentence >= 0)
        context = tf.minimum(p - starts_by_sentence, starts_by_sentence + lens_by_sentence - 1 - p)
        context = tf.where(inside, context, tf.constant(-1, tf.int64))
        best = tf.argmax(context, axis=1, output_type=tf.int64)  # first maximum on ties
        window = tf.gather(window_starts.row_splits, sentence_of_word) + best
        position = first - tf.gather(window_starts.flat_values, window) + 1  # +1: [CLS]
        word_logits = tf.gather_nd(logits, tf.stack([window, position], axis=1))
        probabilities = tf.nn.softmax(word_logits, axis=-1)
        tag_ids = tf.argmax(probabilities, axis=-1)
        scores = tf.reduce_max(probabilities, axis=-1)
        return {
            WORDS: words.to_tensor(default_value=""),
            TAGS: words.with_flat_values(tf.gather(self.tag_names, tag_ids)).to_tensor(
                default_value=""),
            SCORES: words.with_flat_values(scores).to_tensor(default_value=0.0),
        }
