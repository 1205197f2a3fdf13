"""token-classification: CoNLL reading, strict entity metrics, Transform's label alignment,
windowed serving (parity with the Keras model), and the whole pipeline on the NER fixture."""
import gzip
import json
import pathlib
import subprocess
import sys
import tempfile
import textwrap

import numpy as np
import pytest
import tensorflow as tf

import pipeline_config
from components.readers import read_conll
from components.input_files import file_kind
from components.text_example_gen import BadInputError, read_file
from tests.e2e_support import run_cli
from trainer import entity_metrics
from trainer.entity_metrics import entities, is_bio_tag_set, score
from trainer.run_context import RunContext

NER_DATA = pathlib.Path(__file__).resolve().parent / "data" / "ner"


# ---- Strict entity extraction and scores (hand-computed, seqeval strict IOB2 semantics) ----

@pytest.mark.parametrize("tags,expected", [
    (["B-PER", "I-PER", "O", "B-LOC"], [("PER", 0, 1), ("LOC", 3, 3)]),
    (["I-PER", "I-PER", "O"], []),                       # no B: not an entity in strict mode
    (["O", "I-LOC", "B-LOC"], [("LOC", 2, 2)]),
    (["B-PER", "I-LOC", "I-LOC"], [("PER", 0, 0)]),      # type change ends the entity
    (["B-PER", "B-PER", "I-PER"], [("PER", 0, 0), ("PER", 1, 2)]),
    (["B-ORG", "I-ORG", "I-ORG"], [("ORG", 0, 2)]),      # entity at the very end
    (["B-MISC-X", "I-MISC-X"], [("MISC-X", 0, 1)]),
    ([], []),
    (["O", "O"], []),
])
def test_entities_follow_strict_iob2(tags, expected):
    assert entities(tags) == expected


def test_micro_precision_recall_f1_by_hand():
    gold = [["B-PER", "I-PER", "O", "B-LOC"], ["B-ORG", "O", "B-PER"]]
    pred = [["B-PER", "I-PER", "O", "B-ORG"],   # PER right, LOC missed, ORG spurious
            ["B-ORG", "O", "I-PER"]]            # ORG right, I-PER without B: no entity
    result = score(gold, pred)
    # gold 4 entities, predicted 3, correct 2.
    assert result["precision"] == pytest.approx(2 / 3)
    assert result["recall"] == pytest.approx(2 / 4)
    assert result["f1"] == pytest.approx(2 * (2 / 3) * 0.5 / (2 / 3 + 0.5))
    assert result["token_accuracy"] == pytest.approx(5 / 7)
    # A boundary error is a miss, not a partial hit.
    assert score([["B-PER", "I-PER"]], [["B-PER", "O"]])["f1"] == 0.0
    # All-"O" (the majority-tag baseline) finds nothing.
    assert score(gold, [["O"] * len(g) for g in gold])["f1"] == 0.0


def test_bio_tag_set_detection():
    assert is_bio_tag_set(["O", "B-PER", "I-PER"])
    assert not is_bio_tag_set(["NOUN", "VERB"])
    assert not is_bio_tag_set(["O", "I-PER"])  # IOB1-only: no B
    assert not is_bio_tag_set(["O", "B-PER", "E-PER"])


def test_tfma_combiner_decodes_padded_string_sequences():
    import tensorflow_model_analysis as tfma
    from tensorflow_model_analysis.metrics import metric_types
    eval_config = tfma.EvalConfig(model_specs=[
        tfma.ModelSpec(name="candidate", prediction_key="tags"),
        tfma.ModelSpec(name="baseline", prediction_key="tags", is_baseline=True)])
    computations = entity_metrics.EntityF1().computations(
        eval_config=eval_config, model_names=["candidate", "baseline"], output_names=[""])
    assert len(computations) == 2
    computation = computations[0]
    key = computation.keys[0]
    assert key.name == "entity_f1" and key.model_name == "candidate"
    combiner = computation.combiner
    acc = combiner.create_accumulator()
    for gold, pred in [([b"B-PER", b"I-PER", b"O", b""], [b"B-PER", b"I-PER", b"O", b""]),
                       ([b"B-LOC", b"", b"", b""], [b"O", b"", b"", b""])]:
        element = metric_types.StandardMetricInputs(
            labels=np.array(gold, dtype=object),
            predictions={"tags": np.array(pred, dtype=object), "scores": np.zeros(4)})
        acc = combiner.add_input(acc, element)
    merged = combiner.merge_accumulators([acc, combiner.create_accumulator()])
    assert combiner.extract_output(merged) == {key: pytest.approx(2 * 1 * 0.5 / 1.5)}


