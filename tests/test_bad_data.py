"""Bad data: the corpus in tests/data/bad/, one case a file, and what each case does.

Row problems are set aside one row at a time (the other rows of the file still arrive);
file problems fail the whole file. The policy (fail / quarantine, the bad-row limit) is
applied by TextExampleGen after its Beam job.
"""
import json
import os
import pathlib
import re

import pytest
import tensorflow as tf
from ml_metadata.metadata_store import metadata_store
from tfx import v1 as tfx

from components import bad_rows
from components.bad_rows import BadRow, BadRowsError, RowChecks, SplitCounts
from components.text_example_gen import (BadInputError, TextExampleGen, read_file, read_rows,
                                         resolve_inputs)
from pipeline import data_scan
from pipeline.runner import run_locally

BAD = pathlib.Path(__file__).parent / "data" / "bad"
CHECKS = RowChecks(text_columns=["text"], label_column="label", label_kind="string",
                   known_labels=["neg", "pos"])
BEAM_ARGS = ["--direct_running_mode=in_memory", "--direct_num_workers=1"]

# file -> [(line or row, problem regex)] of its bad rows, and how many good rows remain.
ROW_CASES = {
    "unterminated_quote.csv": ([(3, r"^a quoted field is never closed; the lines after it "
                                    r"were read again as rows$")], 3),
    "wrong_column_count.csv": ([(3, r"^3 fields but the header has 2: \['Terrible screen', "),
                                (4, r"^1 field but the header has 2")], 2),
    "header_repeated.csv": ([(4, r"^the header row again")], 3),
    "truncated_line.jsonl": ([(3, r"^invalid JSON \(Unterminated string.*\{\"text\": \"Lovely hot$")],
                             2),
    "non_object_line.jsonl": ([(2, r"^not a JSON object: \[\"Awful food\", \"neg\"\]$"),
                               (3, r"^not a JSON object: \"just a string\"$")], 2),
    "null_text.jsonl": ([(2, r"^no value for 'text' \(empty, null or absent; the row has 'label'\)$")],
                        2),
    "numeric_text.jsonl": ([(2, r"^'text' is a number \(42\), not a text$")], 2),
    "empty_text.csv": ([(3, r"^no value for 'text'"), (4, r"^'text' is blank \(only whitespace\)$")],
                       2),
    "non_utf8.csv": ([(3, r"^not UTF-8 text \(byte b'\\xe9' at column 4\): Caf")], 2),
    "nul_byte.csv": ([(3, r"^the row holds a NUL byte$")], 2),
    "unseen_label_eval.csv": ([(3, r"^the label 'maybe' never occurs in the training data "
                                   r"\(its labels: 'neg', 'pos'\)$")], 2),
}

FILE_CASES = {
    "binary_garbage.csv": r"binary_garbage\.csv: does not look like text: \d+ of its first 2,048 bytes",
    "header_only.csv": r"header_only\.csv: holds only the header row \(text,label\) and no data rows",
    "missing_text_column.csv": r"missing_text_column\.csv row 1: no column 'text'; the header has "
                               r"'review', 'label'\. Name the columns with --text-column",
    "missing_label_column.jsonl": r"missing_label_column\.jsonl: no record has 'label'; the records "
                                  r"have 'stars', 'text'",
}


def _read(name, checks=CHECKS, split="eval"):
    items = list(read_rows(str(BAD / name), checks, split))
    return ([i for i in items if isinstance(i, BadRow)],
            [i for i in items if isinstance(i, tf.train.Example)])


