"""Hostile requests against every task's exported SavedModel: empty strings, whitespace only,
100,000-character texts, invalid UTF-8 and batches of 1,000 are answered, through each text
signature, with defined outputs.

Defined means: one output row per input row, finite numbers, outputs of the declared kind
(probabilities summing to 1, known labels, unit-norm embeddings, answers that are substrings
of their context), and predictable values: an empty or whitespace-only text gets the
prediction of `[CLS] [SEP]`; invalid UTF-8 is read as Python's `decode(errors="replace")`
reads it (the replacement character is then dropped by the tokenizer's text cleaning); a long
text is truncated (or windowed) like any other.

One tiny random ELECTRA (1 layer, hidden 16) per task; the signatures are the concrete functions
the Trainer writes into the SavedModel.
"""
import numpy as np
import pytest
import tensorflow as tf

import pipeline_config
from tests import task_quality
from trainer import tokenization
from trainer.run_context import RunContext
from trainer import tasks
from trainer.tasks import get_task

WORDS = ["great", "awful", "movie", "phone", "the", "was", "paris", "who", "built", "tower"]
LONG = ("the great movie was built in paris " * 3000)[:100_000]
INVALID_UTF8 = b"great \xff\xfe movie \xc3"          # stray bytes and a truncated sequence
REPAIRED = INVALID_UTF8.decode("utf-8", errors="replace")
EMPTY, BLANK = b"", b" \t\n \xc2\xa0 "                 # \xc2\xa0: a no-break space
BATCH = 1000
STRING = tf.io.FixedLenFeature([], tf.string)


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    from trainer.checkpoint import build_scratch_checkpoint
    config = pipeline_config.ModelConfig(scratch_vocab_size=120, scratch_hidden_size=16,
                                         scratch_num_layers=1, scratch_num_heads=2,
                                         scratch_intermediate_size=32)
    texts = [" ".join(WORDS[i:] + WORDS[:i]) for i in range(len(WORDS))] * 5
    return build_scratch_checkpoint(texts, str(tmp_path_factory.mktemp("ckpt") / "tiny"), config)


def _context(checkpoint, task, max_seq_length=16, **data):
    cfg = pipeline_config.PipelineConfig(task=task)
    cfg.model.max_seq_length = max_seq_length
    cfg.task_options.doc_stride = 6
    for key, value in data.items():
        setattr(cfg.data, key, value)
    return RunContext(cfg, str(checkpoint), True)


class _Vocabularies:
    """Stands in for TFTransformOutput where a task reads only a vocabulary."""

    def __init__(self, names):
        self.names = names

    def vocabulary_by_name(self, name):
        return [n.encode() for n in self.names]

    def vocabulary_size_by_name(self, name):
        return len(self.names)


def _export(task_name, checkpoint, tmp_path_factory, transform_rows=None, raw_spec=None,
             vocabulary=None, **context_args):
    """The task's model and its serving signatures, exactly as the Trainer exports them.

    The signatures are called as the concrete functions `model.save` writes into the
    SavedModel (saving and loading would add nothing but time: the ops are the same).
    """
    context = _context(checkpoint, task_name, **context_args)
    task = tasks.create(context)
    out = str(tmp_path_factory.mktemp(task_name))
    if transform_rows is not None:
        transform_output = task_quality.analyze(task, context, transform_rows, raw_spec, out)
    else:
        transform_output = _Vocabularies(vocabulary) if vocabulary else None
    tf.keras.utils.set_random_seed(0)
    model = task.build_model(context, transform_output)
    return (task.serving_signatures(model, transform_output, context), model, context,
            transform_output)


def _numpy(outputs):
    return {k: v.numpy() for k, v in outputs.items()}


def _cls_sep_logits(model, context):
    """The Keras model on `[CLS] [SEP]`: what an empty text must be answered with."""
    encoder = tokenization.WordPieceEncoder(
        tokenization.load_vocab(f"{context.checkpoint_dir}/vocab.txt"), True)
    ids = tf.constant([[encoder.cls_id, encoder.sep_id]], tf.int32)
    features = {"input_ids": ids, "attention_mask": tf.ones_like(ids),
                "token_type_ids": tf.zeros_like(ids)}
    return model(features, training=False)


def _batch():
    rng = np.random.RandomState(0)
    texts = [" ".join(rng.choice(WORDS, rng.randint(0, 30))).encode() for _ in range(BATCH)]
    texts[::97] = [EMPTY] * len(texts[::97])
    texts[5], texts[6] = INVALID_UTF8, BLANK
    return texts


def _example(**features):
    example = tf.train.Example()
    for name, values in features.items():
        values = values if isinstance(values, list) else [values]
        example.features.feature[name].bytes_list.value.extend(values)
    return example.SerializeToString()


