"""FreeTextSchema: the schema every later component uses, with the task's free-text columns
never pinned to a list of values.

SchemaGen (TFDV's `infer_schema`) gives a string column a value domain whenever it has at most
100 distinct values, so on a small data set it lists every training text, and each eval text
is then an "Unexpected string values" anomaly; a curated schema may carry such a domain too.
Neither SchemaGen nor ImportSchemaGen has an option against it (SchemaGen's only options are
`infer_feature_shape` and `exclude_splits`; TFDV's `max_string_domain_size` would drop the label
domains as well). The task knows its text columns (`Task.raw_text_columns`), so this component
takes SchemaGen's schema, or reads the curated --schema file, and writes it with those columns'
domains (and the top-level `string_domain`s only they referenced) removed. ExampleValidator,
Transform, the Trainers and the drift/skew check read this schema. Label columns keep their
domains: an eval label that training never had is still an anomaly. A multi-label cell is a set
of labels, not a value from a list (an eval split holds sets training never had), so its column
is free too (`Task.schema_free_columns`); its labels are checked one by one as rows are read
(RowChecks' known and declared labels).

A curated file is read here rather than by ImportSchemaGen, which caches on the file's path
alone, so an edited schema would be served from the cache; here the content's fingerprint is a
parameter, and an edited file is a new execution.
"""
import hashlib
import json
import os
from typing import Iterable, List

import tensorflow as tf
from tensorflow_metadata.proto.v0 import schema_pb2
from tfx import v1 as tfx
from tfx.utils import io_utils

SCHEMA_FILE = "schema.pbtxt"  # the name SchemaGen writes


def without_text_domains(schema: schema_pb2.Schema,
                         text_columns: Iterable[str]) -> schema_pb2.Schema:
    """A copy of `schema` in which the `text_columns` have no value domain."""
    text_columns = set(text_columns)
    result = schema_pb2.Schema()
    result.CopyFrom(schema)
    dropped, kept = set(), set()
    for feature in result.feature:
        if feature.name in text_columns:
            if feature.WhichOneof("domain_info") == "domain":
                dropped.add(feature.domain)
            feature.ClearField("domain_info")
            feature.ClearField("distribution_constraints")
        elif feature.WhichOneof("domain_info") == "domain":
            kept.add(feature.domain)
    unused = dropped - kept
    remaining = [d for d in result.string_domain if d.name not in unused]
    del result.string_domain[:]
    result.string_domain.extend(remaining)
    return result


def pinned_text_columns(schema: schema_pb2.Schema, text_columns: Iterable[str]) -> List[str]:
    """The text columns that have a value domain in `schema`."""
    text_columns = set(text_columns)
    return [f.name for f in schema.feature
            if f.name in text_columns and f.WhichOneof("domain_info")]


def fingerprint(path: str) -> str:
    """The SHA-256 of a file's content (local or a URI)."""
    with tf.io.gfile.GFile(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


@tfx.dsl.components.component
def FreeTextSchema(
    schema: tfx.dsl.components.OutputArtifact[tfx.types.standard_artifacts.Schema],
    text_columns: tfx.dsl.components.Parameter[str],
    source_schema: tfx.dsl.components.InputArtifact[tfx.types.standard_artifacts.Schema] = None,
    schema_file: tfx.dsl.components.Parameter[str] = "",
    schema_fingerprint: tfx.dsl.components.Parameter[str] = "",
) -> None:
    """Writes `source_schema` (SchemaGen's) or the schema.pbtxt `schema_file` (curated; its
    `schema_fingerprint` only keys the cache) without value domains on `text_columns` (a JSON
    list)."""
    source = io_utils.SchemaReader().read(
        io_utils.get_only_uri_in_dir(source_schema.uri) if source_schema is not None
        else schema_file)
    io_utils.write_pbtxt_file(os.path.join(schema.uri, SCHEMA_FILE),
                              without_text_domains(source, json.loads(text_columns)))