@pytest.mark.parametrize("name", sorted(ROW_CASES))
def test_row_problems_set_aside_one_row(name):
    expected, good = ROW_CASES[name]
    bad, examples = _read(name)
    assert [(row.line, row.split) for row in bad] == [(line, "eval") for line, _ in expected]
    for row, (_, pattern) in zip(bad, expected):
        assert row.file == str(BAD / name)
        assert re.search(pattern, row.problem), (row.problem, pattern)
        assert row.raw  # the row as read goes to the quarantine
    assert len(examples) == good
    # Without checks the first malformed row fails the file, naming it (read_file's contract).
    if name not in ("unseen_label_eval.csv", "null_text.jsonl", "numeric_text.jsonl",
                    "empty_text.csv"):  # those are the task's checks, not format errors
        with pytest.raises(BadInputError, match=rf"{name} (row|line) {expected[0][0]}: "):
            list(read_file(str(BAD / name)))


@pytest.mark.parametrize("name", sorted(FILE_CASES))
def test_file_problems_fail_the_file(name):
    with pytest.raises(BadInputError, match=FILE_CASES[name]):
        _read(name)



def test_multi_label_eval_cells_are_checked_label_by_label():
    import tensorflow as tf

    def example(label):
        ex = tf.train.Example()
        ex.features.feature["text"].bytes_list.value.append(b"cheap pizza")
        ex.features.feature["label"].bytes_list.value.append(label.encode())
        return ex

    checks = RowChecks(text_columns=["text"], label_column="label", label_separator=",",
                       known_labels=["food", "sport", "tech"])
    # A set of known labels that training never had together is fine, in any order.
    assert checks.problem(example("tech,food,sport"), "eval") is None
    assert checks.problem(example(" sport , food"), "eval") is None
    assert checks.problem(example("food,music"), "eval") == (
        "the label 'music' never occurs in the training data (its labels: 'food', 'sport', "
        "'tech')")
    assert checks.problem(example("food,music"), "train") is None  # training defines them


def test_misnamed_archives_are_file_problems(tmp_path):
    import gzip
    import zipfile
    (tmp_path / "data.csv").write_bytes(gzip.compress(b"text,label\nGreat phone,pos\n"))
    with pytest.raises(BadInputError, match=r"data\.csv: holds gzip-compressed data; name it "
                                            r"data\.csv\.gz"):
        list(read_rows(str(tmp_path / "data.csv"), CHECKS))
    with zipfile.ZipFile(tmp_path / "book.csv", "w") as book:
        book.writestr("xl/workbook.xml", "<workbook/>")
    with pytest.raises(BadInputError, match=r"book\.csv: is a ZIP archive \(an Excel workbook\?\)"):
        list(read_rows(str(tmp_path / "book.csv"), CHECKS))


def test_quarantined_rows_keep_the_raw_bytes_and_round_trip():
    (row,), _ = _read("non_utf8.csv")
    record = json.loads(row.to_json())
    assert record["split"] == "eval" and record["line"] == 3
    assert record["raw"] == "Caf\\xe9 au lait was cold,neg\n"
    # The exact bytes as read are kept too (raw_base64).
    assert BadRow.from_json(row.to_json()).raw == b"Caf\xe9 au lait was cold,neg\n"
    (row,), _ = _read("unterminated_quote.csv")
    assert json.loads(row.to_json())["raw"] == '"Terrible screen, never closed,neg\n'


def test_label_of_another_type_is_a_bad_row():
    checks = RowChecks(text_columns=["text"], label_column="label", label_kind="integer")
    bad, examples = _read("mixed_label_types.jsonl", checks, split="train")
    assert [(row.line, row.problem) for row in bad] == [
        (3, "the label 'positive' is a string, but the training labels are integers"),
        (4, "the label 0.0 is a float, but the training labels are integers")]
    assert len(examples) == 3


def test_unusual_texts_are_kept(tmp_path):
    bad, examples = _read("unusual_texts.jsonl")
    assert bad == [] and len(examples) == 6
    # A 200,000-character text (generated here rather than committed) is kept whole; the
    # tokenizer truncates it (tests/test_preprocessing.py: test_unusual_texts_are_tokenized...).
    long_text = "Très long texte 😀 " * 11_200
    assert len(long_text) > 200_000
    path = tmp_path / "long.csv"
    path.write_text(f'text,label\n"{long_text}",pos\nshort,neg\n', encoding="utf-8")
    items = list(read_rows(str(path), CHECKS, "train"))
    assert [type(i) for i in items] == [tf.train.Example, tf.train.Example]
    assert items[0].features.feature["text"].bytes_list.value[0].decode() == long_text


