"""AnomalyGate: stops a run when ExampleValidator found anomalies.

TFX's ExampleValidator records anomalies but never fails, so a run would train on bad data.
The pipeline makes Transform depend on this gate, so an anomaly stops the run before any
preprocessing or training, with a list a person can act on: the anomalies, the readable
report (SchemaDiff.pbtxt, written beside ExampleValidator's binary SchemaDiff.pb) and what to
change (the data, or the schema the data was validated against).
"""
import os
from typing import List, Optional

from tfx import v1 as tfx
from tfx.types import standard_artifact_utils

# The reader is shared with the run report (components/anomalies.py); re-exported here.
from components.anomalies import (SCHEMA_DIFF_FILE, SCHEMA_DIFF_TEXT_FILE, Anomaly,  # noqa: F401
                                  read_anomalies, write_text_reports)

# How many anomalies the error message lists before summarising the rest.
MAX_LISTED = 20
SCHEMA_FILE = "schema.pbtxt"


def schema_hint(used_schema: Optional[str] = None, curated_schema: Optional[str] = None) -> str:
    """What to do about anomalies against a schema: fix the data, or change the schema.

    `used_schema`: the schema.pbtxt this run validated against; `curated_schema`: the
    --schema the run was given (None: the schema was inferred)."""
    if curated_schema:
        return ("Fix the data; or, if the data is right, change the curated schema "
                f"{curated_schema} to allow it (see schemas/README.md) and rerun.")
    if used_schema:
        return ("Fix the data; or, if the data is right, copy the schema inferred from the "
                f"training data ({used_schema}), change the copy to allow it (see "
                "schemas/README.md) and rerun with --schema COPY.pbtxt.")
    return ("Fix the data; or, if the data is right, rerun with --schema PATH naming a curated "
            "schema that allows it (see schemas/README.md).")


class AnomaliesFoundError(RuntimeError):
    """Raised by the gate; the message lists every anomaly, where the readable report is, and
    what to do (`hint`)."""

    def __init__(self, anomalies: List[Anomaly], hint: Optional[str] = None):
        self.anomalies = anomalies
        lines = [f"Data validation found {len(anomalies)} anomal{'y' if len(anomalies) == 1 else 'ies'}; "
                 "the run stopped before Transform and training:"]
        lines += [f"  - {a}" for a in anomalies[:MAX_LISTED]]
        if len(anomalies) > MAX_LISTED:
            lines.append(f"  ... and {len(anomalies) - MAX_LISTED} more")
        reports = sorted({a.report for a in anomalies})
        lines.append("Full report: " + ", ".join(reports))
        lines.append(hint or schema_hint())
        super().__init__("\n".join(lines))


@tfx.dsl.components.component
def AnomalyGate(
    anomalies: tfx.dsl.components.InputArtifact[tfx.types.standard_artifacts.ExampleAnomalies],
    schema: tfx.dsl.components.InputArtifact[tfx.types.standard_artifacts.Schema] = None,
    curated_schema: tfx.dsl.components.Parameter[str] = "",
) -> None:
    """Raises AnomaliesFoundError when any split has anomalies.

    `schema`: the schema ExampleValidator used (named in the hint); `curated_schema`: the
    --schema file the run was given, "" when the schema was inferred."""
    split_names = standard_artifact_utils.decode_split_names(anomalies.split_names)
    write_text_reports(anomalies.uri, split_names)
    found = read_anomalies(anomalies.uri, split_names)
    if found:
        used = os.path.join(schema.uri, SCHEMA_FILE) if schema is not None else None
        raise AnomaliesFoundError(found, schema_hint(used, curated_schema or None))
