"""Embeddings: trainer/embedding.py (mean pooling, `serve_embedding`) and the `embedding` task.

* mean pooling ignores padding and is L2-normalised; `embed` on a classifier equals its encoder
  pooled by hand;
* a SavedModel's `serve_embedding`, reloaded in a fresh process (TensorFlow + TF Text only),
  returns what the Keras model computes;
* the embedding task exports the encoder untouched (fit changes no weight);
* with the real checkpoint (../shared): embeddings separate sentiment (nearest-neighbour label
  accuracy well above the majority rate);
* slow: `electra-tfx run --task embedding` is blessed, pushed and serves.
"""
import json
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import tensorflow as tf

import pipeline_config
from trainer import embedding
from trainer import model as model_lib
from trainer.run_context import RunContext
from tests.conftest import EMBEDDED_DATA
from trainer.tasks import get_task

TEXTS = ["the movie was great", "a terrible phone", "my hotel was lovely and quiet",
         "boring", "this song is really very good and the game is fantastic too"]


@pytest.fixture(scope="module")
def tiny_checkpoint(tmp_path_factory):
    from trainer.checkpoint import build_scratch_checkpoint
    from tests import fixtures
    texts = [t for t, _ in fixtures.sentiment_rows(200, seed=1)] + TEXTS
    cfg = pipeline_config.ModelConfig(scratch_vocab_size=300, scratch_hidden_size=32,
                                      scratch_num_layers=1, scratch_num_heads=2,
                                      scratch_intermediate_size=64)
    return build_scratch_checkpoint(texts, str(tmp_path_factory.mktemp("ckpt") / "tiny"), cfg)


def _context(checkpoint, task="text-classification", max_seq_length=32):
    cfg = pipeline_config.PipelineConfig()
    cfg.task = task
    cfg.model.max_seq_length = max_seq_length
    return RunContext(cfg, str(checkpoint), True)


def _features(context, texts, pad_to=None):
    encoded = embedding.text_encoder(context).encode(tf.constant(texts),
                                                     context.config.model.max_seq_length)
    dense = {k: tf.cast(v.to_tensor(0), tf.int32) for k, v in encoded.items()}
    if pad_to:
        dense = {k: tf.pad(v, [[0, 0], [0, pad_to - v.shape[1]]]) for k, v in dense.items()}
    return dense


def test_mean_pool_ignores_padding_and_normalises():
    hidden = tf.constant([[[1.0, 2.0], [3.0, 4.0], [100.0, 100.0]]])
    out = embedding.mean_pool(hidden, tf.constant([[1, 1, 0]]))
    expected = np.array([2.0, 3.0]) / np.linalg.norm([2.0, 3.0])
    np.testing.assert_allclose(out.numpy()[0], expected, rtol=1e-6)
    # An all-padding row gives zeros, not NaN.
    assert not np.isnan(embedding.mean_pool(hidden, tf.constant([[0, 0, 0]])).numpy()).any()


def test_embed_on_classifier_equals_pooled_encoder(tiny_checkpoint):
    context = _context(tiny_checkpoint)
    model = model_lib.build_sequence_classifier(str(tiny_checkpoint), 2)
    features = _features(context, TEXTS)
    vectors = embedding.embed(model, features).numpy()
    hidden = model_lib.encoder_of(model)(**features, training=False)[0].numpy()
    mask = features["attention_mask"].numpy()[:, :, None]
    manual = (hidden * mask).sum(1) / mask.sum(1)
    manual /= np.linalg.norm(manual, axis=1, keepdims=True)
    np.testing.assert_allclose(vectors, manual, atol=1e-5)
    assert vectors.shape == (len(TEXTS), 32)
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    # Extra padding columns change nothing.
    padded = embedding.embed(model, _features(context, TEXTS, pad_to=40)).numpy()
    np.testing.assert_allclose(padded, vectors, atol=1e-5)


def _serve_in_fresh_process(model_dir, texts, names=("serve_embedding", "serve_text")):
    script = textwrap.dedent("""
        import json, sys
        import tensorflow as tf
        import tensorflow_text  # noqa: F401
        model = tf.saved_model.load(sys.argv[1])
        texts = json.loads(sys.argv[2])
        fn = model.signatures[sys.argv[3]]
        out = fn(text=tf.constant(texts))
        assert not any(m.split(".")[0] in ("transformers", "trainer", "pipeline")
                       for m in sys.modules)
        print(json.dumps({"embedding": out["embedding"].numpy().tolist(),
                          "inputs": list(fn.structured_input_signature[1].keys()),
                          "outputs": sorted(out.keys()),
                          "signatures": sorted(model.signatures.keys())}))
    """)
    results = {}
    for name in names:
        proc = subprocess.run([sys.executable, "-c", script, str(model_dir), json.dumps(texts),
                               name], capture_output=True, text=True, timeout=300,
                              env={"TF_CPP_MIN_LOG_LEVEL": "2", "PATH": "/usr/bin:/bin"})
        assert proc.returncode == 0, proc.stderr[-3000:]
        results[name] = json.loads(proc.stdout.strip().splitlines()[-1])
    return results