# ------------------------------------------------------------------------- the data scan


def test_scan_skips_bad_rows_and_takes_the_majority_label_type():
    result = data_scan.scan(str(BAD / "mixed_label_types.jsonl"), ["text"], "label",
                            single_label=True)
    assert result.label_kind == "integer"
    assert result.label_counts == {"1": 2, "0": 1}
    assert (result.num_examples, result.bad_rows) == (3, 2)
    result = data_scan.scan(str(BAD / "wrong_column_count.csv"), ["text"], "label")
    assert result.label_counts == {"pos": 1, "neg": 1} and result.bad_rows == 2


def test_scan_rejects_a_single_class():
    with pytest.raises(data_scan.DataError,
                       match=r"single_class\.csv: every training row has the label 'pos' \(3 rows\); "
                             r"a classifier needs at least two classes"):
        data_scan.scan(str(BAD / "single_class.csv"), ["text"], "label", single_label=True)


def test_scan_fails_on_file_problems():
    with pytest.raises(BadInputError, match=r"no column 'text'; the header has 'review', 'label'"):
        data_scan.scan(str(BAD / "missing_text_column.csv"), ["text"], "label")


def _split_label_counts(artifact, split):
    """Label value -> count of one split the ExampleGen wrote."""
    import collections
    files = tf.io.gfile.glob(os.path.join(artifact.uri, f"Split-{split}", "*.gz"))
    counts = collections.Counter()
    for record in tf.data.TFRecordDataset(files, compression_type="GZIP"):
        feature = tf.train.Example.FromString(record.numpy()).features.feature["label"]
        kind = feature.WhichOneof("kind")
        counts.update(str(v.decode() if isinstance(v, bytes) else v).strip()
                      for v in getattr(feature, kind).value)
    return dict(counts)


@pytest.mark.parametrize("with_eval, declared", [(False, False), (True, False), (True, True)],
                         ids=["hash-split", "eval-files", "declared-labels"])
