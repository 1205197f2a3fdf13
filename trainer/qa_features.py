"""In-graph features for extractive question answering: windows over long contexts, span labels,
and span decoding. Used by Transform (training features) and by the serving signature (the same
code, so served windows are exactly the trained ones).

Character offsets. The project's WordPieceEncoder reproduces HF's ids but has no offsets. The
context is therefore first split into *raw words* with byte offsets (RE2 via
``tf_text.regex_split_with_offsets``) on the characters that HF's normaliser turns into spaces
and on HF's punctuation (the same tables the encoder uses), and each raw word is tokenized on its
own by the encoder. Splitting the raw text on these characters is what HF's pre-tokenizer does
after normalisation, and any further split the normaliser causes (CJK ideographs, ...) happens
inside the per-word tokenization, so the concatenated pieces equal HF's tokenization of the
whole context (tests/test_task_question_answering.py checks this against HF). Every piece gets
the character span of its raw word: answers are extracted at word granularity (like the
original BERT/ELECTRA SQuAD code). Known difference: a literal special token ("[SEP]") inside a
context is split into pieces here, whereas HF keeps it as one special token.

Windows (google-research/electra's ``doc_stride`` semantics): each window is
``[CLS] question [SEP] context[a:a+room] [SEP]`` with the question truncated to
``min(64, max_seq_length // 2)`` pieces and ``room = max_seq_length - len(question) - 3``;
windows start at a = 0, s, 2s, ... (s = min(doc_stride, room)) until one reaches the end of the
context. ``token_type_ids`` are 0 for [CLS] question [SEP] and 1 afterwards.

Labels: the answer's first and last pieces (the pieces overlapping [answer_start,
answer_start + len(text)) in characters); in a window that does not hold the whole answer, and
for unanswerable questions, both positions are 0 ([CLS]).
"""
from typing import Dict

import tensorflow as tf
import tensorflow_text  # noqa: F401  (TF Text ops must be registered wherever this runs)

from trainer import ragged_rows, tokenization

MAX_QUERY_LENGTH = 64
# Raw-text split: whitespace that HF's clean_text maps to ' ' (so e.g. \x0b, which clean_text
# deletes, does not split a word) and HF's punctuation (kept as one-character words).
_RAW_SPLIT_RE = tokenization._CLEAN_TO_SPACE_RE + "+|" + tokenization._PUNCT_RE  # noqa: SLF001
_KEEP_RE = tokenization._PUNCT_RE  # noqa: SLF001
_NEG = -1e9


def clean_utf8(texts: tf.Tensor) -> tf.Tensor:
    """Valid UTF-8 (invalid bytes become U+FFFD, as Python's errors="replace" does)."""
    return tf.strings.unicode_transcode(texts, "UTF-8", "UTF-8", errors="replace",
                                        replacement_char=0xFFFD)


