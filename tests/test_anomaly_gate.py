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