def test_scan_eval_counts_equal_the_eval_split_example_gen_writes(tmp_path, with_eval, declared):
    """The scan's eval_label_counts / eval_num_examples are what ExampleGen writes to
    Split-eval: the hash split's rows of --train (same partition function, same bytes), or the
    --eval files' good rows; bad rows (a label of another type, an unseen eval label,
    malformed, with --labels an undeclared label in either split) are in neither."""
    import pipeline_config
    from pipeline import bad_data
    from trainer import tasks

    train = tmp_path / "train"
    train.mkdir()
    labels = ["neg", "pos", "pos", " meh "]
    (train / "a.csv").write_text("text,label\n" + "".join(
        f"sentence number {i},{labels[i % 4]}\n" for i in range(150)) + "extra,pos,x\n")
    (train / "b.jsonl").write_text("".join(
        json.dumps({"text": f"json row {i}", "label": labels[i % 3]}) + "\n" for i in range(60))
        + json.dumps({"text": "an integer label", "label": 1}) + "\n")
    cfg = pipeline_config.PipelineConfig()
    cfg.output = str(tmp_path / "out")
    cfg.data.train = str(train)
    cfg.data.on_bad_rows, cfg.data.max_bad_rows_fraction = "quarantine", 0.5
    if with_eval:
        evaluation = tmp_path / "eval"
        evaluation.mkdir()
        (evaluation / "e.csv").write_text("text,label\n" + "".join(
            f"held out {i},{labels[i % 4]}\n" for i in range(30)) + "unsure,maybe\nbroken\n")
        cfg.data.eval = str(evaluation)
    if declared:
        cfg.data.labels = ["pos", "neg"]
    task = tasks.get_task(cfg.task)
    scan = data_scan.scan(cfg.data.train, ["text"], "label", single_label=True,
                          eval=cfg.data.eval, eval_percent=cfg.data.eval_percent,
                          **bad_data.scan_options(cfg))
    if declared:  # the 37 'meh' rows are bad rows too
        assert scan.label_counts == {"neg": 58, "pos": 115} and scan.bad_rows == 39
    else:
        assert scan.label_counts == {"neg": 58, "pos": 115, "meh": 37} and scan.bad_rows == 2
    spec = resolve_inputs(cfg.data.train, cfg.data.eval, cfg.data.eval_percent)
    artifact = _run_example_gen(tmp_path / "run", spec, bad_data.row_checks(cfg, task, scan))

    written = _split_label_counts(artifact, "eval")
    assert scan.eval_label_counts == written
    assert scan.eval_num_examples == sum(written.values())
    if declared:
        assert written == {"neg": 8, "pos": 15}
        quarantine = tmp_path / "out" / "quarantine"
        quarantined = {split: [json.loads(line)["problem"] for line in
                               (quarantine / f"{split}.jsonl").read_text().splitlines()]
                       for split in ("train", "eval")}
        undeclared = "the label 'meh' is not one of the declared labels (--labels neg,pos)"
        assert quarantined["train"].count(undeclared) == 37
        assert quarantined["eval"].count(undeclared) == 7
        assert any("'maybe' is not one of the declared labels" in p for p in quarantined["eval"])
    elif with_eval:
        assert written == {"neg": 8, "pos": 15, "meh": 7}
    else:
        # A real share of the rows, and the rest is the train split.
        assert 20 < scan.eval_num_examples < 70
        train_written = _split_label_counts(artifact, "train")
        assert {k: train_written.get(k, 0) + written.get(k, 0)
                for k in scan.label_counts} == scan.label_counts


def _stray_labels_csv(path):
    """415 review-like rows labelled 0/1 with two strays, as a held-out export once had."""
    from tests import fixtures
    rows = fixtures.sentiment_rows(413, seed=3, label_names=("0", "1"))
    rows = rows[:100] + [("A stray seven", "7")] + rows[100:300] + [("Loved it", "positive")] \
        + rows[300:]
    return fixtures.write_csv(path, rows)


def test_suspect_labels_are_reported_with_their_rows_and_the_hint_makes_them_bad_rows(tmp_path):
    import shlex

    import pipeline_config
    from pipeline import bad_data
    from trainer import tasks

    train = _stray_labels_csv(tmp_path / "reviews.csv")
    cfg = pipeline_config.PipelineConfig()
    cfg.data.train = str(train)
    cfg.output = str(tmp_path / "out")
    scan = data_scan.scan(str(train), ["text"], "label", single_label=True,
                          **bad_data.scan_options(cfg))
    assert scan.label_counts == {"0": 207, "1": 206, "7": 1, "positive": 1}
    assert [(s.label, s.count, s.rows) for s in scan.suspect_labels] == [
        ("7", 1, [f"{train} row 102"]), ("positive", 1, [f"{train} row 303"])]
    (warning,) = bad_data.label_warnings(cfg, scan)
    assert warning.startswith(f"Suspect labels in {train}: 2 label value(s) in a tiny share "
                              "of the 415 training rows")
    assert f"  '7': 1 row(s) (0.24%)\n    - {train} row 102\n" in warning
    assert f"  'positive': 1 row(s) (0.24%)\n    - {train} row 303\n" in warning
    hint = warning.splitlines()[-1].strip()
    assert hint == "--labels 0,1"

    # Following the hint: the stray rows are bad rows, in the scan and in the ExampleGen's reader.
    flag, value = shlex.split(hint)
    pipeline_config.set_field(cfg, "data." + flag[2:], value)
    scan = data_scan.scan(str(train), ["text"], "label", single_label=True,
                          **bad_data.scan_options(cfg))
    assert scan.label_counts == {"0": 207, "1": 206} and scan.bad_rows == 2
    assert not scan.suspect_labels and not bad_data.label_warnings(cfg, scan)
    checks = bad_data.row_checks(cfg, tasks.get_task(cfg.task), scan)
    bad = [row for row in read_rows(str(train), checks, "single_split") if isinstance(row, BadRow)]
    assert [(row.line, row.problem) for row in bad] == [
        (102, "the label '7' is not one of the declared labels (--labels 0,1)"),
        (303, "the label 'positive' is not one of the declared labels (--labels 0,1)")]


