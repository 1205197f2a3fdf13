"""question-answering: SQuAD readers, in-graph windows/labels, span decoding, the data pipeline,
and (slow) learning + serving parity with the real pretrained checkpoint."""
import gzip
import json
import pathlib

import numpy as np
import pytest
import tensorflow as tf

import pipeline_config
from components import text_example_gen
from trainer import data as data_lib
from trainer import qa_features
from trainer import qa_postprocess
from trainer import tasks
from trainer import tokenization
from trainer.run_context import RunContext

QA_DATA = pathlib.Path(__file__).parent / "data" / "qa"
SPECIALS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
WORDS = ["the", "tower", "is", "in", "paris", "where", "who", "built", "it", "was", ".", ",",
         "?", "##s", "1889", "by", "gust", "##ave", "eiffel", "france", "a", "city"]


def _vocab_dir(tmp_path):
    (tmp_path / "vocab.txt").write_text("\n".join(SPECIALS + WORDS) + "\n")
    return tmp_path


def _context(checkpoint_dir, max_seq_length=16, doc_stride=4):
    cfg = pipeline_config.PipelineConfig(task="question-answering")
    cfg.model.max_seq_length = max_seq_length
    cfg.task_options.doc_stride = doc_stride
    return RunContext(config=cfg, checkpoint_dir=str(checkpoint_dir), lower_case=True)


# ---- readers ----------------------------------------------------------------------------

def _values(example, key):
    feature = example.features.feature[key]
    kind = feature.WhichOneof("kind")
    values = list(getattr(feature, kind).value) if kind else []
    return [v.decode() if isinstance(v, bytes) else v for v in values]


def test_squad_json_file_is_read_one_example_per_question():
    examples = list(text_example_gen.read_file(str(QA_DATA / "sample.squad.json")))
    assert [_values(e, "id") for e in examples] == [["q1"], ["q2"], ["q3"]]
    first = examples[0]
    context = _values(first, "context")[0]
    assert _values(first, "title") == ["Eiffel_Tower"]
    assert _values(first, "question") == ["Where is the Eiffel Tower?"]
    assert _values(first, "answers_text") == ["Paris, France", "Paris"]
    assert _values(first, "answers_start") == [52, 52]
    assert context[52:52 + len("Paris, France")] == "Paris, France"
    # Unanswerable (SQuAD 2.0): no answer features at all (plausible_answers are ignored).
    assert _values(examples[2], "answers_text") == [] and _values(examples[2], "answers_start") == []


def test_squad_json_detected_by_content_and_gzip(tmp_path):
    document = (QA_DATA / "sample.squad.json").read_bytes()
    plain = tmp_path / "dev.json"
    plain.write_bytes(document)
    compressed = tmp_path / "dev.json.gz"
    compressed.write_bytes(gzip.compress(document))
    one_line = tmp_path / "one.json"
    one_line.write_text(json.dumps(json.loads(document)))
    for path in (plain, compressed, one_line):
        examples = list(text_example_gen.read_file(str(path)))
        assert len(examples) == 3, path


def test_jsonl_nested_answers_become_two_features():
    examples = list(text_example_gen.read_file(str(QA_DATA / "train.jsonl")))
    rows = [json.loads(line) for line in (QA_DATA / "train.jsonl").read_text().splitlines()]
    assert len(examples) == len(rows)
    for example, row in zip(examples, rows):
        assert _values(example, "answers_text") == row["answers"]["text"]
        assert _values(example, "answers_start") == row["answers"]["answer_start"]
        assert "answers" not in example.features.feature


def test_other_nested_objects_still_fail(tmp_path):
    path = tmp_path / "x.jsonl"
    path.write_text('{"question": "q", "answers": {"text": ["a"]}}\n')
    with pytest.raises(text_example_gen.BadInputError, match="nested objects"):
        list(text_example_gen.read_file(str(path)))
    path.write_text('{"answers": {"text": ["a", "b"], "answer_start": [1]}}\n')
    with pytest.raises(text_example_gen.BadInputError, match="2 answer texts but 1"):
        list(text_example_gen.read_file(str(path)))


# ---- windows and labels -----------------------------------------------------------------