# ---- CoNLL reader ---------------------------------------------------------------------------

CONLL = ("-DOCSTART- -X- -X- O\n\nEU NNP B-NP B-ORG\nrejects VBZ B-VP O\nGerman\tJJ\tB-NP\tB-MISC\n"
         "\n\n Peter NNP B-NP B-PER \nBlackburn NNP I-NP I-PER")


def _sentences(examples):
    return [([t.decode() for t in e.features.feature["tokens"].bytes_list.value],
             [t.decode() for t in e.features.feature["tags"].bytes_list.value]) for e in examples]


def test_conll_reader_sentences_and_last_column(tmp_path):
    path = tmp_path / "x.conll"
    path.write_text(CONLL, encoding="utf-8")
    expected = [(["EU", "rejects", "German"], ["B-ORG", "O", "B-MISC"]),
                (["Peter", "Blackburn"], ["B-PER", "I-PER"])]
    assert _sentences(read_conll(str(path))) == expected
    # Through the generic reader, by extension, also gzip-compressed.
    assert file_kind(str(path)).format == "conll"
    gz = tmp_path / "y.conll.gz"
    gz.write_bytes(gzip.compress(CONLL.encode()))
    assert _sentences(read_file(str(gz))) == expected


def test_conll_reader_errors_name_file_and_line(tmp_path):
    path = tmp_path / "bad.conll"
    path.write_text("EU B-ORG\nrejects\n", encoding="utf-8")
    with pytest.raises(BadInputError) as err:
        list(read_file(str(path)))
    assert err.value.file == str(path) and err.value.line == 2
    assert "one column" in str(err.value)


def test_fixture_files_hold_aligned_sentences():
    train = [json.loads(line) for line in (NER_DATA / "train.jsonl").read_text().splitlines()]
    evaluation = _sentences(read_file(str(NER_DATA / "eval.conll")))
    assert len(train) >= 100 and len(evaluation) >= 50
    for tokens, tags in [(r["tokens"], r["tags"]) for r in train] + evaluation:
        assert len(tokens) == len(tags) and is_bio_tag_set(tags + ["B-X"])


# ---- Transform: word-level tags on first pieces ----------------------------------------------

@pytest.fixture(scope="module")
def tiny_checkpoint(tmp_path_factory):
    from trainer.checkpoint import build_scratch_checkpoint
    config = pipeline_config.ModelConfig(scratch_vocab_size=200, scratch_hidden_size=16,
                                         scratch_num_layers=1, scratch_num_heads=2,
                                         scratch_intermediate_size=32)
    texts = [" ".join(json.loads(line)["tokens"])
             for line in (NER_DATA / "train.jsonl").read_text().splitlines()]
    return build_scratch_checkpoint(texts, str(tmp_path_factory.mktemp("c") / "ckpt"), config)


def _context(checkpoint_dir, max_seq_length):
    cfg = pipeline_config.PipelineConfig(task="token-classification")
    cfg.model.max_seq_length = max_seq_length
    return RunContext(config=cfg, checkpoint_dir=str(checkpoint_dir), lower_case=True)


def _hf_pieces(checkpoint_dir, words):
    from transformers import ElectraTokenizerFast
    hf = ElectraTokenizerFast.from_pretrained(str(checkpoint_dir))
    unk = hf.convert_tokens_to_ids("[UNK]")
    return [hf(w, add_special_tokens=False)["input_ids"] or [unk] for w in words], hf


