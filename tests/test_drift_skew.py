"""Drift (this run against the previous run) and skew (train against eval) with the thresholds
of the curated schema: TFDV statistics at unit level, then one two-run mini pipeline for the
previous-run resolver."""
import json
import logging
import pathlib
import re

import pytest
import tensorflow as tf
import tensorflow_data_validation as tfdv
from tensorflow_transform.tf_metadata import schema_utils
from tfx import v1 as tfx

from components import drift_skew
from components.drift_skew import DriftOrSkewError, DriftSkewGate, DriftSkewValidator
from components.text_example_gen import TextExampleGen, resolve_inputs
from pipeline.runner import run_locally

SCHEMA_PATH = pathlib.Path(__file__).parent.parent / "schemas" / "sentiment_sentences" / "schema.pbtxt"
SCHEMA = tfdv.load_schema_text(str(SCHEMA_PATH))
COMPARED = drift_skew.comparison_schema(SCHEMA)
BEAM_ARGS = ["--direct_running_mode=in_memory", "--direct_num_workers=1"]


def _rows(n_pos, n_neg, words=6):
    texts = [" ".join(["fine"] * (words + i % 5)) for i in range(n_pos + n_neg)]
    return [{"text": t, "label": int(i < n_pos)} for i, t in enumerate(texts)]


def _stats(rows):
    """Statistics of the compared features, computed as the component computes them."""
    values = []
    for row in rows:
        example = tf.train.Example()
        example.features.feature["text"].bytes_list.value.append(row["text"].encode())
        example.features.feature["label"].int64_list.value.append(row["label"])
        values.append(drift_skew.comparison_values(example, COMPARED))
    batch = drift_skew.to_record_batch(values, COMPARED)
    frame = batch.to_pandas().applymap(lambda v: v[0] if v is not None and len(v) else None)
    return tfdv.generate_statistics_from_dataframe(
        frame, tfdv.StatsOptions(schema=COMPARED, infer_type_from_schema=True))


def test_the_schema_compares_label_and_text_length():
    assert [f.name for f in COMPARED.feature] == ["label", "text_length"]
    assert drift_skew.derived_sources(COMPARED) == {"text_length": "text"}
    example = tf.train.Example()
    example.features.feature["text"].bytes_list.value.append("héllo 😀".encode())
    example.features.feature["label"].int64_list.value.append(1)
    assert drift_skew.comparison_values(example, COMPARED) == {"label": [1], "text_length": [7]}
    # The derived feature is not part of the data: Transform's feature spec leaves it out.
    assert set(schema_utils.schema_as_feature_spec(SCHEMA).feature_spec) == {"text", "label"}


def test_a_shifted_label_distribution_is_drift():
    previous = _stats(_rows(500, 500))
    shifted = drift_skew.comparator_anomalies(_stats(_rows(900, 100)), COMPARED, previous=previous)
    assert list(shifted.anomaly_info) == ["label"]
    info = shifted.anomaly_info["label"]
    assert "Linfty distance between current and previous is 0.4" in info.description
    assert "above the threshold 0.1" in info.description
    same = drift_skew.comparator_anomalies(_stats(_rows(520, 480)), COMPARED, previous=previous)
    assert not same.anomaly_info


def test_longer_texts_are_drift_and_train_eval_skew():
    longer = drift_skew.comparator_anomalies(_stats(_rows(500, 500, words=40)), COMPARED,
                                             previous=_stats(_rows(500, 500)))
    assert list(longer.anomaly_info) == ["text_length"]
    assert "Jensen-Shannon divergence between current and previous" in \
        longer.anomaly_info["text_length"].description
    skew = drift_skew.comparator_anomalies(_stats(_rows(400, 400)), COMPARED,
                                           serving=_stats(_rows(30, 170)))
    assert list(skew.anomaly_info) == ["label"]
    assert "between training and serving" in skew.anomaly_info["label"].description


def _write_jsonl(path, rows):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return str(path)


def _run(root, train, evaluation, check_drift=True, check_skew=True):
    spec = resolve_inputs(train, evaluation)
    example_gen = TextExampleGen(input_base=spec.input_base, input_config=spec.input_config,
                                 output_config=spec.output_config)
    schema_gen = tfx.components.ImportSchemaGen(schema_file=str(SCHEMA_PATH))
    previous = tfx.dsl.Resolver(
        strategy_class=drift_skew.PreviousStatisticsStrategy,
        statistics=tfx.dsl.Channel(type=tfx.types.standard_artifacts.ExampleStatistics,
                                   producer_component_id="DriftSkewValidator",
                                   output_key="statistics")).with_id("previous_run_statistics")
    validator = DriftSkewValidator(examples=example_gen.outputs["examples"],
                                   schema=schema_gen.outputs["schema"],
                                   previous_statistics=previous.outputs["statistics"],
                                   check_drift=check_drift, check_skew=check_skew)
    gate = DriftSkewGate(anomalies=validator.outputs["anomalies"])
    run_locally(tfx.dsl.Pipeline(
        pipeline_name="drift", pipeline_root=str(root / "pipeline"),
        components=[example_gen, schema_gen, previous, validator, gate], enable_cache=True,
        metadata_connection_config=tfx.orchestration.metadata.sqlite_metadata_connection_config(
            str(root / "metadata.sqlite")),
        beam_pipeline_args=BEAM_ARGS))