class QAFeaturizer(tf.Module):
    """Question/context pairs -> windows of model inputs with context character offsets."""

    def __init__(self, encoder: tokenization.WordPieceEncoder, max_seq_length: int,
                 doc_stride: int, max_query_length: int = MAX_QUERY_LENGTH, name=None):
        super().__init__(name=name)
        if max_seq_length < 8:
            raise ValueError(f"question-answering needs max_seq_length >= 8, got {max_seq_length}")
        if doc_stride < 1:
            raise ValueError(f"doc_stride must be >= 1, got {doc_stride}")
        self.encoder = encoder
        self.max_seq_length = int(max_seq_length)
        self.doc_stride = int(doc_stride)
        self.max_query_length = int(min(max_query_length, max_seq_length // 2))

    def context_pieces(self, contexts: tf.Tensor):
        """ids int64 [B, (P)] and the character span [start, end) of every piece's word."""
        contexts = clean_utf8(contexts)
        # tf_text.regex_split stops at a NUL byte; \x01 has the same length and the encoder
        # drops both.
        contexts = tf.strings.regex_replace(contexts, "\\x00", "\x01")
        words, byte_starts, _ = ragged_rows.regex_split_with_offsets(
            contexts, _RAW_SPLIT_RE, _KEEP_RE)
        flat_words = words.flat_values
        owners = tf.gather(contexts, words.value_rowids())
        prefixes = tf.strings.substr(owners, tf.zeros_like(byte_starts.flat_values),
                                     byte_starts.flat_values)
        char_starts = tf.strings.length(prefixes, unit="UTF8_CHAR")
        char_ends = char_starts + tf.strings.length(flat_words, unit="UTF8_CHAR")
        pieces = self.encoder.tokenize(flat_words)  # [words, (pieces)]
        piece_word = pieces.value_rowids()
        ids = ragged_rows.merge_inner(
            words.with_row_splits_dtype(tf.int64).with_flat_values(pieces))
        starts = ids.with_flat_values(tf.cast(tf.gather(char_starts, piece_word), tf.int64))
        ends = ids.with_flat_values(tf.cast(tf.gather(char_ends, piece_word), tf.int64))
        return ids, starts, ends

    def windows(self, questions: tf.Tensor, contexts: tf.Tensor,
                answer_starts: tf.Tensor = None, answer_texts: tf.Tensor = None
                ) -> Dict[str, tf.Tensor]:
        """Windows of every example (see the module doc).

        questions, contexts: string [B]. answer_starts (int [B], character offset, -1 for no
        answer) and answer_texts (string [B]) are only needed for the labels.

        Returns ragged [W, (len)] int64 ``input_ids``, ``token_type_ids``, ``attention_mask``,
        ``char_starts``/``char_ends`` (context character span of each token, -1 outside the
        context), and [W] ``window_example`` (the example each window belongs to) and, with
        answers, ``start_positions``/``end_positions``.
        """
        questions = tf.convert_to_tensor(questions, tf.string)
        contexts = tf.convert_to_tensor(contexts, tf.string)
        q_ids = self.encoder.tokenize(clean_utf8(questions))[:, : self.max_query_length]
        ctx_ids, ctx_starts, ctx_ends = self.context_pieces(contexts)
        batch = tf.shape(contexts, out_type=tf.int64)[0]
        n = ctx_ids.row_lengths()
        q_len = q_ids.row_lengths()
        room = self.max_seq_length - q_len - 3
        stride = tf.minimum(tf.constant(self.doc_stride, tf.int64), room)
        extra = tf.maximum(n - room, 0)
        num_windows = 1 + (extra + stride - 1) // stride
        window_example = tf.repeat(tf.range(batch), num_windows)
        window_index = tf.ragged.range(num_windows).flat_values
        win_start = window_index * tf.gather(stride, window_example)
        win_len = tf.minimum(tf.gather(room, window_example),
                             tf.gather(n, window_example) - win_start)
        first = tf.gather(ctx_ids.row_starts(), window_example) + win_start
        piece_index = tf.ragged.range(first, first + win_len)
        win_ids = tf.gather(ctx_ids.flat_values, piece_index)
        win_char_starts = tf.gather(ctx_starts.flat_values, piece_index)
        win_char_ends = tf.gather(ctx_ends.flat_values, piece_index)
        win_q = tf.gather(q_ids, window_example)
        cls, sep = self.encoder.cls_id, self.encoder.sep_id
        input_ids = ragged_rows.concat_rows([cls, win_q, sep, win_ids, sep])
        # Type 0 for [CLS] question [SEP], 1 after it; no context span (-1) outside the context.
        token_type_ids = ragged_rows.ones_from(input_ids, win_q.row_lengths() + 2)
        minus = tf.ones_like(win_q) * -1
        char_starts = ragged_rows.concat_rows([-1, minus, -1, win_char_starts, -1])
        char_ends = ragged_rows.concat_rows([-1, minus, -1, win_char_ends, -1])
        out = {
            "input_ids": input_ids,
            "token_type_ids": token_type_ids,
            "attention_mask": tf.ones_like(input_ids),
            "char_starts": char_starts,
            "char_ends": char_ends,
            "window_example": window_example,
        }
        if answer_starts is not None:
            answer_starts = tf.cast(answer_starts, tf.int64)
            answer_ends = answer_starts + tf.cast(
                tf.strings.length(clean_utf8(answer_texts), unit="UTF8_CHAR"), tf.int64)
            # First piece ending after the answer start; last piece starting before its end.
            tok_start = tf.reduce_sum(tf.cast(ctx_ends <= answer_starts[:, None], tf.int64),
                                      axis=1)
            tok_end = tf.reduce_sum(tf.cast(ctx_starts < answer_ends[:, None], tf.int64),
                                    axis=1) - 1
            answerable = ((answer_starts >= 0) & (answer_ends > answer_starts)
                          & (tok_start <= tok_end) & (tok_start < n))
            w_tok_start = tf.gather(tok_start, window_example)
            w_tok_end = tf.gather(tok_end, window_example)
            inside = (tf.gather(answerable, window_example) & (w_tok_start >= win_start)
                      & (w_tok_end < win_start + win_len))
            offset = tf.gather(q_len, window_example) + 2 - win_start
            out["start_positions"] = tf.where(inside, w_tok_start + offset, 0)
            out["end_positions"] = tf.where(inside, w_tok_end + offset, 0)
        return out


def decode_spans(start_logits: tf.Tensor, end_logits: tf.Tensor, char_starts: tf.Tensor,
                 char_ends: tf.Tensor, window_example: tf.Tensor, contexts: tf.Tensor,
                 n_best_size: int, max_answer_length: int, null_score_threshold: float
                 ) -> Dict[str, tf.Tensor]:
    """In-graph twin of ``qa_postprocess.decode`` for a batch of examples.

    start/end_logits float [W, T] and char_starts/char_ends int [W, T] (dense, padded with -1
    offsets) for the W windows; window_example int [W]; contexts string [B].
    Returns ``answer`` string [B], ``score`` float [B], ``start``/``end`` int64 [B] (character
    offsets into the context, end exclusive; -1 for "no answer").
    """
    start_logits = tf.cast(start_logits, tf.float32)
    end_logits = tf.cast(end_logits, tf.float32)
    char_starts = tf.cast(char_starts, tf.int64)
    char_ends = tf.cast(char_ends, tf.int64)
    window_example = tf.cast(window_example, tf.int64)
    contexts = clean_utf8(contexts)
    batch = tf.shape(contexts, out_type=tf.int64)[0]
    is_context = char_starts >= 0
    k = tf.minimum(n_best_size, tf.shape(start_logits)[1])
    s_val, s_idx = tf.math.top_k(tf.where(is_context, start_logits, -float("inf")), k)
    e_val, e_idx = tf.math.top_k(tf.where(is_context, end_logits, -float("inf")), k)
    s_ok = tf.gather(is_context, s_idx, batch_dims=1)
    e_ok = tf.gather(is_context, e_idx, batch_dims=1)
    length = e_idx[:, None, :] - s_idx[:, :, None] + 1
    valid = (s_ok[:, :, None] & e_ok[:, None, :] & (length >= 1)
             & (length <= max_answer_length))
    scores = tf.where(valid, s_val[:, :, None] + e_val[:, None, :], -float("inf"))
    flat = tf.reshape(scores, [tf.shape(scores)[0], -1])
    best_flat = tf.argmax(flat, axis=1, output_type=tf.int32)
    window_best = tf.reduce_max(flat, axis=1)
    best_s = tf.gather(s_idx, best_flat // k, batch_dims=1)
    best_e = tf.gather(e_idx, best_flat % k, batch_dims=1)
    span_start = tf.gather(char_starts, best_s, batch_dims=1)
    span_end = tf.gather(char_ends, best_e, batch_dims=1)

    # Best window per example (windows of an example are contiguous and in order).
    per_example = tf.RaggedTensor.from_value_rowids(window_best, window_example, nrows=batch)
    local = tf.argmax(per_example.to_tensor(default_value=-float("inf")), axis=1,
                      output_type=tf.int64)
    chosen = per_example.row_starts() + local
    best_score = tf.gather(window_best, chosen)
    null_per_window = start_logits[:, 0] + end_logits[:, 0]
    null_score = tf.reduce_min(
        tf.RaggedTensor.from_value_rowids(null_per_window, window_example, nrows=batch), axis=1)
    no_answer = tf.math.is_inf(best_score) | (null_score - best_score > null_score_threshold)
    start = tf.where(no_answer, tf.constant(-1, tf.int64), tf.gather(span_start, chosen))
    end = tf.where(no_answer, tf.constant(-1, tf.int64), tf.gather(span_end, chosen))
    answer = tf.strings.substr(contexts, tf.maximum(start, 0), tf.maximum(end - start, 0),
                               unit="UTF8_CHAR")
    return {"answer": answer, "score": tf.where(no_answer, null_score, best_score),
            "start": start, "end": end}