def test_transform_aligns_tags_to_first_pieces(tiny_checkpoint):
    import tensorflow_transform.beam as tft_beam
    from tensorflow_transform.tf_metadata import dataset_metadata, schema_utils
    from trainer.preprocessing import preprocessing_fn
    rows = [{"tokens": ["Zanzibarian", "visited", "Paris", "\u200b", "."],
             "tags": ["B-PER", "O", "B-LOC", "O", "O"]},
            {"tokens": ["Siemens"] * 12, "tags": [" B-ORG "] + ["I-ORG"] * 11},
            {"tokens": [], "tags": []}]
    context = _context(tiny_checkpoint, max_seq_length=10)
    spec = {"tokens": tf.io.VarLenFeature(tf.string), "tags": tf.io.VarLenFeature(tf.string)}
    metadata = dataset_metadata.DatasetMetadata(schema_utils.schema_from_feature_spec(spec))
    with tft_beam.Context(temp_dir=tempfile.mkdtemp(), force_tf_compat_v1=False):
        (transformed, _), transform_fn = (rows, metadata) | tft_beam.AnalyzeAndTransformDataset(
            lambda inputs: preprocessing_fn(inputs, context.to_custom_config()))
    for row, out in zip(rows, transformed):
        pieces, hf = _hf_pieces(tiny_checkpoint, row["tokens"])
        flat, labels = [], []
        for word_pieces, tag in zip(pieces, row["tags"]):
            flat += word_pieces
            labels += [tag.strip()] + [None] * (len(word_pieces) - 1)
        flat, labels = flat[:8], labels[:8]  # truncated to max_seq_length - 2 for training
        assert list(out["input_ids"]) == [hf.cls_token_id] + flat + [hf.sep_token_id]
        assert list(out["attention_mask"]) == [1] * (len(flat) + 2)
        got = list(out["label_ids"])
        assert got[0] == got[-1] == -100 and len(got) == len(flat) + 2
        for label, label_id in zip(labels, got[1:-1]):
            assert (label_id == -100) == (label is None)
        # Equal tags get equal ids, different tags different ids.
        ids = {label: label_id for label, label_id in zip(labels, got[1:-1]) if label}
        assert len(set(ids.values())) == len(ids) and min(ids.values(), default=0) >= 0
    # "Zanzibarian" is split into several pieces: only its first one carries B-PER.
    assert len(_hf_pieces(tiny_checkpoint, ["Zanzibarian"])[0][0]) > 1


# ---- Loss and metric ignore -100 -------------------------------------------------------------

def test_masked_loss_and_accuracy_ignore_unlabelled_positions():
    from trainer.tasks.token_classification import (MaskedTokenAccuracy,
                                                    masked_sparse_categorical_crossentropy)
    logits = tf.constant([[[2.0, 0.0], [0.0, 3.0], [5.0, -5.0]]])
    labels = tf.constant([[0, 0, -100]])
    expected = np.mean([np.log1p(np.exp(-2.0)), np.log1p(np.exp(3.0))])
    assert float(masked_sparse_categorical_crossentropy(labels, logits)) == pytest.approx(
        expected, rel=1e-5)
    metric = MaskedTokenAccuracy()
    metric.update_state(labels, logits)
    assert float(metric.result()) == pytest.approx(0.5)


# ---- Serving: overlapping windows equal the Keras model, word by word -------------------------

