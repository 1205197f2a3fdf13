"""DriftSkewValidator and DriftSkewGate: TFDV drift (this run's data against the previous
run's) and skew (the train split against the eval split), with the thresholds of the curated
schema.

TFX 1.16's ExampleValidator validates one split against the schema only: it takes no previous
statistics and no second split, so comparator thresholds never fire there. This component
computes TFDV statistics of the compared features, calls `tfdv.validate_statistics` with
`previous_statistics=` (drift) and `serving_statistics=` (skew) and records the anomalies;
DriftSkewGate after it raises DriftOrSkewError when a threshold is exceeded, which stops the
run before Transform. (The validator itself does not fail: TFX deletes a failed component's
outputs, and the error names the report files.)

What is compared is declared in the schema (see schemas/sentiment_sentences/schema.pbtxt):

    feature { name: "label" ... drift_comparator { infinity_norm { threshold: 0.2 } } }
    feature {
      name: "text_length"            # derived: the length of "text" in characters
      type: INT
      lifecycle_stage: VALIDATION_DERIVED
      validation_derived_source { deriver_name: "text_length" source_path { step: "text" } }
      drift_comparator { jensen_shannon_divergence { threshold: 0.2 } }
    }

A VALIDATION_DERIVED feature is not in the data: TF Transform, the served model and
ExampleValidator ignore it; only this component computes it (TFDV has no length feature of its
own: a string feature's statistics hold only its average length).

The previous run's statistics come from a Resolver over this component's own output: the
latest statistics whose data passed (`PASSED` custom property), so the baseline stays the last
data that passed. `check_drift=False` accepts an
intended change (this run's statistics become the baseline); `check_skew=False` accepts an eval
split that is meant to differ from the training split.

A comparison on splits too small to tell a distance above its threshold from sampling noise
is skipped with a warning (the rule: components/small_data.py) and listed in the anomalies
artifact's `skipped_comparisons.json`. Every SchemaDiff.pb is also written as text
(SchemaDiff.pbtxt), which the error message names.
"""
import os
import sys
from typing import Dict, List, Optional, Tuple

import apache_beam as beam
import pyarrow as pa
import tensorflow as tf
import tensorflow_data_validation as tfdv
from tensorflow_metadata.proto.v0 import anomalies_pb2, schema_pb2, statistics_pb2
from tfx import v1 as tfx
from tfx.types import artifact_utils, standard_artifact_utils
from tfx.utils import io_utils

from components import small_data
from components.anomaly_gate import (SCHEMA_DIFF_FILE, AnomaliesFoundError, read_anomalies,
                                     write_text_reports)

TEXT_LENGTH = "text_length"  # deriver_name: the source column's length in characters
STATS_FILE = "FeatureStats.pb"
SKEW_SPLIT = "train_vs_eval"
_COMPARATOR_REASONS = {
    anomalies_pb2.AnomalyInfo.COMPARATOR_L_INFTY_HIGH,
    anomalies_pb2.AnomalyInfo.COMPARATOR_JENSEN_SHANNON_DIVERGENCE_HIGH,
    anomalies_pb2.AnomalyInfo.COMPARATOR_NORMALIZED_ABSOLUTE_DIFFERENCE_HIGH,
    anomalies_pb2.AnomalyInfo.COMPARATOR_LOW_NUM_EXAMPLES,
    anomalies_pb2.AnomalyInfo.COMPARATOR_HIGH_NUM_EXAMPLES,
}
_BATCH_SIZE = 1000
# Custom property of the statistics artifact: 1 when its data passed every comparison.
PASSED = "passed"


def passed(artifact) -> bool:
    """Whether a DriftSkewValidator statistics artifact holds data that passed (statistics of
    older runs, published only when their data passed, have no such property)."""
    return (not artifact.has_custom_property(PASSED)
            or bool(artifact.get_int_custom_property(PASSED)))


