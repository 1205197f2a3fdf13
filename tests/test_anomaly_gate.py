"""The anomaly gate turns ExampleValidator's records into a run-stopping, readable error."""
import os

import pandas as pd
import pytest
import tensorflow_data_validation as tfdv

from components.anomaly_gate import AnomaliesFoundError, read_anomalies


def _write_anomalies(tmp_path, split, train_df, eval_df):
    schema = tfdv.infer_schema(tfdv.generate_statistics_from_dataframe(train_df))
    anomalies = tfdv.validate_statistics(tfdv.generate_statistics_from_dataframe(eval_df), schema)
    split_dir = tmp_path / f"Split-{split}"
    split_dir.mkdir(parents=True)
    (split_dir / "SchemaDiff.pb").write_bytes(anomalies.SerializeToString())
    return anomalies


def test_unseen_label_and_missing_column_are_listed(tmp_path):
    train = pd.DataFrame({"text": ["good", "bad", "fine"], "label": ["pos", "neg", "pos"]})
    bad_eval = pd.DataFrame({"text_renamed": ["ok", "meh"], "label": ["pos", "maybe"]})
    _write_anomalies(tmp_path, "eval", train, bad_eval)
    _write_anomalies(tmp_path, "train", train, train)

    found = read_anomalies(str(tmp_path), ["train", "eval"])

    assert {(a.split, a.feature) for a in found} == {("eval", "label"), ("eval", "text"),
                                                   ("eval", "text_renamed")}
    label = next(a for a in found if a.feature == "label")
    assert "maybe" in label.detail
    message = str(AnomaliesFoundError(found))
    assert "3 anomalies" in message and "stopped before Transform" in message
    assert "[eval] feature 'label'" in message
    assert os.path.join(str(tmp_path), "Split-eval", "SchemaDiff.pb") in message


def test_clean_data_has_no_anomalies(tmp_path):
    train = pd.DataFrame({"text": ["good", "bad", "fine"], "label": ["pos", "neg", "pos"]})
    _write_anomalies(tmp_path, "train", train, train)
    _write_anomalies(tmp_path, "eval", train, train.iloc[:2])
    assert read_anomalies(str(tmp_path), ["train", "eval"]) == []


def test_long_lists_are_summarised():
    from components.anomaly_gate import MAX_LISTED, Anomaly
    many = [Anomaly("eval", f"f{i}", "Unexpected", "d", "/r") for i in range(MAX_LISTED + 5)]
    message = str(AnomaliesFoundError(many))
    assert f"... and 5 more" in message
    assert message.count("  - ") == MAX_LISTED


if __name__ == "__main__":
    pytest.main([__file__])


def test_the_run_report_reads_the_same_anomalies_with_severity(tmp_path):
    """The report (pipeline/report/collect.py) and the gate share one reader: every split
    found on disk, TFDV's severity, and "problem: detail" as the report's text."""
    from pipeline.report import collect
    train = pd.DataFrame({"text": ["good", "bad", "fine"], "label": ["pos", "neg", "pos"]})
    bad_eval = pd.DataFrame({"text": ["ok", "meh"], "label": ["pos", "maybe"]})
    proto = _write_anomalies(tmp_path, "eval", train, bad_eval)
    _write_anomalies(tmp_path, "train", train, train)

    gate_found = read_anomalies(str(tmp_path))  # splits discovered on disk
    report_found = collect._anomalies(str(tmp_path))
    assert [(a.split, a.feature) for a in gate_found] == \
        [(a.split, a.feature) for a in report_found] == \
        [("eval", feature) for feature in sorted(proto.anomaly_info)]
    gate_view = next(a for a in gate_found if a.feature == "label")
    report_view = next(a for a in report_found if a.feature == "label")

    info = proto.anomaly_info["label"]
    severity = type(info).Severity.Name(info.severity)
    assert severity in ("ERROR", "WARNING")
    assert (gate_view.split, gate_view.feature, gate_view.severity) == ("eval", "label", severity)
    assert (report_view.split, report_view.feature, report_view.severity) == ("eval", "label",
                                                                            severity)
    assert report_view.description == f"{info.short_description}: {info.description}"
    assert "maybe" in report_view.description


def test_the_message_names_a_readable_text_report(tmp_path):
    """Every SchemaDiff.pb is written again as SchemaDiff.pbtxt beside it, which the message
    names instead of the binary file."""
    from google.protobuf import text_format
    from tensorflow_metadata.proto.v0 import anomalies_pb2
    from components.anomalies import write_text_reports
    train = pd.DataFrame({"text": ["good", "bad", "fine"], "label": ["pos", "neg", "pos"]})
    proto = _write_anomalies(tmp_path, "eval", train,
                             pd.DataFrame({"text": ["ok"], "label": ["maybe"]}))
    _write_anomalies(tmp_path, "train", train, train)

    written = write_text_reports(str(tmp_path), ["train", "eval"])
    assert written == [str(tmp_path / f"Split-{s}" / "SchemaDiff.pbtxt") for s in ("train", "eval")]
    report = tmp_path / "Split-eval" / "SchemaDiff.pbtxt"
    assert text_format.Parse(report.read_text(), anomalies_pb2.Anomalies()) == proto
    assert "maybe" in report.read_text()
    message = str(AnomaliesFoundError(read_anomalies(str(tmp_path), ["train", "eval"])))
    assert f"Full report: {report}\n" in message


def test_the_hint_says_which_schema_to_change():
    from components.anomaly_gate import Anomaly, schema_hint
    found = [Anomaly("eval", "source", "New column", "d", "/r/SchemaDiff.pbtxt")]
    used = "/a/FreeTextSchema/schema/7/schema.pbtxt"
    inferred = str(AnomaliesFoundError(found, schema_hint(used)))
    assert ("copy the schema inferred from the training data "
            "(/a/FreeTextSchema/schema/7/schema.pbtxt)") in inferred
    assert "rerun with --schema COPY.pbtxt" in inferred
    curated = str(AnomaliesFoundError(found, schema_hint("/x", curated_schema="/s/schema.pbtxt")))
    assert "change the curated schema /s/schema.pbtxt to allow it" in curated
    assert "--schema" not in curated