def test_windows_stride_and_labels(tmp_path):
    encoder = tokenization.WordPieceEncoder(tokenization.load_vocab(
        str(_vocab_dir(tmp_path) / "vocab.txt")), True)
    # max 16: question "where is it?" = 4 pieces, room 16 - 4 - 3 = 9, stride 4.
    featurizer = qa_features.QAFeaturizer(encoder, max_seq_length=16, doc_stride=4)
    context = ("The tower is in Paris, France. It was built in 1889 by Gustave Eiffel. "
               "Paris is a city.")
    answer = "Gustave Eiffel"
    out = featurizer.windows(tf.constant(["Where is it?", "Who?"]),
                             tf.constant([context, "Paris."]),
                             tf.constant([context.index(answer), -1]),
                             tf.constant([answer, ""]))
    ids = out["input_ids"].to_list()
    n_context = len(encoder.tokenize(tf.constant([context]))[0])  # 23 pieces
    assert n_context == 23
    # windows start at 0, 4, 8, 12, 16 (16 + 9 >= 23): 5 windows, then 1 for "Paris."
    assert out["window_example"].numpy().tolist() == [0] * 5 + [1]
    assert all(len(w) <= 16 for w in ids)
    q = encoder.tokenize(tf.constant(["Where is it?"]))[0].numpy().tolist()
    pieces = encoder.tokenize(tf.constant([context]))[0].numpy().tolist()
    for w, start in enumerate([0, 4, 8, 12, 16]):
        assert ids[w] == [2] + q + [3] + pieces[start:start + 9] + [3]
        types = out["token_type_ids"][w].numpy().tolist()
        assert types == [0] * (len(q) + 2) + [1] * (len(ids[w]) - len(q) - 2)
    starts = out["start_positions"].numpy().tolist()
    ends = out["end_positions"].numpy().tolist()
    char_starts, char_ends = out["char_starts"].to_list(), out["char_ends"].to_list()
    for w in range(6):
        if starts[w] == 0:
            assert ends[w] == 0
            continue
        assert context[char_starts[w][starts[w]]:char_ends[w][ends[w]]] == answer
    # "gust ##ave eiffel" are pieces 14..16: wholly inside windows 2 [8, 17) and 3 [12, 21).
    assert [s > 0 for s in starts] == [False, False, True, True, False, False]
    # Unanswerable: [CLS].
    assert (starts[5], ends[5]) == (0, 0)


HF_CASES = [
    ("Where is the Eiffel Tower?",
     "The Eiffel Tower (French: tour Eiffel) is in Paris, France; it was built in 1889."),
    ("Qu'est-ce que c'est?", "Café  naïve\tcrème brûlée... 3.14 and don't-stop! Ωμέγα ΣΟΦΟΣ"),
    ("who?", "北京 is the capital of 中国 (China), pop. 21,542,000 — a big city.\x0bX\u00adY"),
    ("a " * 80 + "question", "short context."),
]


def test_ids_and_offsets_match_huggingface(shared_checkpoint):
    from transformers import ElectraTokenizerFast

    hf = ElectraTokenizerFast.from_pretrained(str(shared_checkpoint))
    encoder = tokenization.WordPieceEncoder(
        tokenization.load_vocab(str(shared_checkpoint / "vocab.txt")), True)
    featurizer = qa_features.QAFeaturizer(encoder, max_seq_length=32, doc_stride=8)
    for question, context in HF_CASES:
        out = featurizer.windows(tf.constant([question]), tf.constant([context]))
        q = hf(question, add_special_tokens=False)["input_ids"][:featurizer.max_query_length]
        enc = hf(context, add_special_tokens=False, return_offsets_mapping=True)
        pieces, offsets = enc["input_ids"], enc["offset_mapping"]
        room = 32 - len(q) - 3
        seen = []
        for w, ids in enumerate(out["input_ids"].to_list()):
            assert ids[:len(q) + 2] == [hf.cls_token_id] + q + [hf.sep_token_id], question
            assert ids[-1] == hf.sep_token_id
            start = w * min(8, room)
            assert ids[len(q) + 2:-1] == pieces[start:start + room], context
            seen += list(range(start, start + len(ids) - len(q) - 3))
            # Each piece's word span contains HF's own (finer) offsets for that piece.
            cs = out["char_starts"][w].numpy()[len(q) + 2:-1]
            ce = out["char_ends"][w].numpy()[len(q) + 2:-1]
            for i, (a, b) in enumerate(offsets[start:start + room]):
                assert cs[i] <= a and b <= ce[i], (context, i)
        assert sorted(set(seen)) == list(range(len(pieces)))