class PreviousStatisticsStrategy(tfx.dsl.experimental.ResolverStrategy):
    """The latest published statistics whose data passed, or none on a first run.

    TFX's LatestArtifactStrategy returns None when nothing matches, which the resolver logs
    as an ERROR with a traceback on every first run; here "no previous run" is normal.
    """

    def resolve_artifacts(self, store, input_dict):
        return {key: sorted((a for a in artifacts if passed(a)), key=lambda a: a.id)[-1:]
                for key, artifacts in input_dict.items()}


def has_comparators(schema: schema_pb2.Schema) -> bool:
    return any(f.HasField("drift_comparator") or f.HasField("skew_comparator")
               for f in schema.feature)


def comparison_schema(schema: schema_pb2.Schema) -> schema_pb2.Schema:
    """The features with a drift or skew comparator (the only ones this component computes)."""
    compared = schema_pb2.Schema()
    for feature in schema.feature:
        if feature.HasField("drift_comparator") or feature.HasField("skew_comparator"):
            compared.feature.add().CopyFrom(feature)
    return compared


def derived_sources(schema: schema_pb2.Schema) -> Dict[str, str]:
    """{derived feature: source column} for the schema's text-length features."""
    sources = {}
    for feature in schema.feature:
        source = feature.validation_derived_source
        if feature.lifecycle_stage == schema_pb2.VALIDATION_DERIVED:
            if source.deriver_name != TEXT_LENGTH or len(source.source_path) != 1:
                raise ValueError(f"schema feature {feature.name!r}: the only derived feature "
                                 f"supported is deriver_name {TEXT_LENGTH!r} of one source column")
            sources[feature.name] = source.source_path[0].step[0]
    return sources


def comparison_values(example: tf.train.Example, schema: schema_pb2.Schema) -> Dict[str, list]:
    """The compared features of one example: raw values, or a text's length in characters."""
    features = example.features.feature
    derived = derived_sources(schema)
    values = {}
    for feature in schema.feature:
        source = derived.get(feature.name)
        name = source or feature.name
        raw = features[name] if name in features else None
        kind = raw.WhichOneof("kind") if raw is not None else None
        items = list(getattr(raw, kind).value) if kind else None
        if source:
            items = ([sum(len(v.decode("utf-8", "replace")) for v in items)]
                     if kind == "bytes_list" else None)
        values[feature.name] = items
    return values


_ARROW_TYPES = {schema_pb2.INT: (pa.int64(), int), schema_pb2.FLOAT: (pa.float32(), float),
                schema_pb2.BYTES: (pa.binary(), lambda v: v if isinstance(v, bytes) else str(v).encode())}


def _convert(values: Optional[list], convert) -> Optional[list]:
    """`values` as the schema's type; None (missing) when they are not (ExampleValidator
    reports a type that contradicts the schema)."""
    if values is None:
        return None
    try:
        return [convert(v.decode() if isinstance(v, bytes) and convert is not _ARROW_TYPES[
            schema_pb2.BYTES][1] else v) for v in values]
    except (TypeError, ValueError, UnicodeDecodeError):
        return None


def to_record_batch(rows: List[Dict[str, list]], schema: schema_pb2.Schema) -> pa.RecordBatch:
    arrays, names = [], []
    for feature in schema.feature:
        arrow_type, convert = _ARROW_TYPES.get(feature.type, _ARROW_TYPES[schema_pb2.BYTES])
        arrays.append(pa.array([_convert(row[feature.name], convert) for row in rows],
                               type=pa.list_(arrow_type)))
        names.append(feature.name)
    return pa.RecordBatch.from_arrays(arrays, names)


def comparator_anomalies(statistics: statistics_pb2.DatasetFeatureStatisticsList,
                         schema: schema_pb2.Schema,
                         previous: Optional[statistics_pb2.DatasetFeatureStatisticsList] = None,
                         serving: Optional[statistics_pb2.DatasetFeatureStatisticsList] = None
                         ) -> anomalies_pb2.Anomalies:
    """TFDV's drift/skew anomalies only (ExampleValidator reports the schema's other rules)."""
    anomalies = tfdv.validate_statistics(statistics, schema, previous_statistics=previous,
                                         serving_statistics=serving)
    for name in list(anomalies.anomaly_info):
        info = anomalies.anomaly_info[name]
        if not any(reason.type in _COMPARATOR_REASONS for reason in info.reason):
            del anomalies.anomaly_info[name]
    anomalies.ClearField("dataset_anomaly_info")
    return anomalies


