"""`electra-tfx predict`: every task's scored rows, globs of several files, gzip, bad rows,
`--model latest`, and the mistakes refused before TensorFlow loads.

The models are the contract test's exports (tests/task_contract.py `contract_exports`): its
tiny scratch ELECTRA and each task's fixture rows through a real Transform, one training step,
exported with the task's signatures (the output formats are what is checked, not the
predictions' quality).
"""
import gzip
import json
import math
import os
import pathlib
import shutil

import pytest

from components import bad_rows
from tests import test_task_contract as contract
from tests.test_first_hour import assert_one_line_error, assert_quick, cli
from tests.task_contract import contract_checkpoint, contract_exports  # noqa: F401  (fixtures)

TEXT_LABELS = ["neg", "pos"]
# One model per output format: text pairs' multi-label and regression variants have the same
# heads and outputs as text classification's (trainer/tasks/text_pair_classification.py).
FORMATS = ("text-classification", "text-classification[multi_label]",
           "text-classification[regression]", "text-pair-classification",
           "token-classification", "question-answering", "embedding")


@pytest.fixture(scope="module")
def models(contract_exports):  # noqa: F811
    """{variant id: (SavedModel folder, fixture)} for every output format: the contract's
    candidate exports (made once per session, tests/task_contract.py)."""
    variants = [c for c in contract.BUILTIN_VARIANTS if contract._variant_id(c) in FORMATS]
    jobs = contract_exports(variants)
    return {contract._variant_id(cls): (jobs[contract._variant_id(cls)]["dirs"]["candidate"],
                                        contract._fixture(cls.name, cls.options))
            for cls in variants}


def _jsonl(path: pathlib.Path, rows) -> pathlib.Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def _predict(*argv):
    """predict in this process (TensorFlow is loaded already): (rows written, measures)."""
    from pipeline import batch_predict, cli, predict
    args = cli.build_parser().parse_args(["predict", *map(str, argv)])
    request = predict.Request(args)
    measured = batch_predict.predict(request)
    with open(request.output) as f:
        if request.output_format == "csv":
            import csv
            return list(csv.DictReader(f)), measured
        return [json.loads(line) for line in f], measured


def _check_classification(rows, fixture, labels):
    for row, given in zip(rows, fixture.rows):
        assert row["text"] == given["text"] and "label" in row  # the row's own columns kept
        assert len(row["probabilities"]) == len(labels)
        assert math.isclose(sum(row["probabilities"]), 1.0, abs_tol=1e-4)
        best = max(range(len(labels)), key=lambda i: row["probabilities"][i])
        assert row["label_ids"] == best and row["labels"] == labels[best]


def test_every_task_output_format(models, tmp_path):
    seen = set()
    for key, (model_dir, fixture) in models.items():
        rows_in = [dict(r) for r in fixture.rows]
        source = _jsonl(tmp_path / f"{len(seen)}.jsonl", rows_in)
        rows, measured = _predict("--model", model_dir, "--input", source,
                                  "--output", tmp_path / f"{len(seen)}.out.jsonl")
        assert len(rows) == len(rows_in) == measured["rows"], key
        seen.add(key)
        if key in ("text-classification", "text-pair-classification"):
            _check_classification(rows, fixture, TEXT_LABELS)
            if key == "text-pair-classification":
                assert all(r["text_pair"] == "the capital of france" for r in rows)
        elif key == "text-classification[multi_label]":
            for row in rows:
                assert len(row["probabilities"]) == 3 and set(row["predictions"]) <= {0, 1}
                on = [l for l, p in zip(["food", "sport", "tech"], row["predictions"]) if p]
                assert row["labels"] == ",".join(on)
        elif key == "text-classification[regression]":
            assert all(isinstance(r["score"], float) and "label" in r for r in rows)
        elif key == "token-classification":
            for row, given in zip(rows, rows_in):
                assert row["tokens"] == given["tokens"] and row["words"] == given["tokens"]
                assert len(row["tags"]) == len(given["tokens"]) == len(row["scores"])
                assert set(row["tags"]) <= {"B-LOC", "O"}
        elif key == "question-answering":
            for row, given in zip(rows, rows_in):
                assert row["question"] == given["question"]
                assert {"answer", "score", "start", "end"} <= set(row)
                if row["start"] >= 0:
                    assert given["context"][row["start"]:row["end"]] == row["answer"]
                else:
                    assert row["answer"] == ""
        elif key == "embedding":
            for row in rows:
                assert len(row["embedding"]) == 32
                assert math.isclose(math.sqrt(sum(v * v for v in row["embedding"])), 1.0,
                                    abs_tol=1e-3)
        else:
            pytest.fail(f"no output check for {key}")
    assert seen == set(FORMATS)


