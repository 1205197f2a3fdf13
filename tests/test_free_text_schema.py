"""Free text never gets a value domain (components/free_text_schema.py); labels keep theirs."""
import pandas as pd
import tensorflow_data_validation as tfdv
from google.protobuf import text_format
from tensorflow_metadata.proto.v0 import schema_pb2

import pipeline_config
from components.free_text_schema import pinned_text_columns, without_text_domains
from tests import fixtures
from trainer import tasks


def _split(n=30, train=24):
    rows = fixtures.sentiment_rows(n, seed=1)
    return (pd.DataFrame(rows[:train], columns=["text", "label"]),
            pd.DataFrame(rows[train:], columns=["text", "label"]))


def _anomalies(frame, schema):
    return dict(tfdv.validate_statistics(tfdv.generate_statistics_from_dataframe(frame),
                                         schema).anomaly_info)


def test_an_inferred_schema_pins_the_texts_of_a_small_file_and_the_fix_unpins_them():
    train, evaluation = _split()
    inferred = tfdv.infer_schema(tfdv.generate_statistics_from_dataframe(train))
    # What SchemaGen does on 24 rows: every training text is the text column's domain...
    assert pinned_text_columns(inferred, ["text"]) == ["text"]
    assert _anomalies(evaluation, inferred)["text"].short_description == "Unexpected string values"

    schema = without_text_domains(inferred, ["text"])
    assert pinned_text_columns(schema, ["text"]) == []
    assert [d.name for d in schema.string_domain] == ["label"]
    assert _anomalies(evaluation, schema) == {}
    # ... while the label keeps its domain: a label training never had is still an anomaly.
    unseen = evaluation.copy()
    unseen.loc[unseen.index[0], "label"] = "maybe"
    found = _anomalies(unseen, schema)
    assert list(found) == ["label"] and "maybe" in found["label"].description


def test_a_curated_text_domain_is_removed_and_shared_domains_stay():
    curated = text_format.Parse("""
        feature { name: "text" type: BYTES domain: "words" }
        feature { name: "title" type: BYTES domain: "words" }
        feature { name: "pair" type: BYTES string_domain { value: "a" } }
        feature { name: "label" type: BYTES domain: "label"
                  distribution_constraints { min_domain_mass: 1.0 } }
        string_domain { name: "words" value: "fine" }
        string_domain { name: "label" value: "neg" value: "pos" }
    """, schema_pb2.Schema())
    schema = without_text_domains(curated, ["text", "pair"])
    features = {f.name: f for f in schema.feature}
    assert not features["text"].WhichOneof("domain_info")
    assert not features["pair"].WhichOneof("domain_info")
    assert features["title"].domain == "words"  # not a text column of the task
    assert features["label"].domain == "label" and features["label"].HasField(
        "distribution_constraints")
    assert [d.name for d in schema.string_domain] == ["words", "label"]
    # Nothing else changes; a schema without text domains is returned as it was.
    assert without_text_domains(schema, ["text", "pair"]) == schema


def test_every_text_column_of_a_task_is_unpinned():
    cfg = pipeline_config.PipelineConfig()
    assert tasks.get_task("text-pair-classification").raw_text_columns(cfg) == [
        "text", "text_pair"]
    assert tasks.get_task("question-answering").raw_text_columns(cfg) == ["question", "context"]


def test_multi_label_cells_are_free_and_single_labels_keep_their_domain():
    """A multi-label cell is a set of labels: the eval split may hold sets training never had
    (each label is checked by RowChecks instead); a single label keeps its domain."""
    cfg = pipeline_config.PipelineConfig()
    cfg.data.label_column = "topics"
    assert tasks.create(cfg).schema_free_columns(cfg) == ["text"]
    for name in ("text-classification", "text-pair-classification"):
        cfg.task = name
        cfg.task_options.multi_label = True
        texts = tasks.create(cfg).raw_text_columns(cfg)
        assert tasks.create(cfg).schema_free_columns(cfg) == texts + ["topics"]
    cfg.task_options.multi_label, cfg.task_options.regression = False, True
    assert "topics" not in tasks.create(cfg).schema_free_columns(cfg)
