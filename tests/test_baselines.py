"""The simple baselines (components/baseline/) learn what they should on tiny data."""
import numpy as np
import pytest
import tensorflow as tf

import pipeline_config
from components.baseline import bag_of_words, span_heuristic, tag_lookup
from trainer import qa_features
from trainer import tasks

VOCAB = 40
SPECIAL = [0, 2, 3]  # [PAD], [CLS], [SEP] in the ids below


def _documents(n, seed):
    """Ids [n, 8]: [CLS] 6 pieces [SEP]; label 1 iff a "positive" piece (10-14) occurs rather
    than a "negative" one (15-19); 5-39 otherwise noise. Labels are 60/40."""
    rng = np.random.default_rng(seed)
    ids = rng.integers(20, VOCAB, size=[n, 8])
    labels = (rng.random(n) < 0.4).astype(np.int64)
    cue = np.where(labels == 1, rng.integers(10, 15, n), rng.integers(15, 20, n))
    ids[np.arange(n), rng.integers(1, 7, n)] = cue
    ids[:, 0], ids[:, -1] = 2, 3
    features = {"input_ids": ids.astype(np.int32), "attention_mask": np.ones_like(ids, np.int32),
                "token_type_ids": np.zeros_like(ids, np.int32)}
    return features, labels


def test_tfidf_weights_are_scikit_learns_normalised_tfidf():
    features = {"input_ids": np.array([[2, 7, 7, 9, 3, 0]], np.int32),
                "attention_mask": np.array([[1, 1, 1, 1, 1, 0]], np.int32),
                "token_type_ids": np.array([[0, 0, 0, 1, 1, 0]], np.int32)}
    df, n = bag_of_words.document_frequencies(
        [features, {k: v[:, :1] for k, v in features.items()}], VOCAB)
    assert n == 2 and df[7] == 1 and df[2] == 2 and df[VOCAB + 9] == 1 and df[9] == 0
    idf = bag_of_words.idf_weights(df, n, SPECIAL)
    assert idf[2] == idf[VOCAB + 3] == 0.0
    assert idf[7] == pytest.approx(np.log(3 / 2) + 1)
    layer = bag_of_words.TfIdfLinear(idf, 1)
    ids, weights = layer.token_weights(features)
    # The TF-IDF vector: piece 7 twice, piece 9 once (second text); L2-normalised.
    vector = np.array([2 * idf[7], idf[VOCAB + 9]])
    vector /= np.linalg.norm(vector)
    assert ids.numpy()[0, 3] == VOCAB + 9  # the pair's second text has its own bag
    np.testing.assert_allclose(weights.numpy()[0], [0, vector[0] / 2, vector[0] / 2,
                                                    vector[1], 0, 0], rtol=1e-5)


def test_tfidf_logistic_regression_beats_the_majority_class():
    task = tasks.create(pipeline_config.PipelineConfig())
    assert type(task).__name__ == "TextClassificationTask" and task.single_label
    train_x, train_y = _documents(320, 1)
    eval_x, eval_y = _documents(200, 2)
    df, n = bag_of_words.document_frequencies([train_x], VOCAB)
    model = bag_of_words.build_model(bag_of_words.idf_weights(df, n, SPECIAL), 2)
    tf.keras.utils.set_random_seed(0)
    import tf_keras
    # Eagerly: tracing the train step costs more than these 100 small steps.
    model.compile(optimizer=tf_keras.optimizers.Adam(0.05), loss=task.loss(),
                  metrics=task.metrics(), run_eagerly=True)
    model.fit(train_x, train_y, epochs=10, batch_size=32, verbose=0)
    accuracy = model.evaluate(eval_x, eval_y, verbose=0, return_dict=True)["accuracy"]
    majority = max(np.mean(eval_y), 1 - np.mean(eval_y))
    assert accuracy >= 0.95 > majority + 0.2, (accuracy, majority)
    # The stand-in encoder behind serve_embedding runs on the same inputs.
    from trainer import embedding
    vectors = embedding.embed(model, {k: tf.constant(v[:3]) for k, v in eval_x.items()})
    assert vectors.shape == (3, 2)


def test_most_frequent_tag_per_word():
    # Tags: 0 "O", 1 "B-PER", 2 "B-LOC". Piece 5 is PER twice and LOC once, 6 always LOC,
    # -100 marks continuation pieces and [CLS]/[SEP]; "O" is the most frequent tag overall.
    ids = np.array([[2, 5, 7, 8, 3], [2, 5, 6, 8, 3], [2, 5, 8, 8, 3]])
    labels = np.array([[-100, 1, -100, 0, -100], [-100, 1, 2, 0, -100],
                       [-100, 2, 0, 0, -100]])
    counts = tag_lookup.tag_counts([(ids, labels)], VOCAB, 3)
    assert counts[5].tolist() == [0, 2, 1] and counts[8].tolist() == [4, 0, 0]
    model = tag_lookup.build_model(tag_lookup.log_probability_table(counts))
    logits = model({"input_ids": tf.constant([[5, 6, 8, 30]]),
                    "attention_mask": tf.ones([1, 4], tf.int32),
                    "token_type_ids": tf.zeros([1, 4], tf.int32)})
    # 30 was never seen: the overall most frequent tag.
    assert np.argmax(logits.numpy()[0], axis=-1).tolist() == [1, 2, 0, 0]


