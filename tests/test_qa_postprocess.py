"""SQuAD normalisation, EM/F1 and n-best span decoding (pure functions)."""
import numpy as np
import pytest

from trainer import qa_postprocess as qp


def test_normalize_answer_follows_squad():
    assert qp.normalize_answer("The  Eiffel Tower!") == "eiffel tower"
    assert qp.normalize_answer("an apple, a pear") == "apple pear"
    assert qp.normalize_answer("Theatre") == "theatre"  # "the" only as a whole word
    assert qp.normalize_answer("") == ""


def test_exact_match_and_f1():
    assert qp.exact_match("the Eiffel tower.", "Eiffel Tower") == 1.0
    assert qp.exact_match("Eiffel", "Eiffel Tower") == 0.0
    # precision 1/1, recall 1/2 -> F1 2/3
    assert qp.f1("Eiffel", "Eiffel Tower") == pytest.approx(2 / 3)
    # precision 2/3, recall 2/2 -> 0.8
    assert qp.f1("the tall Eiffel Tower", "Eiffel Tower") == pytest.approx(0.8)
    assert qp.f1("Paris", "Eiffel Tower") == 0.0
    # Repeated tokens count once per occurrence (Counter intersection).
    assert qp.f1("paris paris", "paris") == pytest.approx(2 * 0.5 * 1 / 1.5)


def test_unanswerable_scores():
    assert qp.max_over_golds(qp.exact_match, "", []) == 1.0
    assert qp.max_over_golds(qp.f1, "", []) == 1.0
    assert qp.max_over_golds(qp.f1, "something", []) == 0.0
    assert qp.max_over_golds(qp.f1, "", ["an answer"]) == 0.0


def test_squad_scores_take_the_best_gold_answer():
    scores = qp.squad_scores(["Denver Broncos", "Paris", ""],
                             [["Broncos", "Denver Broncos"], ["London"], []])
    assert scores["exact_match"] == pytest.approx(200 / 3)
    assert scores["f1"] == pytest.approx(200 / 3)
    scores = qp.squad_scores(["Denver"], [["Denver Broncos"]])
    assert scores == {"exact_match": 0.0, "f1": pytest.approx(100 * 2 / 3)}


def _window(start, end, offsets):
    return qp.Window(np.asarray(start, float), np.asarray(end, float), offsets)


CONTEXT = "Paris is the capital of France."
# [CLS] q [SEP] Paris is the capital of France . [SEP]
OFFSETS = [(-1, -1), (-1, -1), (-1, -1), (0, 5), (6, 8), (9, 12), (13, 20), (21, 23),
           (24, 30), (30, 31), (-1, -1)]


def test_decode_picks_the_best_valid_span():
    start = [0, 9, 0, 1, 0, 0, 5, 0, 0, 0, 0]  # best start on a question token: not context
    end = [0, 0, 9, 0, 0, 0, 0, 0, 6, 0, 0]
    answer = qp.decode(CONTEXT, [_window(start, end, OFFSETS)])
    assert answer.text == "capital of France"
    assert (answer.start, answer.end) == (13, 30)
    assert answer.score == pytest.approx(11.0)
    assert CONTEXT[answer.start:answer.end] == answer.text


def test_decode_respects_end_after_start_and_max_length():
    start = [0, 0, 0, 0, 0, 0, 0, 0, 8, 0, 0]
    end = [0, 0, 0, 9, 0, 0, 0, 0, 1, 0, 0]  # end before start is invalid
    assert qp.decode(CONTEXT, [_window(start, end, OFFSETS)]).text == "France"
    start = [0, 0, 0, 9, 0, 0, 0, 0, 0, 0, 0]
    end = [0, 0, 0, 0, 0, 0, 0, 0, 9, 0, 0]
    assert qp.decode(CONTEXT, [_window(start, end, OFFSETS)]).text == CONTEXT[:30]
    # With at most 2 tokens, "Paris ... France" is too long; the best short span wins.
    answer = qp.decode(CONTEXT, [_window(start, end, OFFSETS)], max_answer_length=2)
    assert answer.text in ("Paris", "Paris is", "France")
    assert all(c.end_token - c.start_token + 1 <= 2 for c in answer.n_best)