def reference_tags(call_model, pieces_per_word, tag_names, max_seq_length, cls_id, sep_id):
    """Plain-Python windows: each window is run on its own (batch 1, no padding)."""
    body = max_seq_length - 2
    stride = max(1, body // 2)
    flat, firsts = [], []
    for pieces in pieces_per_word:
        firsts.append(len(flat))
        flat += pieces
    starts = [0]
    while starts[-1] + body < len(flat):
        starts.append(starts[-1] + stride)
    window_logits = []
    for start in starts:
        ids = [cls_id] + flat[start:start + body] + [sep_id]
        features = {"input_ids": tf.constant([ids], tf.int32),
                    "attention_mask": tf.ones([1, len(ids)], tf.int32),
                    "token_type_ids": tf.zeros([1, len(ids)], tf.int32)}
        window_logits.append(np.asarray(call_model(features))[0])
    tags, scores = [], []
    for p in firsts:
        best, best_context = None, -1
        for j, start in enumerate(starts):
            length = min(body, len(flat) - start)
            if start <= p < start + length:
                context = min(p - start, start + length - 1 - p)
                if context > best_context:
                    best, best_context = j, context
        logits = window_logits[best][p - starts[best] + 1]
        probs = np.exp(logits - logits.max())
        probs /= probs.sum()
        tags.append(tag_names[int(probs.argmax())])
        scores.append(float(probs.max()))
    return tags, scores, len(starts)


def test_windowed_serving_equals_the_keras_model(tiny_checkpoint):
    from trainer import model as model_lib
    from trainer.tasks.token_classification import WindowedTagger
    tag_names = ["O", "B-PER", "I-PER", "B-LOC"]
    model = model_lib.build_token_classifier(str(tiny_checkpoint), len(tag_names))
    max_seq_length = 8
    tagger = WindowedTagger(model, _context(tiny_checkpoint, max_seq_length), tag_names)
    texts = ["Peter visited Paris .",
             " ".join(["Maria Garcia met officials from the United Nations in Tokyo ."] * 4),
             "",
             "Zanzibarian " * 9]
    out = tagger(tf.strings.split(tf.constant(texts)).with_row_splits_dtype(tf.int64))
    out = {k: v.numpy() for k, v in out.items()}
    assert out["tags"].shape == out["scores"].shape == out["words"].shape
    windows = []
    for row, text in enumerate(texts):
        words = text.split()
        pieces, hf = _hf_pieces(tiny_checkpoint, words)
        tags, scores, n = reference_tags(lambda f: model(f, training=False), pieces, tag_names,
                                         max_seq_length, hf.cls_token_id, hf.sep_token_id)
        windows.append(n)
        width = out["tags"].shape[1]
        assert [w.decode() for w in out["words"][row]] == words + [""] * (width - len(words))
        assert [t.decode() for t in out["tags"][row]] == tags + [""] * (width - len(words))
        np.testing.assert_allclose(out["scores"][row][:len(words)], scores, atol=1e-5)
        assert not out["scores"][row][len(words):].any()
    assert windows[1] >= 4 and windows[3] >= 3  # the long inputs really needed many windows


# ---- The whole pipeline with the real pretrained encoder -------------------------------------

MAX_SEQ_LENGTH = 32


@pytest.fixture(scope="module")
def ner_run(tmp_path_factory, shared_checkpoint):
    output = tmp_path_factory.mktemp("ner") / "out"
    proc = run_cli(
        "--task", "token-classification",
        "--train", str(NER_DATA / "train.jsonl"), "--eval", str(NER_DATA / "eval.conll"),
        "--checkpoint", str(shared_checkpoint), "--output", str(output),
        "--epochs", "3", "--batch-size", "16", "--learning-rate", "5e-4",
        "--max-seq-length", str(MAX_SEQ_LENGTH), "--set", "train.bucket_boundaries=16,24")
    return output, proc


@pytest.mark.slow
def test_pipeline_learns_ner_and_beats_the_majority_tag(ner_run):
    output, proc = ner_run
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-5000:]
    assert "BLESSED" in proc.stdout and "NOT BLESSED" not in proc.stdout, proc.stdout[-2000:]
    from pipeline.run_record import read_run
    record = read_run(str(output / "metadata.sqlite"))
    metrics = record.candidate_metrics
    (history_file,) = (output / "artifacts" / "Trainer").glob("model_run/*/history.json")
    losses = json.loads(history_file.read_text())["history"]["loss"]
    print("NER figures:", json.dumps({"metrics": metrics, "loss": losses}))
    assert losses[-1] < 0.5 * losses[0], losses
    # The majority-tag baseline ("O" everywhere) has entity F1 0 and this token accuracy:
    gold = _sentences(read_file(str(NER_DATA / "eval.conll")))
    tags = [t for _, ts in gold for t in ts]
    majority_accuracy = tags.count("O") / len(tags)
    assert metrics["token_accuracy"] > majority_accuracy + 0.05, (metrics, majority_accuracy)
    assert metrics["entity_f1"] >= 0.5, metrics
    assert {"entity_precision", "entity_recall"} <= set(metrics)