def test_span_heuristic_answers_with_the_first_words_or_abstains():
    # Three questions: windows' (start, end) labels, 0 where the window lacks the answer.
    records = [(np.array([0, 7]), np.array([0, 8])), (np.array([5]), np.array([7])),
               (np.array([0]), np.array([0]))]
    length, answer_rate = span_heuristic.answer_statistics(records)
    assert length == 2 and answer_rate == pytest.approx(2 / 3)
    # One window: [CLS] q q [SEP] c0 c1 c2 c3 [SEP]; context pieces span words of 4 chars.
    token_type_ids = tf.constant([[0, 0, 0, 0, 1, 1, 1, 1, 1]])
    features = {"input_ids": tf.ones_like(token_type_ids),
                "attention_mask": tf.ones_like(token_type_ids),
                "token_type_ids": token_type_ids}
    char_starts = tf.constant([[-1, -1, -1, -1, 0, 5, 10, 15, -1]], tf.int64)
    context = tf.constant(["abcd efgh ijkl mnop"])
    for abstain, answer in ((False, "abcd efgh"), (True, "")):
        logits = span_heuristic.build_model(length, abstain)(features)
        decoded = qa_features.decode_spans(
            logits[:, :, 0], logits[:, :, 1], char_starts,
            tf.where(char_starts >= 0, char_starts + 4, -1), tf.constant([0], tf.int64),
            context, n_best_size=20, max_answer_length=30, null_score_threshold=0.0)
        assert decoded["answer"].numpy()[0].decode() == answer


# ---- Served through the task's own signatures -------------------------------------------------

WORDS = ["john", "lives", "in", "paris", "who", "where", "does", "abcd", "efgh", "ijkl", "mnop"]


@pytest.fixture()
def vocab_dir(tmp_path):
    from trainer import tokenization
    (tmp_path / "vocab.txt").write_text("\n".join(list(tokenization.SPECIAL_TOKENS) + WORDS))
    return tmp_path


def _context(task, vocab_dir, max_seq_length):
    from trainer.run_context import RunContext
    cfg = pipeline_config.PipelineConfig(task=task)
    cfg.model.max_seq_length = max_seq_length
    return RunContext(cfg, str(vocab_dir), True)


def test_tag_lookup_through_the_tasks_windowed_tagger(vocab_dir):
    """The tagger behind the task's serve_text/serving_default, run eagerly (tracing the
    signatures is the same code for any model and costs a minute)."""
    from trainer import embedding
    from trainer.tasks.token_classification import WindowedTagger
    context = _context("token-classification", vocab_dir, 6)  # 4 pieces a window: windowed
    piece = {w: i + 5 for i, w in enumerate(WORDS)}
    ids = np.array([[2, piece["john"], piece["lives"], piece["in"], piece["paris"], 3]])
    labels = np.array([[-100, 1, 0, 0, 2, -100]])
    counts = tag_lookup.tag_counts([(ids, labels), (ids, labels)], 5 + len(WORDS), 3)
    model = tag_lookup.build_model(tag_lookup.log_probability_table(counts))
    tagger = WindowedTagger(model, context, ["O", "B-PER", "B-LOC"])
    words = tf.ragged.constant([["paris", "john", "lives", "in", "paris", "who", "john"]])
    out = tagger(words.with_row_splits_dtype(tf.int64))
    assert [t.decode() for t in out["tags"].numpy()[0]] == [
        "B-LOC", "B-PER", "O", "O", "B-LOC", "O", "B-PER"]
    features = {"input_ids": tf.constant([[2, 5, 3]]), "attention_mask": tf.ones([1, 3], tf.int32),
                "token_type_ids": tf.zeros([1, 3], tf.int32)}
    assert embedding.embed(model, features).shape == (1, 3)  # serve_embedding's stand-in


def test_span_heuristic_through_the_tasks_span_decoding(vocab_dir):
    from trainer.tasks import question_answering
    context = _context("question-answering", vocab_dir, 16)
    out = question_answering.predict_answers(
        span_heuristic.build_model(2, abstain=False), question_answering.make_featurizer(context),
        tf.constant(["where does john live"]), tf.constant(["Abcd efgh, ijkl mnop."]),
        context.config.task_options)
    assert out["answer"].numpy()[0].decode() == "Abcd efgh"
