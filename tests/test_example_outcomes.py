"""The run report's examples for every task with a right answer (`Task.example_outcomes`,
pipeline/example_predictions.py): each task's hook on the outputs of a real tiny exported
model (the task contract's exports, tests/task_contract.py), checked by hand
on edited outputs, the summary written for the report, and the report's HTML drawn from it
(read back as `electra-tfx report` reads it). Embedding has no examples."""
import json

import pytest

from pipeline import example_predictions
from pipeline.report import collect, runs
from pipeline.report.model import CANDIDATE, CalibrationBin, ReportData
from tests.test_report import render
from trainer import tasks

from tests.task_contract import (_config, _example, _fixture, _variant_id,  # noqa: F401
                                 contract_checkpoint, contract_exports)  # (fixtures)

VARIANTS = {
    "single": ("text-classification", {}),
    "multi": ("text-classification", {"multi_label": True}),
    "regression": ("text-classification", {"regression": True}),
    "tokens": ("token-classification", {}),
    "qa": ("question-answering", {}),
}


def _class(name, options):
    return next(cls for cls in tasks.variants(name)
                if {k: v for k, v in cls.options.items() if v} == options)


@pytest.fixture(scope="module")
def served(contract_checkpoint, contract_exports):  # noqa: F811
    """variant -> the task bound to its config, the `serving_default` of its exported tiny
    model (the contract's export, tests/task_contract.py: a scratch ELECTRA after one training
    step; what it predicts does not matter, what its outputs mean does), the serialized
    fixture rows, the rows, the served outputs (NumPy) and the parsed examples."""
    import tensorflow as tf
    out = {}
    jobs = contract_exports([_class(name, options) for name, options in VARIANTS.values()])
    for key, (name, options) in VARIANTS.items():
        cls, fixture = _class(name, options), _fixture(name, options)
        job = jobs[_variant_id(cls)]
        task = tasks.create(_config(cls, fixture, contract_checkpoint))
        serve = tf.saved_model.load(job["dirs"]["candidate"]).signatures["serving_default"]
        records = [_example(r) for r in fixture.rows]
        outputs = {k: v.numpy() for k, v in serve(examples=tf.constant(records)).items()}
        out[key] = (task, serve, records, fixture.rows, outputs,
                    [tf.train.Example.FromString(r) for r in records])
    return out


def _predict(served, key):
    """What example_predictions writes of a variant's fixture rows: (view, rows)."""
    task, serve, records, rows = served[key][:4]
    view, predicted = example_predictions.predict_with(
        serve, records, task, list(task.raw_text_columns(task.config)))
    return task, view, predicted, rows


def _outputs(served, key):
    """(the task, the served outputs, the parsed examples) of a variant's fixture rows."""
    task, outputs, examples = served[key][0], served[key][4], served[key][5]
    return task, outputs, examples


def _report(tmp_path, summary, task_name, text_columns, calibration=None):
    """The report's page of a run whose predictions file holds `summary` (and TFMA's
    calibration histogram `calibration`)."""
    path = tmp_path / "predictions.json"
    path.write_text(json.dumps({"first_examples_only": False, "text_columns": text_columns,
                                **summary}))
    data = ReportData(run_id="2024-05-01T10:00:00.000001", task=task_name, blessed=True,
                      predictions=collect.read_predictions(str(path)),
                      calibration=calibration or {})
    page = render(tmp_path / "out", data)
    # `electra-tfx report` draws a past run from its report.json: the predictions survive it.
    saved = runs.saved_report(str(tmp_path / "out"), data.run_id)
    assert saved.predictions == data.predictions
    return data, page


def _scores(table_rows, column=-1):
    return [float(row[column]) for row in table_rows[1:]]


def test_single_label_rows_are_as_before(served, tmp_path):
    task, view, rows, fixture_rows = _predict(served, "single")
    _, outputs, _ = _outputs(served, "single")
    assert len(rows) == len(fixture_rows)
    for row, source, p, label in zip(rows, fixture_rows, outputs["probabilities"],
                                     outputs["labels"]):
        assert row["text"] == {"text": source["text"]} and row["label"] == source["label"]
        assert row["predicted"] == label.decode()
        assert row["confidence"] == row["score"] == pytest.approx(float(p.max()))
        assert row["correct"] is (row["predicted"] == source["label"])
    summary = example_predictions.summarize(rows, view=view)
    assert summary["mistakes"] == sum(not r["correct"] for r in rows)
    assert sum(b["count"] for b in summary["reliability"]) == len(rows)
    _, page = _report(tmp_path, summary, task.name, ["text"])
    for table in ("mistakes", "correct"):
        if table in page.rows:
            assert page.rows[table][0] == ["text", "true label", "predicted", "confidence"]
    assert "calibration.png" in page.images