# ---- in-graph span decoding == the Python reference -------------------------------------

def test_decode_spans_in_graph_matches_python():
    rng = np.random.default_rng(3)
    contexts = ["Paris is the capital of France.", "Le café était très agréable ici.",
                "One two three four five six seven."]
    num_windows = [1, 3, 2]
    length = 14
    window_example, offsets_s, offsets_e = [], [], []
    for ex, n in enumerate(num_windows):
        for _ in range(n):
            window_example.append(ex)
            s = np.full(length, -1)
            e = np.full(length, -1)
            # 3 question tokens, then a random slice of word-level offsets, then padding.
            words = [(i, i + 3) for i in range(0, 30, 4)]
            first = rng.integers(0, 4)
            k = rng.integers(3, 8)
            for j, (a, b) in enumerate(words[first:first + k]):
                s[4 + j], e[4 + j] = a, b
            offsets_s.append(s)
            offsets_e.append(e)
    start_logits = rng.normal(size=(len(window_example), length)).astype(np.float32)
    end_logits = rng.normal(size=(len(window_example), length)).astype(np.float32)
    start_logits[:, 0] += 1.5  # make some examples prefer "no answer"
    end_logits[:, 0] += 1.5
    for n_best, max_len, threshold in [(20, 30, 0.0), (2, 2, 0.0), (5, 3, -5.0), (20, 30, 5.0)]:
        got = qa_features.decode_spans(start_logits, end_logits, np.stack(offsets_s),
                                       np.stack(offsets_e), np.array(window_example),
                                       tf.constant(contexts), n_best, max_len, threshold)
        for ex, context in enumerate(contexts):
            windows = [qa_postprocess.Window(start_logits[w], end_logits[w],
                                             list(zip(offsets_s[w], offsets_e[w])))
                       for w in range(len(window_example)) if window_example[w] == ex]
            want = qa_postprocess.decode(context, windows, n_best, max_len, threshold)
            assert got["answer"][ex].numpy().decode() == want.text
            assert (int(got["start"][ex]), int(got["end"][ex])) == (want.start, want.end)
            assert float(got["score"][ex]) == pytest.approx(want.score, abs=1e-5)


# ---- Transform output -> the trainer's per-window batches -------------------------------

def test_preprocess_and_data_pipeline_yield_one_example_per_window(tmp_path):
    task = tasks.get_task("question-answering")
    context = _context(_vocab_dir(tmp_path), max_seq_length=16, doc_stride=4)
    text = ("The tower is in Paris, France. It was built in 1889 by Gustave Eiffel. "
            "Paris is a city.")
    inputs = {
        "question": tf.sparse.from_dense(tf.constant([["Who built it?"], ["Where is it?"]])),
        "context": tf.constant([[text], ["The tower is in Paris."]]),
        "answers_text": tf.RaggedTensor.from_row_lengths(
            tf.constant(["Gustave Eiffel"]), [1, 0]).to_sparse(),
        "answers_start": tf.RaggedTensor.from_row_lengths(
            tf.constant([text.index("Gustave")], tf.int64), [1, 0]).to_sparse(),
    }
    out = task.preprocess(inputs, context)
    dense = {k: tf.RaggedTensor.from_sparse(v) for k, v in out.items()}
    # "who built it?" = 4 pieces: room 9 over 23 context pieces -> 5 windows; then 1.
    assert dense["window_lengths"].to_list() == [[16, 16, 16, 16, 14], [13]]
    assert dense["start_positions"].to_list()[1] == [0]
    path = tmp_path / "transformed.gz"
    with tf.io.TFRecordWriter(str(path), options="GZIP") as writer:
        for row in range(2):
            example = tf.train.Example()
            for name, value in dense.items():
                example.features.feature[name].int64_list.value.extend(value[row].numpy().tolist())
            writer.write(example.SerializeToString())
    ds = data_lib.make_dataset(str(path), task=task, batch_size=4, boundaries=[12],
                               shuffle=False)
    windows = []
    for features, targets in ds:
        assert set(features) == {"input_ids", "attention_mask", "token_type_ids"}
        assert features["input_ids"].dtype == tf.int32 and targets.shape[1] == 2
        for i in range(targets.shape[0]):
            n = int(tf.reduce_sum(features["attention_mask"][i]))
            windows.append((features["input_ids"][i, :n].numpy().tolist(),
                            targets[i].numpy().tolist()))
    want = [(ids, [s, e]) for ids, s, e in zip(
        tf.RaggedTensor.from_row_lengths(dense["input_ids"].flat_values,
                                         dense["window_lengths"].flat_values).to_list(),
        dense["start_positions"].flat_values.numpy().tolist(),
        dense["end_positions"].flat_values.numpy().tolist())]
    assert sorted(map(str, windows)) == sorted(map(str, want))
    assert len(windows) == 6 and sum(t != [0, 0] for _, t in windows) == 2