def test_serve_text_with_mapped_columns_matches_serving_default(models, tmp_path):
    model_dir, fixture = models["text-classification"]
    texts = [r["text"] for r in fixture.rows]
    source = tmp_path / "reviews.csv"
    source.write_text("review,id\n" + "".join(f"{t},{i}\n" for i, t in enumerate(texts)))
    by_text, _ = _predict("--model", model_dir, "--input", source, "--signature", "serve_text",
                          "--column", "text=review", "--output", tmp_path / "a.csv")
    by_example, _ = _predict("--model", model_dir, "--input",
                             _jsonl(tmp_path / "t.jsonl", [{"text": t} for t in texts]),
                             "--output", tmp_path / "b.jsonl")
    assert [r["review"] for r in by_text] == texts and [r["id"] for r in by_text] == \
        [str(i) for i in range(len(texts))]
    for a, b in zip(by_text, by_example):
        assert json.loads(a["probabilities"]) == pytest.approx(b["probabilities"], abs=1e-5)

    # Token classification's serve_text reads space-separated words from a CSV cell.
    model_dir, _ = models["token-classification"]
    source = tmp_path / "sentences.csv"
    source.write_text("text\nthe pizza in paris\ngolf is great\n")
    rows, _ = _predict("--model", model_dir, "--input", source, "--signature", "serve_text",
                       "--output", tmp_path / "tags.jsonl")
    assert [r["words"] for r in rows] == [["the", "pizza", "in", "paris"], ["golf", "is", "great"]]
    assert [len(r["tags"]) for r in rows] == [4, 3]


def test_a_glob_of_several_files_plain_and_gzipped_keeps_input_order(models, tmp_path):
    model_dir, _ = models["text-classification"]
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "a.csv").write_text('text,id\n"golf, is great",a1\nthe phone,a2\n')
    with gzip.open(tmp_path / "in" / "b.jsonl.gz", "wt") as f:
        f.write(json.dumps({"text": "awful golf", "id": "b1"}) + "\n")
        f.write(json.dumps({"text": "pizza in paris", "id": "b2"}) + "\n")
    (tmp_path / "in" / "notes.txt").write_text("not an input")
    rows, measured = _predict("--model", model_dir, "--input", tmp_path / "in" / "*",
                              "--output", tmp_path / "out.jsonl", "--batch-size", 3)
    assert [r["id"] for r in rows] == ["a1", "a2", "b1", "b2"]
    assert rows[0]["text"] == "golf, is great" and measured["rows_per_second"] > 0
    assert all(r["labels"] in TEXT_LABELS for r in rows)


def test_bad_rows_fail_or_are_quarantined(models, tmp_path):
    model_dir, _ = models["text-classification"]
    source = tmp_path / "mixed.jsonl"
    source.write_text('{"text": "the pizza", "id": 1}\n{"text": "  ", "id": 2}\nnot json\n'
                      '{"id": 4}\n{"text": "golf", "id": 5}\n')
    output = tmp_path / "out.jsonl"
    with pytest.raises(bad_rows.BadRowsError) as error:
        _predict("--model", model_dir, "--input", source, "--output", output)
    message = str(error.value)
    assert "3 of 5 rows are bad; nothing was scored" in message
    assert f"{source} line 2: 'text' is blank" in message and f"{source} line 3" in message
    assert not output.exists()
    listing = [json.loads(l) for l in open(f"{output}.bad_rows.jsonl")]
    assert [r["line"] for r in listing] == [2, 3, 4]

    rows, measured = _predict("--model", model_dir, "--input", source, "--output", output,
                              "--on-bad-rows", "quarantine")
    assert [r["id"] for r in rows] == [1, 5] and measured["bad_rows"] == 3
    assert len(open(f"{output}.bad_rows.jsonl").readlines()) == 3


def _push(base: pathlib.Path, version: int, model_dir=None, complete=True) -> pathlib.Path:
    folder = base / str(version)
    if model_dir:
        shutil.copytree(model_dir, folder)
    else:
        folder.mkdir(parents=True)
        if complete:
            (folder / "saved_model.pb").write_bytes(b"")
    return folder