def test_multi_label_compares_the_sets(served, tmp_path):
    task, outputs, examples = _outputs(served, "multi")
    # By hand: "tech,food" is the set {food, tech} whichever order the model serves it in;
    # the set's confidence is its least sure label's max(p, 1 - p).
    import numpy as np
    first = dict(outputs, probabilities=np.array([[0.9, 0.2, 0.7]] * len(examples)),
                 labels=np.array([b"food,tech"] * len(examples)))
    result = task.example_outcomes(first, examples)
    assert [r.correct for r in result.rows] == [False, True, False, False, True, False]
    assert result.rows[1].predicted == result.rows[1].label == "food,tech"
    assert result.rows[2].label == "sport"
    assert all(r.confidence == r.score == pytest.approx(0.7) for r in result.rows)

    _, view, rows, fixture_rows = _predict(served, "multi")
    for row, p, served in zip(rows, outputs["probabilities"], outputs["labels"]):
        assert set(row["predicted"].split(",")) == (set(served.decode().split(",")) - {""}
                                                    or {"(none)"})
        assert row["confidence"] == pytest.approx(float(np.maximum(p, 1 - p).min()))
        assert row["correct"] is (row["predicted"] == row["label"])
    summary = example_predictions.summarize(rows, view=view)
    mistakes = [r["score"] for r in summary["confident_mistakes"]]
    assert mistakes == sorted(mistakes, reverse=True)
    assert summary["mistakes"] == sum(not r["correct"] for r in rows)
    assert sum(b["count"] for b in summary["reliability"]) == len(rows)
    assert summary["view"]["confidence"].startswith("confidence (the least sure label")
    _, page = _report(tmp_path, summary, task.name, ["text"])
    assert page.rows["mistakes"][0] == ["text", "true labels", "predicted", "confidence"]
    assert _scores(page.rows["mistakes"]) == [round(s, 4) for s in mistakes]
    assert f"The {len(mistakes)} most confident mistakes" in page.full_text
    assert "calibration.png" in page.images and "reliability" in page.rows


def test_regression_shows_the_largest_errors_and_no_reliability(served, tmp_path):
    task, view, rows, fixture_rows = _predict(served, "regression")
    _, outputs, _ = _outputs(served, "regression")
    for row, source, value in zip(rows, fixture_rows, outputs["score"]):
        assert row["correct"] is None and row["confidence"] is None
        assert row["score"] == pytest.approx(abs(float(value) - source["label"]))
        assert float(row["predicted"]) == pytest.approx(float(value), rel=1e-3)
        assert float(row["label"]) == pytest.approx(source["label"])
    summary = example_predictions.summarize(rows, view=view)
    errors = sorted((r["score"] for r in rows), reverse=True)
    assert [r["score"] for r in summary["confident_mistakes"]] == errors
    assert [r["score"] for r in summary["correct_examples"]] == errors[::-1][:4]
    assert summary["mistakes"] is None and summary["reliability"] == []
    assert summary["mean_score"] == pytest.approx(sum(errors) / len(errors))
    tfma_bins = {CANDIDATE: [CalibrationBin(0.0, 0.5, 3, 0.2, 0.25)]}
    data, page = _report(tmp_path, summary, task.name, ["text"], tfma_bins)
    assert f"The {len(rows)} largest errors" in page.full_text
    assert (f"Absolute error of all {len(rows)} eval examples, largest first (mean absolute "
            f"error: {summary['mean_score']:.4g}).") in page.full_text
    assert "Best-predicted examples" in page.full_text
    assert "mistake" not in page.full_text.lower()
    assert page.rows["mistakes"][0] == ["text", "true value", "predicted", "absolute error"]
    assert _scores(page.rows["mistakes"]) == [round(e, 4) for e in errors]
    # No reliability diagram, not even of a TFMA calibration histogram.
    assert data.calibration and "calibration.png" not in page.images
    assert "reliability" not in page.rows and "Calibration" not in page.full_text