def test_decode_n_best_limits_candidates():
    rng = np.random.default_rng(0)
    start, end = rng.normal(size=11), rng.normal(size=11)
    one = qp.decode(CONTEXT, [_window(start, end, OFFSETS)], n_best_size=1)
    assert len(one.n_best) <= 1
    ctx = np.arange(3, 10)
    s, e = ctx[np.argmax(start[ctx])], ctx[np.argmax(end[ctx])]
    if e >= s:
        assert (one.n_best[0].start_token, one.n_best[0].end_token) == (s, e)
    else:
        assert one.text == ""
    many = qp.decode(CONTEXT, [_window(start, end, OFFSETS)], n_best_size=20)
    assert [c.score for c in many.n_best] == sorted((c.score for c in many.n_best), reverse=True)
    # Exhaustive search over valid pairs agrees when every context token is a candidate.
    best = max((start[i] + end[j], i, j) for i in ctx for j in ctx if i <= j)
    assert (many.n_best[0].start_token, many.n_best[0].end_token) == best[1:]


def test_null_answer_threshold_and_windows():
    span = [0, 0, 0, 0, 0, 0, 0, 0, 2, 0, 0]
    strong_null = [5, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0]
    answer = qp.decode(CONTEXT, [_window(strong_null, span, OFFSETS)])
    # null 5 + 0 = 5 beats the span score 1 + 2 = 3 by 2 > 0.
    assert (answer.text, answer.start, answer.end) == ("", -1, -1)
    assert answer.null_score == 5.0 and answer.score == 5.0
    answer = qp.decode(CONTEXT, [_window(strong_null, span, OFFSETS)], null_score_threshold=2.5)
    assert answer.text == "France"
    # The null score is the minimum over windows: a window that sees the answer has a low one.
    other = [(-1, -1)] * 3 + [(0, 5), (6, 8)] + [(-1, -1)] * 6
    answer = qp.decode(CONTEXT, [_window(strong_null, span, OFFSETS),
                                 _window([0] * 11, [0] * 11, other)])
    assert answer.text == "France" and answer.null_score == 0.0


def test_decode_across_windows_uses_each_windows_offsets():
    a = [(-1, -1)] * 3 + [(0, 5), (6, 8), (9, 12)] + [(-1, -1)] * 5
    b = [(-1, -1)] * 3 + [(9, 12), (13, 20), (21, 23), (24, 30), (30, 31)] + [(-1, -1)] * 3
    wa = _window([0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0], [0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0], a)
    wb = _window([0, 0, 0, 0, 0, 0, 4, 0, 0, 0, 0], [0, 0, 0, 0, 0, 0, 4, 0, 0, 0, 0], b)
    answer = qp.decode(CONTEXT, [wa, wb])
    assert answer.text == "France" and answer.n_best[0].window == 1
    from_a = [c for c in answer.n_best if c.window == 0]
    assert from_a[0].score == 2.0 and (from_a[0].start, from_a[0].end) == (0, 5)


def test_tfma_combiner_averages_squad_scores():
    import types

    from tensorflow_model_analysis.metrics import metric_types

    from trainer import qa_metrics

    key = metric_types.MetricKey(name="f1")
    elements = [  # (label = gold answers, prediction = served answer)
        (np.array([b"Denver Broncos", b"Broncos"]), {"answer": np.array(b"the Broncos")}),
        (np.array([b"Paris"]), {"answer": np.array([b"Paris, France"])}),
        (np.array([], dtype=object), {"answer": np.array(b"")}),  # unanswerable, right
        (None, {"answer": np.array(b"Lyon")}),  # unanswerable, wrong
    ]
    results = {}
    for quantity in ("exact_match", "f1"):
        combiner = qa_metrics._Combiner(key, quantity, "answer")
        halves = []
        for part in (elements[:2], elements[2:]):
            acc = combiner.create_accumulator()
            for label, prediction in part:
                acc = combiner.add_input(acc, types.SimpleNamespace(label=label,
                                                                    prediction=prediction))
            halves.append(acc)
        results[quantity] = combiner.extract_output(combiner.merge_accumulators(halves))[key]
    assert results["exact_match"] == pytest.approx(2 / 4)
    assert results["f1"] == pytest.approx((1 + 2 / 3 + 1 + 0) / 4)