def test_model_latest_is_the_newest_complete_version(tmp_path):
    from components.model_versions import ModelNotFoundError, resolve_model
    serving = tmp_path / "run" / "serving"
    _push(serving / "electra_classifier", 1700000000)
    newest = _push(serving / "electra_classifier", 1800000000)
    _push(serving / "electra_classifier", 1900000000, complete=False)  # a push that died
    (serving / "electra_classifier" / ".tmp-2000000000-1").mkdir()  # a push under way
    (serving / "electra_classifier" / ".tmp-2000000000-1" / "saved_model.pb").write_bytes(b"")
    older_model = _push(serving / "other", 1750000000)
    run = str(tmp_path / "run")
    assert resolve_model("latest", run) == str(newest)
    assert resolve_model("latest", run, "other") == str(older_model)
    assert resolve_model(str(serving / "electra_classifier"), run) == str(newest)
    assert resolve_model(str(older_model), run) == str(older_model)
    with pytest.raises(ModelNotFoundError, match="no pushed model under"):
        resolve_model("latest", str(tmp_path / "elsewhere"))


def test_the_command_scores_the_latest_push_to_csv(models, tmp_path):
    """The command end to end in its own process: --model latest under --output-dir."""
    model_dir, _ = models["text-classification"]
    serving = tmp_path / "run" / "serving" / "electra_classifier"
    _push(serving, 1700000000)  # older and not a real model: never loaded
    _push(serving, 1800000000, model_dir)
    source = _jsonl(tmp_path / "in.jsonl", [{"text": "the pizza was great", "n": 1}])
    result = cli("predict", "--model", "latest", "--output-dir", tmp_path / "run",
                 "--input", source, "--output", tmp_path / "out.csv")
    assert result.code == 0, result.err
    assert "Scored 1 rows in" in result.out and "rows/s" in result.out
    lines = (tmp_path / "out.csv").read_text().splitlines()
    assert lines[0].split(",")[:2] == ["text", "n"] or set(lines[0].split(",")[:2]) == {"text", "n"}
    assert "probabilities" in lines[0] and len(lines) == 2


@pytest.mark.parametrize("case", ["missing model", "missing input", "unknown input format",
                                  "unknown output format", "no push yet"])
def test_mistakes_are_refused_before_tensorflow_loads(case, tmp_path):
    model = tmp_path / "model"
    model.mkdir()
    (model / "saved_model.pb").write_bytes(b"")
    source = _jsonl(tmp_path / "in.jsonl", [{"text": "x"}])
    args = {"--model": model, "--input": source, "--output": tmp_path / "out.jsonl"}
    expected = {
        "missing model": ("--model", "does not exist"),
        "missing input": ("--input", "does not exist"),
        "unknown input format": ("--input", "unknown format"),
        "unknown output format": ("--output", "unknown format .parquet"),
        "no push yet": ("--model latest: no pushed model under",),
    }[case]
    if case == "missing model":
        args["--model"] = tmp_path / "nope"
    elif case == "missing input":
        args["--input"] = tmp_path / "nope.csv"
    elif case == "unknown input format":
        args["--input"] = tmp_path / "in.parquet"
        args["--input"].write_bytes(b"PAR1")
    elif case == "unknown output format":
        args["--output"] = tmp_path / "out.parquet"
    else:
        args["--model"] = "latest"
        args["--output-dir"] = tmp_path / "run"
    result = cli("predict", *[x for kv in args.items() for x in kv])
    assert_one_line_error(result, *expected)
    assert_quick(result)


# ------------------------------------------------------------------ --predict in the pipeline


def test_predict_compiles_bulk_inferrer_after_the_gate(tmp_path):
    from pipeline import cli as cli_module
    from tests import fixtures
    train = fixtures.write_csv(tmp_path / "data" / "train.csv",
                               fixtures.sentiment_rows(30) + [("an extra neg", "neg")])
    new = fixtures.write_csv(tmp_path / "new" / "rows.csv", fixtures.sentiment_rows(4))
    out = tmp_path / "pipeline.json"
    code = cli_module.main(["compile", "--image", "img:1", "--pipeline-root", "gs://b/root",
                            "--out", str(out), "--checkpoint", "google/electra-small-discriminator",
                            "--train", str(train), "--predict", str(new)])
    assert code == 0
    spec = json.loads(out.read_text())["pipelineSpec"]
    tasks = spec["root"]["dag"]["tasks"]
    assert {"PredictExampleGen", "BulkInferrer", "PredictionsExport"} <= set(tasks)
    inputs = tasks["BulkInferrer"]["inputs"]["artifacts"]
    assert inputs["model_blessing"]["taskOutputArtifact"]["producerTask"] == "blessing_gate"
    assert inputs["model"]["taskOutputArtifact"]["producerTask"] == "Trainer"
    assert inputs["examples"]["taskOutputArtifact"]["producerTask"] == "PredictExampleGen"
    executor = json.dumps(spec["deploymentSpec"]["executors"]["BulkInferrer_executor"])
    assert "components.bulk_inference.Executor" in executor  # imports tensorflow_text


# A whole --quick --predict run (BulkInferrer): tests/test_tune_predict_e2e.py.