@pytest.mark.slow
def test_served_ner_model_equals_the_keras_model_on_long_inputs(ner_run, shared_checkpoint):
    output, proc = ner_run
    assert proc.returncode == 0, proc.stderr[-3000:]
    (version,) = (output / "serving" / "electra_classifier").iterdir()
    gold = _sentences(read_file(str(NER_DATA / "eval.conll")))
    texts = [" ".join(tokens) for tokens, _ in gold]
    script = textwrap.dedent("""
        import json, sys
        import tensorflow as tf
        import tensorflow_text  # noqa: F401
        model = tf.saved_model.load(sys.argv[1])
        texts = json.loads(sys.argv[2])
        out = model.signatures["serve_text"](text=tf.constant(texts))
        print(json.dumps({
            "signatures": sorted(model.signatures.keys()),
            "inputs": list(model.signatures["serve_text"].structured_input_signature[1]),
            "dtypes": {k: v.dtype.name for k, v in out.items()},
            "words": [[w.decode() for w in row] for row in out["words"].numpy()],
            "tags": [[t.decode() for t in row] for row in out["tags"].numpy()],
            "scores": out["scores"].numpy().tolist()}))
        assert not any(m.split(".")[0] in ("transformers", "trainer", "pipeline", "components")
                       for m in sys.modules), "the served model needed project code"
    """)
    served = subprocess.run([sys.executable, "-c", script, str(version), json.dumps(texts)],
                            capture_output=True, text=True, timeout=300,
                            env={"TF_CPP_MIN_LOG_LEVEL": "2", "PATH": "/usr/bin:/bin"})
    assert served.returncode == 0, served.stderr[-3000:]
    result = json.loads(served.stdout.strip().splitlines()[-1])
    assert {"serving_default", "serve_text", "serve_embedding"} <= set(result["signatures"])
    assert result["inputs"] == ["text"]
    assert result["dtypes"] == {"words": "string", "tags": "string", "scores": "float32"}

    # The trained Keras model, run window by window in plain Python.
    keras_model = tf.saved_model.load(str(version))
    tag_names = sorted({t for _, ts in gold for t in ts})
    predicted, long_inputs = [], 0
    for row, (tokens, _) in enumerate(gold):
        pieces, hf = _hf_pieces(shared_checkpoint, tokens)
        tags, scores, n = reference_tags(
            keras_model.call_on_ids, pieces, _model_tag_names(output),
            MAX_SEQ_LENGTH, hf.cls_token_id, hf.sep_token_id)
        long_inputs += n > 1
        width = len(result["words"][row])
        assert result["words"][row] == tokens + [""] * (width - len(tokens))
        assert result["tags"][row][:len(tokens)] == tags, row
        assert all(t == "" for t in result["tags"][row][len(tokens):])
        np.testing.assert_allclose(result["scores"][row][:len(tokens)], scores, atol=1e-4)
        predicted.append(tags)
    assert long_inputs >= 5  # several eval sentences need more than one window
    assert set(tag_names) >= {t for ts in predicted for t in ts}
    f1 = score([ts for _, ts in gold], predicted)["f1"]
    print("NER served entity F1:", f1)
    # The Evaluator's F1 (TFMA, serving_default on tf.Examples) is the same number.
    from pipeline.run_record import read_run
    metrics = read_run(str(output / "metadata.sqlite")).candidate_metrics
    assert metrics["entity_f1"] == pytest.approx(f1, abs=1e-6)


def _model_tag_names(output):
    (vocab,) = (output / "artifacts" / "Transform").glob("transform_graph/*/transform_fn/assets/tags")
    return vocab.read_text(encoding="utf-8").splitlines()