# ---- text-classification (and what it shares: serve_embedding) ------------------------------

@pytest.fixture(scope="module")
def classifier(checkpoint, tmp_path_factory):
    rows = [{"text": " ".join(WORDS[i:i + 4]), "label": ["neg", "pos", "meh"][i % 3]}
            for i in range(len(WORDS))]
    return _export("text-classification", checkpoint, tmp_path_factory, rows,
                   {"text": STRING, "label": STRING})


def _check_classification(out, n):
    probabilities = out["probabilities"]
    assert probabilities.shape == (n, 3) and np.isfinite(probabilities).all()
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, atol=1e-5)
    assert set(out["labels"].tolist()) <= {b"neg", b"pos", b"meh"}
    np.testing.assert_array_equal(out["label_ids"], probabilities.argmax(axis=1))


def test_text_classification_answers_hostile_texts(classifier):
    signatures, model, context, _ = classifier
    serve_text = signatures["serve_text"]

    def call(texts):
        out = _numpy(serve_text(text=tf.constant(texts)))
        _check_classification(out, len(texts))
        return out

    empty = call([EMPTY, BLANK])
    expected = tf.nn.softmax(_cls_sep_logits(model, context)).numpy()[0]
    np.testing.assert_allclose(empty["probabilities"], [expected, expected], atol=1e-5)
    bad = call([INVALID_UTF8, REPAIRED.encode()])
    np.testing.assert_allclose(bad["probabilities"][0], bad["probabilities"][1], atol=1e-6)
    # 100,000 characters are truncated to max_seq_length pieces, like a short prefix of them.
    long = call([LONG.encode(), LONG[:200].encode()])
    np.testing.assert_allclose(long["probabilities"][0], long["probabilities"][1], atol=1e-5)
    texts = _batch()
    batch = call(texts)
    for i in (0, 5, 6, 7, 500):
        np.testing.assert_allclose(batch["probabilities"][i],
                                   call([texts[i]])["probabilities"][0], atol=1e-5)
    # serving_default: the same texts inside tf.Examples.
    by_example = _numpy(signatures["serving_default"](
        examples=tf.constant([_example(text=t) for t in texts])))
    _check_classification(by_example, BATCH)
    np.testing.assert_allclose(by_example["probabilities"], batch["probabilities"], atol=1e-5)


def test_serve_embedding_answers_hostile_texts(classifier):
    signatures = classifier[0]
    serve = signatures["serve_embedding"]
    texts = [EMPTY, BLANK, INVALID_UTF8, REPAIRED.encode(), LONG.encode()] + _batch()
    vectors = serve(text=tf.constant(texts))["embedding"].numpy()
    assert vectors.shape == (len(texts), 16) and np.isfinite(vectors).all()
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    np.testing.assert_allclose(vectors[0], vectors[1], atol=1e-6)   # both are [CLS] [SEP]
    np.testing.assert_allclose(vectors[2], vectors[3], atol=1e-6)   # invalid bytes replaced


# ---- text-pair-classification -----------------------------------------------------------------

def test_text_pair_classification_answers_hostile_texts(checkpoint, tmp_path_factory):
    rows = [{"text": " ".join(WORDS[i:i + 3]), "text_pair": " ".join(WORDS[i + 1:i + 5]),
             "label": ["no", "yes"][i % 2]} for i in range(len(WORDS))]
    signatures = _export("text-pair-classification", checkpoint, tmp_path_factory, rows,
                         {"text": STRING, "text_pair": STRING, "label": STRING})[0]
    serve_text = signatures["serve_text"]
    firsts = [EMPTY, BLANK, INVALID_UTF8, REPAIRED.encode(), LONG.encode(), LONG.encode()]
    seconds = [EMPTY, EMPTY, b"movie", b"movie", LONG.encode(), INVALID_UTF8]
    out = _numpy(serve_text(text=tf.constant(firsts), text_pair=tf.constant(seconds)))
    probabilities = out["probabilities"]
    assert probabilities.shape == (6, 2) and np.isfinite(probabilities).all()
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, atol=1e-5)
    np.testing.assert_allclose(probabilities[0], probabilities[1], atol=1e-6)
    np.testing.assert_allclose(probabilities[2], probabilities[3], atol=1e-6)
    texts = _batch()
    batch = _numpy(serve_text(text=tf.constant(texts), text_pair=tf.constant(texts[::-1])))
    assert batch["probabilities"].shape == (BATCH, 2)
    assert set(batch["labels"].tolist()) <= {b"no", b"yes"}
    by_example = _numpy(signatures["serving_default"](examples=tf.constant(
        [_example(text=a, text_pair=b) for a, b in zip(texts, texts[::-1])])))
    np.testing.assert_allclose(by_example["probabilities"], batch["probabilities"], atol=1e-5)