def test_no_suspects_in_balanced_or_tiny_label_sets(tmp_path):
    assert data_scan.suspect_values({"a": 1, "b": 1, "c": 2}, 4) == []
    assert data_scan.suspect_values({"0": 500, "1": 480, "2": 20}, 1000) == []  # 2%: a class
    assert data_scan.suspect_values({"0": 990, "1": 900, "2": 9}, 1899) == ["2"]
    assert data_scan.suspect_values({"0": 30, "1": 25, "7": 1}, 56) == ["7"]  # once


def test_multi_label_suspects_and_declared_labels_are_per_label(tmp_path):
    import pipeline_config
    from pipeline import bad_data

    rows = [(f"text {i}", ["food", "tech", "food,tech"][i % 3]) for i in range(60)]
    rows.append(("odd one", "tech, fod"))
    train = fixtures_csv(tmp_path / "m.csv", rows)
    cfg = pipeline_config.PipelineConfig()
    cfg.data.train = str(train)
    cfg.task_options.multi_label = True
    scan = data_scan.scan(str(train), ["text"], "label", **bad_data.scan_options(cfg))
    assert [(s.label, s.rows) for s in scan.suspect_labels] == [("fod", [f"{train} row 62"])]
    assert bad_data.label_warnings(cfg, scan)[0].splitlines()[-1].strip() == "--labels food,tech"
    cfg.data.labels = ["food", "tech", "sport"]
    scan = data_scan.scan(str(train), ["text"], "label", **bad_data.scan_options(cfg))
    assert scan.bad_rows == 1 and scan.missing_labels == ["sport"]
    # More labels requested than present: refused before anything runs.
    with pytest.raises(pipeline_config.ConfigError,
                       match="--labels declares labels that no training row has: 'sport'"):
        bad_data.check_declared_labels(scan)
    checks = bad_data.row_checks(cfg, __import__("trainer.tasks", fromlist=["t"]).get_task(
        cfg.task), scan)
    example = tf.train.Example()
    example.features.feature["text"].bytes_list.value.append(b"x")
    example.features.feature["label"].bytes_list.value.append(b" tech , food ")
    assert checks.problem(example) is None
    example.features.feature["label"].bytes_list.value[:] = [b"tech, fod"]
    assert checks.problem(example) == ("the label 'fod' is not one of the declared labels "
                                       "(--labels food,sport,tech)")


def fixtures_csv(path, rows):
    from tests import fixtures
    return fixtures.write_csv(path, rows)


def test_declared_labels_check_integer_labels_and_every_split():
    checks = RowChecks(text_columns=["text"], label_column="label", label_kind="integer",
                       allowed_labels=["0", "1"])
    example = tf.train.Example()
    example.features.feature["text"].bytes_list.value.append(b"fine")
    example.features.feature["label"].int64_list.value.append(1)
    assert checks.problem(example, "train") is None
    example.features.feature["label"].int64_list.value[:] = [7]
    for split in ("train", "eval", "single_split"):
        assert checks.problem(example, split) == \
            "the label '7' is not one of the declared labels (--labels 0,1)"