def _rows(stats: statistics_pb2.DatasetFeatureStatisticsList, feature: str) -> int:
    """How many rows of `stats` have a value of `feature` (the rows its distribution has)."""
    for dataset in stats.datasets:
        for feature_stats in dataset.features:
            if feature_stats.path.step and feature_stats.path.step[-1] == feature:
                which = feature_stats.WhichOneof("stats")
                common = getattr(feature_stats, which).common_stats if which else None
                return int(common.num_non_missing) if common is not None else 0
        return int(dataset.num_examples)
    return 0


def _threshold(comparator: schema_pb2.FeatureComparator) -> Optional[float]:
    """The distribution-distance threshold of a comparator (None: none set)."""
    for kind in ("infinity_norm", "jensen_shannon_divergence", "normalized_abs_difference"):
        if comparator.HasField(kind):
            return getattr(comparator, kind).threshold
    return None


def measurable_schema(schema: schema_pb2.Schema, check: str, split: str,
                      current: statistics_pb2.DatasetFeatureStatisticsList,
                      other: statistics_pb2.DatasetFeatureStatisticsList
                      ) -> Tuple[schema_pb2.Schema, List[small_data.SkippedComparison]]:
    """`schema` without the `check` ("drift" or "skew") comparators that these two splits are
    too small to measure (small_data.measurable), and the comparisons so skipped."""
    field = f"{check}_comparator"
    kept = schema_pb2.Schema()
    kept.CopyFrom(schema)
    skipped = []
    for feature in kept.feature:
        if not feature.HasField(field):
            continue
        threshold = _threshold(getattr(feature, field))
        rows = (_rows(current, feature.name), _rows(other, feature.name))
        if threshold is not None and not small_data.measurable(threshold, *rows):
            feature.ClearField(field)
            skipped.append(small_data.SkippedComparison(check, split, feature.name, rows,
                                                        threshold))
    return kept, skipped


def _read_statistics(uri: str, split: str) -> Optional[statistics_pb2.DatasetFeatureStatisticsList]:
    path = os.path.join(uri, f"Split-{split}", STATS_FILE)
    if not tf.io.gfile.exists(path):
        return None
    stats = statistics_pb2.DatasetFeatureStatisticsList()
    stats.ParseFromString(tf.io.gfile.GFile(path, "rb").read())
    return stats


def _write(proto, uri: str, split: str, name: str) -> None:
    directory = os.path.join(uri, f"Split-{split}")
    tf.io.gfile.makedirs(directory)
    with tf.io.gfile.GFile(os.path.join(directory, name), "wb") as f:
        f.write(proto.SerializeToString())