def test_second_run_with_shifted_labels_stops_with_drift_and_skew(tmp_path, caplog):
    # 200 rows on each side: large enough to measure a distance of 0.1 (components/small_data.py)
    evaluation = _write_jsonl(tmp_path / "eval" / "eval.jsonl", _rows(100, 100))
    with caplog.at_level(logging.ERROR):
        _run(tmp_path, _write_jsonl(tmp_path / "v1" / "train.jsonl", _rows(100, 100)), evaluation)
    # No previous run is normal: nothing logged as an error (the console shows errors).
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR] == []

    # The next training delivery is 90% positive; the eval data stays balanced.
    train = _write_jsonl(tmp_path / "v2" / "train.jsonl", _rows(180, 20))
    with pytest.raises(DriftOrSkewError) as info:
        _run(tmp_path, train, evaluation)
    message = str(info.value)
    assert message.startswith("Data validation found 2 anomalies; the run stopped before "
                              "Transform and training:")
    assert ("[train] feature 'label': High Linfty distance between current and previous — "
            "The Linfty distance between current and previous is 0.4") in message
    assert ("[train_vs_eval] feature 'label': High Linfty distance between training and "
            "serving — The Linfty distance between training and serving is 0.4") in message
    assert "--set data.check_drift=false" in message and "--set data.check_skew=false" in message
    # The readable report is named, beside TFDV's binary one.
    reports = message.split("Full report: ")[1].splitlines()[0].split(", ")
    assert [pathlib.Path(r).name for r in reports] == ["SchemaDiff.pbtxt"] * 2
    assert all("Linfty distance" in pathlib.Path(r).read_text() for r in reports)

    # The failed run's statistics did not become the baseline: the same data fails again.
    with pytest.raises(DriftOrSkewError) as info:
        _run(tmp_path, train, evaluation)
    assert ("train", "label") in {(a.split, a.feature) for a in info.value.anomalies}


def test_skew_alone_names_only_the_skew_switch_which_turns_it_off(tmp_path):
    """The hint of a skew failure names data.check_skew (not data.check_drift), and the run
    with the switch the message names passes the check."""
    import pipeline_config
    train = _write_jsonl(tmp_path / "v1" / "train.jsonl", _rows(100, 100))
    evaluation = _write_jsonl(tmp_path / "eval" / "eval.jsonl", _rows(180, 20))
    with pytest.raises(DriftOrSkewError) as info:
        _run(tmp_path, train, evaluation)
    message = str(info.value)
    assert {a.split for a in info.value.anomalies} == {drift_skew.SKEW_SPLIT}
    assert "check_drift" not in message
    switches = re.findall(r"--set (\S+=\S+?)\.?(?:\s|$)", message)
    assert switches == ["data.check_skew=false"]
    cfg = pipeline_config.PipelineConfig()
    for switch in switches:
        pipeline_config.set_field(cfg, *switch.split("=", 1))
    _run(tmp_path, train, evaluation, check_drift=cfg.data.check_drift,
         check_skew=cfg.data.check_skew)


def test_splits_too_small_to_measure_are_skipped_not_failed(tmp_path, capfd):
    """24 training and 6 eval rows: sampling noise alone reaches a label distance of 0.45, so
    the skew comparisons are skipped with a warning and listed, and the check passes."""
    from components import small_data
    train = _write_jsonl(tmp_path / "v1" / "train.jsonl", _rows(12, 12))
    evaluation = _write_jsonl(tmp_path / "eval" / "eval.jsonl", _rows(6, 0))  # all positive
    _run(tmp_path, train, evaluation)
    err = capfd.readouterr().err
    assert "these drift/skew comparisons were skipped" in err
    assert "skew of 'label' (train 24 rows vs eval 6)" in err
    (anomalies,) = (tmp_path / "pipeline" / "DriftSkewValidator" / "anomalies").iterdir()
    skipped = small_data.read_skipped(str(anomalies))
    assert {(s.check, s.feature) for s in skipped} == {("skew", "label"), ("skew", "text_length")}
    assert skipped[0].rows == (24, 6)
    # The same label shift on splits large enough to measure it is still skew.
    big = _write_jsonl(tmp_path / "v2" / "train.jsonl", _rows(100, 100))
    with pytest.raises(DriftOrSkewError):
        _run(tmp_path, big, _write_jsonl(tmp_path / "eval2" / "eval.jsonl", _rows(200, 0)))


def test_measurable_schema_keeps_what_the_splits_can_measure():
    big, small = _stats(_rows(300, 300)), _stats(_rows(3, 3))
    kept, skipped = drift_skew.measurable_schema(COMPARED, "skew", "train_vs_eval", big, big)
    assert skipped == [] and kept == COMPARED
    kept, skipped = drift_skew.measurable_schema(COMPARED, "skew", "train_vs_eval", big, small)
    assert not any(f.HasField("skew_comparator") for f in kept.feature)
    assert all(f.HasField("drift_comparator") for f in kept.feature)
    assert [(s.feature, tuple(s.rows)) for s in skipped] == [("label", (600, 6)),
                                                             ("text_length", (600, 6))]