@pytest.mark.parametrize("task, options, message", [
    ("text-classification", {"regression": True}, "text-classification --regression has none"),
    ("question-answering", {}, "question-answering has none"),
])
def test_labels_flag_needs_a_task_with_classes(task, options, message):
    import pipeline_config
    from pipeline import bad_data
    cfg = pipeline_config.PipelineConfig(task=task)
    for key, value in options.items():
        setattr(cfg.task_options, key, value)
    cfg.data.labels = ["a", "b"]
    with pytest.raises(pipeline_config.ConfigError, match=message):
        bad_data.scan_options(cfg)


def test_labels_flag_on_the_command_line():
    import argparse
    import shlex

    from pipeline import bad_data, cli
    parser = argparse.ArgumentParser()
    cli._add_pipeline_arguments(parser)
    cfg = cli.config_from_args(parser.parse_args(["--labels", " 10, 2,1,0"]))
    assert bad_data.declared_labels(cfg) == ["0", "1", "2", "10"]
    cfg = cli.config_from_args(parser.parse_args(["--labels", '["a,b", "c"]']))
    assert bad_data.declared_labels(cfg) == ["a,b", "c"]
    assert bad_data.labels_flag(["a,b", "c"]) == """--labels '["a,b", "c"]'"""
    hint = bad_data.labels_flag(["-1", "0", "1"])
    assert hint == "--labels=-1,0,1"
    cfg = cli.config_from_args(parser.parse_args(shlex.split(hint)))
    assert bad_data.declared_labels(cfg) == ["-1", "0", "1"]
    assert cli.config_from_args(parser.parse_args([])).data.labels is None


# -------------------------------------------------------------------------------- policy


def test_fail_policy_lists_the_first_five_and_counts_the_rest():
    rows = [BadRow(f"/d/{i % 2}.csv", i, f"problem {i}", "row") for i in range(1, 9)]
    counts = {"train": SplitCounts(rows=100, bad=8)}
    with pytest.raises(BadRowsError) as info:
        bad_rows.decide(counts, rows[:5], CHECKS, "/out/quarantine/*.jsonl")
    message = str(info.value)
    assert message.startswith("8 of 100 rows are bad; the run stopped before training "
                              "(--on-bad-rows fail):\n  - /d/1.csv row 1: problem 1\n")
    assert message.count("\n  - ") == 5 and "\n  ... and 3 more\n" in message
    assert "Every bad row, with its problem: /out/quarantine/*.jsonl" in message
    assert "--on-bad-rows quarantine" in message


def test_quarantine_policy_fails_only_above_the_limit():
    quarantine = RowChecks(on_bad_rows="quarantine", max_bad_rows_fraction=0.05)
    row = [BadRow("/d/a.csv", 2, "bad")]
    bad_rows.decide({"train": SplitCounts(100, 5), "eval": SplitCounts(20, 1)}, row, quarantine, None)
    with pytest.raises(BadRowsError, match=r"Too many bad rows to train on the rest: eval: 2 of 20 "
                                           r"rows \(10\.0%\), above the limit of 5%"):
        bad_rows.decide({"train": SplitCounts(100, 5), "eval": SplitCounts(20, 2)}, row, quarantine,
                        None)
    bad_rows.decide({"train": SplitCounts(100, 0)}, [], RowChecks(), None)  # clean data passes


# ------------------------------------------------------------- TextExampleGen under Beam


def _run_example_gen(root, spec, checks):
    root = str(root)
    connection = tfx.orchestration.metadata.sqlite_metadata_connection_config(
        os.path.join(root, "metadata.sqlite"))
    example_gen = TextExampleGen(input_base=spec.input_base, input_config=spec.input_config,
                                 output_config=spec.output_config, row_checks=checks)
    run_locally(tfx.dsl.Pipeline(
        pipeline_name="bad_rows_test", pipeline_root=os.path.join(root, "pipeline"),
        components=[example_gen], metadata_connection_config=connection,
        beam_pipeline_args=BEAM_ARGS))
    [artifact] = metadata_store.MetadataStore(connection).get_artifacts_by_type("Examples")
    return artifact