def test_token_classification_marks_the_wrong_tags(served, tmp_path):
    task, outputs, examples = _outputs(served, "tokens")
    # By hand: the first sentence served with its true tags but one.
    tags = outputs["tags"].copy()
    tags[0, :4] = [b"O", b"O", b"O", b"O"]  # "paris" is B-LOC
    tags[2, :2] = [b"B-LOC", b"B-LOC"]  # all right
    tags[3, :2] = [b"O", b"O"]  # all right
    result = task.example_outcomes(dict(outputs, tags=tags), examples)
    assert result.rows[0].correct is False and result.rows[3].correct is True
    assert result.rows[0].words == [("the", "O", "O"), ("pizza", "O", "O"), ("in", "O", "O"),
                                    ("paris", "O", "B-LOC")]
    assert result.rows[0].confidence == pytest.approx(float(outputs["scores"][0, :4].min()))
    assert result.view.confidence is not None
    # Without the tag probabilities: ranked by the number of wrong tags.
    tags[1, :3] = [b"B-LOC", b"B-LOC", b"O"]  # two of three wrong
    unscored = {k: v for k, v in outputs.items() if k != "scores"}
    counted = task.example_outcomes(dict(unscored, tags=tags), examples)
    assert counted.view.confidence is None and counted.view.score == "wrong tags"
    assert [r.score for r in counted.rows[:2]] == [1.0, 2.0]
    summary = example_predictions.summarize(
        [{"text": {}, **vars(r)} for r in counted.rows], view=counted.view)
    assert [r["score"] for r in summary["confident_mistakes"]][:2] == [2.0, 1.0]
    assert summary["reliability"] == []

    _, view, rows, _ = _predict(served, "tokens")
    for row, served in zip(rows, outputs["tags"]):
        predicted = [t.decode() for t in served[:len(row["words"])]]
        assert [w[1] for w in row["words"]] == predicted
        assert row["correct"] is all(w[1] == w[2] for w in row["words"])
    summary = example_predictions.summarize(rows, view=view)
    mistakes = [r["score"] for r in summary["confident_mistakes"]]
    assert mistakes == sorted(mistakes, reverse=True)
    _, page = _report(tmp_path, json.loads(json.dumps(summary)), task.name, ["tokens"])
    table = "mistakes" if summary["mistakes"] else "correct"
    assert page.rows[table][0] == [
        "words and predicted tags (a wrong one: predicted → true)", "confidence"]
    first = (summary["confident_mistakes"] or summary["correct_examples"])[0]
    assert page.rows[table][1][0] == " ".join(
        f"{w}/{p}" if p == t else f"{w}/{p} → {t}" for w, p, t in first["words"])
    html = (tmp_path / "out" / "report" / "index.html").read_text()
    wrong = sum(p != t for r in summary["confident_mistakes"] + summary["correct_examples"]
                for _, p, t in r["words"])
    assert html.count('<mark class="wrong">') == wrong


def test_question_answering_is_an_exact_match_after_normalisation(served, tmp_path):
    task, outputs, examples = _outputs(served, "qa")
    # By hand: golds "france", "paris" and none (unanswerable).
    import numpy as np
    for answers, right in (([b"France.", b"the paris", b""], [True, True, True]),
                           ([b"paris", b"paris is", b"laptop"], [False, False, False])):
        result = task.example_outcomes(dict(outputs, answer=np.array(answers)), examples)
        assert [r.correct for r in result.rows] == right
        assert [r.label for r in result.rows] == ["france", "paris", "(no answer)"]
        assert [r.score for r in result.rows] == pytest.approx(outputs["score"].tolist())
    # Without the span score: ranked by how little the answer overlaps a gold one (1 - F1).
    unscored = {k: v for k, v in outputs.items() if k != "score"}
    result = task.example_outcomes(
        dict(unscored, answer=np.array([b"paris france", b"paris", b"laptop"])), examples)
    assert result.view.score == "1 − F1" and result.view.confidence is None
    assert [r.score for r in result.rows] == pytest.approx([1 - 2 / 3, 0.0, 1.0])
    assert [r.correct for r in result.rows] == [False, True, False]
    _, view, rows, _ = _predict(served, "qa")
    assert view.confidence is None and view.score == "span score"
    summary = example_predictions.summarize(rows, view=view)
    assert summary["reliability"] == []
    scores = [r["score"] for r in summary["confident_mistakes"]]
    assert scores == sorted(scores, reverse=True)
    assert summary["mistakes"] == sum(not r["correct"] for r in rows)
    _, page = _report(tmp_path, summary, task.name, ["question", "context"])
    table = "mistakes" if summary["mistakes"] else "correct"
    assert page.rows[table][0] == ["question", "context", "gold answers", "predicted",
                                   "span score"]
    if summary["mistakes"]:
        assert "wrong answers with the highest span scores" in page.full_text
        assert "same as a gold answer after SQuAD normalisation" in page.full_text
    assert "calibration.png" not in page.images


def test_embedding_has_no_examples():
    config = _config(_class("embedding", {}), _fixture("embedding", {}), "unused").config
    assert not example_predictions.applies_to(config)
    assert tasks.create(config).example_outcomes({}, []) is None
    for name, options in VARIANTS.values():
        cls = _class(name, options)
        assert example_predictions.applies_to(_config(cls, _fixture(name, options),
                                                      "unused").config)