def test_serve_embedding_signature_matches_keras(tiny_checkpoint, tmp_path):
    context = _context(tiny_checkpoint, max_seq_length=12)
    model = model_lib.build_sequence_classifier(str(tiny_checkpoint), 2)
    signature = embedding.serve_embedding_signature(model, context)
    model.save(str(tmp_path / "sm"), save_format="tf",
               signatures={"serve_embedding": signature}, save_traces=False)
    served = _serve_in_fresh_process(tmp_path / "sm", TEXTS, ["serve_embedding"])
    served = served["serve_embedding"]
    assert served["inputs"] == ["text"] and served["outputs"] == ["embedding"]
    # Truncation to max_seq_length (12) applies to the long last text, as in training.
    expected = embedding.embed(model, _features(context, TEXTS)).numpy()
    np.testing.assert_allclose(np.array(served["embedding"]), expected, atol=1e-5)


def test_embedding_task_exports_the_encoder_untrained(tiny_checkpoint):
    task = get_task("embedding")
    cfg = _context(tiny_checkpoint, task="embedding").config
    assert task.raw_label_column(cfg) is None
    model = task.build_model(_context(tiny_checkpoint, task="embedding"), None)
    before = [w.numpy().copy() for w in model.trainable_weights]
    model.compile(optimizer=tf.keras.optimizers.SGD(1.0), loss=task.loss(),
                  metrics=task.metrics())
    features = _features(_context(tiny_checkpoint), TEXTS)
    ds = tf.data.Dataset.from_tensors((features, tf.zeros([len(TEXTS)]))).repeat(3)
    model.fit(ds, epochs=2, verbose=0)
    after = model.trainable_weights
    assert all(np.array_equal(b, a.numpy()) for b, a in zip(before, after))
    vectors = model(features).numpy()
    np.testing.assert_allclose(vectors, embedding.embed(model, features).numpy(), atol=1e-5)
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)


def test_pretrained_embeddings_separate_sentiment(shared_checkpoint):
    """Nearest-neighbour sentiment accuracy of the real encoder's embeddings (no training)."""
    rows = []
    with open(EMBEDDED_DATA / "yelp.jsonl") as f:
        rows = [json.loads(line) for line in f][:400]
    texts = [r["text"] for r in rows]
    labels = np.array([str(r["label"]) for r in rows])
    context = _context(shared_checkpoint, task="embedding", max_seq_length=64)
    from trainer.tasks.embedding import build_embedding_model
    model = build_embedding_model(str(shared_checkpoint))
    vectors = np.concatenate([model(_features(context, texts[i:i + 50])).numpy()
                              for i in range(0, len(texts), 50)])
    similarity = vectors @ vectors.T
    np.fill_diagonal(similarity, -np.inf)
    knn_accuracy = float(np.mean(labels[similarity.argmax(1)] == labels))
    majority = max(np.mean(labels == v) for v in set(labels))
    print(f"embedding 1-NN sentiment accuracy {knn_accuracy:.3f} (majority {majority:.3f})")
    assert knn_accuracy > majority + 0.1, (knn_accuracy, majority)


@pytest.mark.slow
def test_embedding_end_to_end(tmp_path, tiny_checkpoint):
    from tests import fixtures
    from tests.e2e_support import run_cli
    # Real, distinct sentences (template ones repeat, and SchemaGen would then infer a closed
    # domain for the text column and flag the eval split's new sentences).
    with open(EMBEDDED_DATA / "amazon.jsonl") as f:
        rows = [(json.loads(line)["text"],) for line in f][:150]
    train = fixtures.write_csv(tmp_path / "train.csv", rows, header=("text",))
    proc = run_cli("--task", "embedding", "--train", str(train), "--checkpoint",
                   str(tiny_checkpoint), "--output", str(tmp_path / "out"), "--epochs", "1",
                   "--max-seq-length", "24")
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-5000:]
    assert "BLESSED" in proc.stdout and "NOT BLESSED" not in proc.stdout, proc.stdout[-3000:]
    (version,) = (tmp_path / "out" / "serving" / "electra_classifier").iterdir()
    served = _serve_in_fresh_process(version, TEXTS)
    assert {"serving_default", "serve_text", "serve_embedding"} <= set(
        served["serve_embedding"]["signatures"])
    via_text = np.array(served["serve_text"]["embedding"])
    via_embedding = np.array(served["serve_embedding"]["embedding"])
    assert via_text.shape == (len(TEXTS), 32)
    np.testing.assert_allclose(via_text, via_embedding, atol=1e-5)
    # The pushed model is the checkpoint's encoder, untrained: same vectors as built here.
    from trainer.tasks.embedding import build_embedding_model
    context = _context(tiny_checkpoint, task="embedding", max_seq_length=24)
    expected = build_embedding_model(str(tiny_checkpoint))(_features(context, TEXTS)).numpy()
    np.testing.assert_allclose(via_text, expected, atol=1e-5)