def _bad_data_dirs(tmp_path):
    """A train folder with 100 good rows and 3 bad ones (two files), an eval file with 1."""
    train = tmp_path / "train"
    train.mkdir()
    rows = "".join(f"good sentence {i},{['neg', 'pos'][i % 2]}\n" for i in range(60))
    (train / "a.csv").write_text("text,label\n" + rows + 'broken,"row\n' + "extra,pos,x\n")
    (train / "b.jsonl").write_text("".join(
        json.dumps({"text": f"more {i}", "label": ["neg", "pos"][i % 2]}) + "\n"
        for i in range(40)) + '{"text": null, "label": "pos"}\n')
    evaluation = tmp_path / "eval"
    evaluation.mkdir()
    (evaluation / "e.csv").write_text(
        "text,label\n" + "".join(f"held out {i},pos\n" for i in range(30)) + "unsure,maybe\n")
    return resolve_inputs(str(train), str(evaluation))


def test_example_gen_quarantines_bad_rows_per_split(tmp_path):
    spec = _bad_data_dirs(tmp_path)
    quarantine = tmp_path / "out" / "quarantine"
    checks = RowChecks(text_columns=["text"], label_column="label", label_kind="string",
                       known_labels=["neg", "pos"], on_bad_rows="quarantine",
                       quarantine_dir=str(quarantine))
    artifact = _run_example_gen(tmp_path / "run", spec, checks)

    from pipeline.run_record import RunRecord, _read_bad_rows
    record = RunRecord("r", [], {}, 0, {}, {}, None, [], None)
    _read_bad_rows(record, artifact)
    assert record.bad_rows == {"train": {"rows": 103, "bad": 3}, "eval": {"rows": 31, "bad": 1}}
    assert record.quarantined_rows == 4 and record.quarantine_dir == str(quarantine)

    listed = {split: [json.loads(line) for line in (quarantine / f"{split}.jsonl").read_text().splitlines()]
              for split in ("train", "eval")}
    assert sorted((os.path.basename(r["file"]), r.get("row") or r.get("line")) for r in listed["train"]) == [
        ("a.csv", 62), ("a.csv", 63), ("b.jsonl", 41)]
    assert {r["raw"] for r in listed["train"]} >= {"extra,pos,x\n", '{"text": null, "label": "pos"}\n'}
    assert listed["eval"][0]["problem"].startswith("the label 'maybe' never occurs")
    summary = json.loads((quarantine / "summary.json").read_text())
    assert summary["splits"]["train"] == {"rows": 103, "bad": 3}

    # Only the good rows reach the examples.
    for split, expected in (("train", 100), ("eval", 30)):
        files = tf.io.gfile.glob(os.path.join(artifact.uri, f"Split-{split}", "*.gz"))
        assert sum(1 for _ in tf.data.TFRecordDataset(files, compression_type="GZIP")) == expected


def test_example_gen_fail_policy_stops_with_the_first_offenders(tmp_path):
    spec = _bad_data_dirs(tmp_path)
    checks = RowChecks(text_columns=["text"], label_column="label", label_kind="string",
                       known_labels=["neg", "pos"], quarantine_dir=str(tmp_path / "q"))
    with pytest.raises(BadRowsError) as info:
        _run_example_gen(tmp_path / "run", spec, checks)
    lines = str(info.value).splitlines()
    assert lines[0] == "4 of 134 rows are bad; the run stopped before training (--on-bad-rows fail):"
    # Listed by file and line: the eval folder sorts before the train folder.
    assert "eval/e.csv row 32: the label 'maybe' never occurs" in lines[1]
    assert lines[2].endswith("train/a.csv row 62: a quoted field is never closed; the lines after "
                             "it were read again as rows")
    assert lines[3].endswith("train/a.csv row 63: 3 fields but the header has 2: "
                             "['extra', 'pos', 'x']")
    assert "train/b.jsonl line 41: no value for 'text'" in lines[4]
    assert lines[5] == f"Every bad row, with its problem: {tmp_path / 'q' / '*.jsonl'}"