# ---- token-classification ---------------------------------------------------------------------

def test_token_classification_answers_hostile_texts(checkpoint, tmp_path_factory):
    tags = ["O", "B-LOC", "I-LOC"]
    signatures = _export("token-classification", checkpoint, tmp_path_factory,
                         vocabulary=tags)[0]
    serve_text = signatures["serve_text"]

    def check(texts):
        out = _numpy(serve_text(text=tf.constant(texts)))
        words = [t.decode("utf-8", errors="replace").split() for t in texts]
        width = max(len(w) for w in words)
        assert out["words"].shape == out["tags"].shape == out["scores"].shape == (
            len(texts), width)
        for row, row_words in enumerate(words):
            n = len(row_words)
            # Every word (split at Unicode whitespace, like Python's str.split) is echoed as
            # valid UTF-8 with a known tag and a probability; the padding stays empty.
            assert [w.decode("utf-8") for w in out["words"][row][:n]] == row_words
            assert set(out["tags"][row][:n].tolist()) <= {t.encode() for t in tags}
            assert ((out["scores"][row][:n] > 0) & (out["scores"][row][:n] <= 1)).all()
            assert not out["tags"][row][n:].any() and not out["scores"][row][n:].any()
        return out, words

    long, words = check([LONG.encode()])
    assert len(words[0]) > 10_000  # the long text was tagged whole (windows)
    texts = [EMPTY, BLANK, INVALID_UTF8, b"paris\x00tower was built"] + _batch()
    out, words = check(texts)
    # serving_default: the same words as token lists (the invalid UTF-8 ones as sent).
    tokens = [[w.encode() for w in row_words] for row_words in words]
    tokens[2] = INVALID_UTF8.split()
    by_example = _numpy(signatures["serving_default"](examples=tf.constant(
        [_example(tokens=t) for t in tokens])))
    assert by_example["words"].tolist() == out["words"].tolist()
    np.testing.assert_allclose(by_example["scores"], out["scores"], atol=1e-5)


# ---- question-answering ------------------------------------------------------------------------

def test_question_answering_answers_hostile_texts(checkpoint, tmp_path_factory):
    signatures = _export("question-answering", checkpoint, tmp_path_factory,
                         max_seq_length=24)[0]
    serve_text = signatures["serve_text"]
    questions = [EMPTY, BLANK, b"who built the tower", INVALID_UTF8, b"who built it",
                 LONG.encode()]
    contexts = [b"the tower in paris", EMPTY, BLANK, b"the tower \xff was built",
                LONG.encode(), INVALID_UTF8]
    batch = _batch()
    questions += batch
    contexts += batch[::-1]
    out = _numpy(serve_text(question=tf.constant(questions), context=tf.constant(contexts)))
    n = len(questions)
    assert all(out[k].shape == (n,) for k in ("answer", "score", "start", "end"))
    assert np.isfinite(out["score"]).all()
    for i, raw in enumerate(contexts):
        context = raw.decode("utf-8", errors="replace")
        answer = out["answer"][i].decode("utf-8")  # always valid UTF-8
        start, end = int(out["start"][i]), int(out["end"][i])
        if answer:
            assert 0 <= start < end <= len(context) and context[start:end] == answer, i
        else:
            assert start == end == -1, i
    # No context, no answer.
    assert out["answer"][1] == out["answer"][2] == b""
    by_example = _numpy(signatures["serving_default"](examples=tf.constant(
        [_example(question=q, context=c) for q, c in zip(questions, contexts)])))
    assert by_example["answer"].tolist() == out["answer"].tolist()


# ---- embedding --------------------------------------------------------------------------------

def test_embedding_task_answers_hostile_texts(checkpoint, classifier):
    # The embedding task's own model and signatures; its Transform graph is the classifier's
    # (the same text encoding, and a label output serving does not ask for): one Beam
    # analysis less.
    task, context = get_task("embedding"), _context(checkpoint, "embedding")
    transform_output = classifier[3]
    signatures = task.serving_signatures(task.build_model(context, transform_output),
                                         transform_output, context)
    texts = [EMPTY, BLANK, INVALID_UTF8, REPAIRED.encode(), LONG.encode()] + _batch()
    for name in ("serve_text", "serve_embedding"):
        vectors = signatures[name](text=tf.constant(texts))["embedding"].numpy()
        assert vectors.shape == (len(texts), 16) and np.isfinite(vectors).all()
        np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
        np.testing.assert_allclose(vectors[0], vectors[1], atol=1e-6)
        np.testing.assert_allclose(vectors[2], vectors[3], atol=1e-6)
    by_example = signatures["serving_default"](
        examples=tf.constant([_example(text=t) for t in texts]))["embedding"].numpy()
    np.testing.assert_allclose(by_example, vectors, atol=1e-5)