# ---- learning and serving (real pretrained encoder) -------------------------------------

def _rows(name):
    return [json.loads(line) for line in (QA_DATA / name).read_text().splitlines()]


def _raw_inputs(rows):
    """Raw features shaped as tf.Transform hands them over (the inferred schema's shapes)."""
    def column(key):
        return tf.constant([[r[key]] for r in rows])

    texts = [r["answers"]["text"] for r in rows]
    starts = [r["answers"]["answer_start"] for r in rows]
    lengths = [len(t) for t in texts]
    return {
        "question": column("question"), "context": column("context"),
        "answers_text": tf.RaggedTensor.from_row_lengths(
            tf.constant(sum(texts, []), tf.string), lengths).to_sparse(),
        "answers_start": tf.RaggedTensor.from_row_lengths(
            tf.constant(sum(starts, []), tf.int64), lengths).to_sparse(),
    }


def _write_transformed(task, context, rows, path):
    out = task.preprocess(_raw_inputs(rows), context)
    dense = {k: tf.RaggedTensor.from_sparse(v).to_list() for k, v in out.items()}
    with tf.io.TFRecordWriter(str(path), options="GZIP") as writer:
        for row in range(len(rows)):
            example = tf.train.Example()
            for name, values in dense.items():
                example.features.feature[name].int64_list.value.extend(values[row])
            writer.write(example.SerializeToString())
    return dense


def _keras_answers(model, featurizer, questions, contexts, options):
    """The trained Keras model on the featurizer's windows, decoded by the Python reference."""
    windows = featurizer.windows(tf.constant(questions), tf.constant(contexts))
    inputs = {name: tf.cast(windows[name].to_tensor(), tf.int32)
              for name in ("input_ids", "attention_mask", "token_type_ids")}
    logits = model.predict(inputs, verbose=0)
    owners = windows["window_example"].numpy()
    answers = []
    for ex, context in enumerate(contexts):
        ws = []
        for w in np.flatnonzero(owners == ex):
            n = len(windows["input_ids"][w])
            offsets = list(zip(windows["char_starts"][w].numpy(), windows["char_ends"][w].numpy()))
            ws.append(qa_postprocess.Window(logits[w, :n, 0], logits[w, :n, 1], offsets))
        answers.append(qa_postprocess.decode(context, ws, options.n_best_size,
                                             options.max_answer_length,
                                             options.null_score_threshold))
    return answers, np.bincount(owners)