@tfx.dsl.components.component(use_beam=True)
def DriftSkewValidator(
    examples: tfx.dsl.components.InputArtifact[tfx.types.standard_artifacts.Examples],
    schema: tfx.dsl.components.InputArtifact[tfx.types.standard_artifacts.Schema],
    statistics: tfx.dsl.components.OutputArtifact[tfx.types.standard_artifacts.ExampleStatistics],
    anomalies: tfx.dsl.components.OutputArtifact[tfx.types.standard_artifacts.ExampleAnomalies],
    previous_statistics: tfx.dsl.components.InputArtifact[
        tfx.types.standard_artifacts.ExampleStatistics] = None,
    check_drift: tfx.dsl.components.Parameter[bool] = True,
    check_skew: tfx.dsl.components.Parameter[bool] = True,
    beam_pipeline: tfx.dsl.components.BeamComponentParameter[beam.Pipeline] = None,
) -> None:
    """Records drift and skew beyond the schema's thresholds (DriftSkewGate stops the run)."""
    full_schema = io_utils.SchemaReader().read(io_utils.get_only_uri_in_dir(schema.uri))
    compared = comparison_schema(full_schema)
    splits = standard_artifact_utils.decode_split_names(examples.split_names)
    options = tfdv.StatsOptions(schema=compared, infer_type_from_schema=True)
    with beam_pipeline as pipeline:
        for split in splits:
            _ = (pipeline
                 | f"Read[{split}]" >> beam.io.ReadFromTFRecord(
                     os.path.join(artifact_utils.get_split_uri([examples], split), "*"),
                     coder=beam.coders.ProtoCoder(tf.train.Example))
                 | f"Values[{split}]" >> beam.Map(comparison_values, schema=compared)
                 | f"Batch[{split}]" >> beam.BatchElements(max_batch_size=_BATCH_SIZE)
                 | f"ToArrow[{split}]" >> beam.Map(to_record_batch, schema=compared)
                 | f"Stats[{split}]" >> tfdv.GenerateStatistics(options)
                 | f"Write[{split}]" >> tfdv.WriteStatisticsToBinaryFile(
                     os.path.join(statistics.uri, f"Split-{split}", STATS_FILE)))
    statistics.split_names = artifact_utils.encode_split_names(splits)

    current = {split: _read_statistics(statistics.uri, split) for split in splits}
    results, skipped = {}, []
    for split in splits:
        previous = (_read_statistics(previous_statistics.uri, split)
                    if previous_statistics is not None and check_drift else None)
        if previous is not None:
            measured, too_small = measurable_schema(compared, "drift", split, current[split],
                                                    previous)
            skipped += too_small
            results[split] = comparator_anomalies(current[split], measured, previous=previous)
    if check_skew and "train" in current and "eval" in current:
        measured, too_small = measurable_schema(compared, "skew", SKEW_SPLIT, current["train"],
                                                current["eval"])
        skipped += too_small
        results[SKEW_SPLIT] = comparator_anomalies(current["train"], measured,
                                                   serving=current["eval"])
    for split, found in results.items():
        _write(found, anomalies.uri, split, SCHEMA_DIFF_FILE)
    write_text_reports(anomalies.uri, sorted(results))
    small_data.write_skipped(anomalies.uri, skipped, opener=tf.io.gfile.GFile)
    if skipped:
        print(small_data.skipped_warning(skipped), file=sys.stderr, flush=True)
    anomalies.split_names = artifact_utils.encode_split_names(sorted(results))
    problems = read_anomalies(anomalies.uri, sorted(results))
    statistics.set_int_custom_property(PASSED, int(not problems))


@tfx.dsl.components.component
def DriftSkewGate(
    anomalies: tfx.dsl.components.InputArtifact[tfx.types.standard_artifacts.ExampleAnomalies],
    curated_schema: tfx.dsl.components.Parameter[str] = "",
) -> None:
    """Raises DriftOrSkewError when DriftSkewValidator found drift or skew.

    `curated_schema`: the --schema file whose thresholds these are (named in the error)."""
    problems = read_anomalies(anomalies.uri,
                              standard_artifact_utils.decode_split_names(anomalies.split_names))
    if problems:
        raise DriftOrSkewError(problems, schema=curated_schema or None)


DRIFT_SWITCH = "--set data.check_drift=false"
SKEW_SWITCH = "--set data.check_skew=false"


def drift_skew_hint(anomalies, schema: Optional[str] = None) -> str:
    """The switches that turn off what failed: drift, skew or both."""
    checks = {"skew" if a.split == SKEW_SPLIT else "drift" for a in anomalies}
    lines = []
    if "drift" in checks:
        lines.append(f"If the change since the previous run is intended, rerun with {DRIFT_SWITCH} "
                     "(this run becomes the baseline for drift).")
    if "skew" in checks:
        lines.append("If the eval data is meant to differ from the training data, rerun with "
                     f"{SKEW_SWITCH} (train/eval skew is then not checked).")
    where = f" ({schema})" if schema else ""
    lines.append(f"Or fix the data, or raise the thresholds in the curated schema{where}.")
    return "\n".join(lines)


class DriftOrSkewError(AnomaliesFoundError):
    """Drift against the previous run or skew between train and eval beyond the schema's
    thresholds; the message names the switch of each check that failed."""

    def __init__(self, anomalies, schema: Optional[str] = None):
        super().__init__(anomalies, hint=drift_skew_hint(anomalies, schema))
