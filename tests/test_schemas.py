"""The curated schemas accept the data they are for, and reject what they must reject."""
import json

import pandas as pd
import tensorflow_data_validation as tfdv

from tests.conftest import EMBEDDED_DATA, REPO_ROOT

SENTIMENT_SCHEMA = REPO_ROOT / "schemas" / "sentiment_sentences" / "schema.pbtxt"


def _frame():
    rows = [json.loads(line) for path in sorted(EMBEDDED_DATA.glob("*.jsonl"))
            for line in open(path, encoding="utf-8")]
    return pd.DataFrame(rows)


def test_embedded_data_matches_its_schema():
    schema = tfdv.load_schema_text(str(SENTIMENT_SCHEMA))
    frame = _frame()
    assert len(frame) == 3000
    anomalies = tfdv.validate_statistics(tfdv.generate_statistics_from_dataframe(frame), schema)
    assert dict(anomalies.anomaly_info) == {}


def test_schema_rejects_an_unknown_label_and_a_missing_text():
    schema = tfdv.load_schema_text(str(SENTIMENT_SCHEMA))
    bad = _frame().head(50).copy()
    bad.loc[0, "label"] = 2
    bad = bad.rename(columns={"text": "review"})
    anomalies = tfdv.validate_statistics(tfdv.generate_statistics_from_dataframe(bad), schema)
    assert {"label", "text"} <= set(anomalies.anomaly_info)