@pytest.mark.slow
def test_learns_the_fixture_and_serves_what_keras_computes(shared_checkpoint, tmp_path):
    import tf_keras
    from trainer import model as model_lib
    from trainer import optimization

    tf_keras.utils.set_random_seed(0)
    task = tasks.get_task("question-answering")
    context = _context(shared_checkpoint, max_seq_length=64, doc_stride=24)
    options = context.config.task_options
    train_rows, eval_rows = _rows("train.jsonl"), _rows("eval.jsonl")
    _write_transformed(task, context, train_rows, tmp_path / "train.gz")
    _write_transformed(task, context, eval_rows, tmp_path / "eval.gz")
    train_ds = data_lib.make_dataset(str(tmp_path / "train.gz"), task=task, batch_size=16,
                                     boundaries=[48], shuffle=True, seed=0)
    eval_ds = data_lib.make_dataset(str(tmp_path / "eval.gz"), task=task, batch_size=32,
                                    boundaries=[48], shuffle=False)
    epochs = 12
    steps = data_lib.count_batches(train_ds) * epochs
    model = task.build_model(context, None)
    optimizer = optimization.create_optimizer(
        learning_rate=5e-4, num_train_steps=steps, warmup_ratio=0.1, weight_decay=0.01,
        layer_decay=0.8, num_layers=6, clip_norm=1.0)
    model.compile(optimizer=optimizer, loss=task.loss(), metrics=task.metrics())
    model_lib.trace_without_autograph(model)  # as the Trainer's steps (trainer/training.py)
    before = model.evaluate(eval_ds, verbose=0, return_dict=True)
    history = model.fit(train_ds, epochs=epochs, validation_data=eval_ds, verbose=2).history
    after = model.evaluate(eval_ds, verbose=0, return_dict=True)
    print("QA_FIGURES", json.dumps({"eval_loss_before": before["loss"],
                                    "eval_loss_after": after["loss"],
                                    "train_loss": history["loss"]}))
    assert history["loss"][-1] < 0.5 * history["loss"][0]
    assert after["loss"] < 0.5 * before["loss"]

    # Served answers for the eval questions, through the exported SavedModel.
    signatures = task.serving_signatures(model, None, context)
    export_dir = tmp_path / "serving"
    model.save(str(export_dir), save_format="tf", signatures=signatures, save_traces=False)
    loaded = tf.saved_model.load(str(export_dir))
    served = loaded.signatures["serve_text"]
    questions = [r["question"] for r in eval_rows]
    contexts = [r["context"] for r in eval_rows]
    out = served(question=tf.constant(questions), context=tf.constant(contexts))
    assert set(out) == {"answer", "score", "start", "end"}
    predictions = [a.decode() for a in out["answer"].numpy()]
    golds = [r["answers"]["text"] for r in eval_rows]
    scores = qa_postprocess.squad_scores(predictions, golds)
    first_word = qa_postprocess.squad_scores([c.split()[0] for c in contexts], golds)
    no_answer = qa_postprocess.squad_scores([""] * len(contexts), golds)
    print("QA_FIGURES", json.dumps({"served": scores, "first_word": first_word,
                                    "no_answer": no_answer}))
    assert scores["exact_match"] >= max(first_word["exact_match"], no_answer["exact_match"]) + 30
    assert scores["f1"] >= max(first_word["f1"], no_answer["f1"]) + 30
    for i, p in enumerate(predictions):
        start, end = int(out["start"][i]), int(out["end"][i])
        assert (p == "" and start == end == -1) or contexts[i][start:end] == p

    # Parity: served == the Keras model + the Python decoder, long multi-window contexts too.
    keras_answers, windows_per_example = _keras_answers(
        model, model.qa_featurizer, questions, contexts, options)
    assert windows_per_example.max() >= 3
    for i, want in enumerate(keras_answers):
        assert predictions[i] == want.text, (i, questions[i])
        assert (int(out["start"][i]), int(out["end"][i])) == (want.start, want.end)
        assert float(out["score"][i]) == pytest.approx(want.score, abs=1e-3)
    # serving_default takes serialized tf.Examples with the raw columns and answers the same.
    examples = []
    for q, c in zip(questions[:4], contexts[:4]):
        example = tf.train.Example()
        example.features.feature["question"].bytes_list.value.append(q.encode())
        example.features.feature["context"].bytes_list.value.append(c.encode())
        examples.append(example.SerializeToString())
    by_example = loaded.signatures["serving_default"](
        examples=tf.constant(examples))
    assert [a.decode() for a in by_example["answer"].numpy()] == predictions[:4]
