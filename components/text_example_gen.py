"""TextExampleGen: an ExampleGen for CSV, JSON Lines and TFRecord files.

    spec = resolve_inputs(train="data/", eval=None, eval_percent=20)
    example_gen = TextExampleGen(input_base=spec.input_base,
                                 input_config=spec.input_config,
                                 output_config=spec.output_config)

Each split's pattern may match files of different formats; the reader is chosen per file
by its extension (see components/input_files.py; the readers are components/readers/):

* CSV/TSV: read with Python's `csv` module, so quoted commas and quoted multi-line fields
  work (TFX's CsvExampleGen handles neither). The header row names the features; every
  value becomes a UTF-8 bytes feature and an empty cell a missing feature.
* JSON Lines: one object per line; str -> bytes, int and bool -> int64, float -> float,
  a list of str/int/float -> a list feature of that kind, null or [] -> missing feature.
  Blank lines are skipped.
* TFRecord: tf.train.Example records, passed through.

Malformed input raises BadInputError, whose message names the file, the line (row,
record) and the problem, e.g. `data/x.jsonl line 17: not a JSON object: [1, 2]`.

In the pipeline the component gets `row_checks` (components/bad_rows.py: the task's text and
label columns, the bad-row policy): a bad row then goes to a side output instead of failing
the file; after the Beam job the executor writes them to the quarantine folder, counts them
per split, and stops the run when the policy says so (`--on-bad-rows fail`, or too many).
Problems of a whole file (binary data, empty, header only, a missing column) always fail.
"""
from __future__ import annotations

import heapq
import itertools
import json
import os
import shutil
import uuid
from typing import Any, Dict, Optional, Union

import apache_beam as beam
import tensorflow as tf
from absl import logging
from tfx.components.example_gen import base_example_gen_executor
from tfx import types
from tfx.components.example_gen import component
from tfx.components.example_gen import utils as example_gen_utils
from tfx.dsl.components.base import executor_spec
from tfx.orchestration import data_types
from tfx.proto import example_gen_pb2
from tfx.proto import range_config_pb2
from tfx.types import artifact_utils, component_spec, standard_artifacts
from tfx.types import standard_component_specs
from tfx.utils import proto_utils

from components import bad_rows
from components.bad_rows import BadRow, RowChecks
# Re-exported: the readers (components/readers/) and input resolution are this module's API too.
from components.input_files import InputError, InputSpec, list_input_files, resolve_inputs
from components.readers import (BadInputError, read_csv, read_file, read_jsonl,
                                read_located_rows, read_rows, read_tfrecord)

__all__ = [
    "BadInputError", "BadRow", "Executor", "InputError", "InputSpec", "RowChecks",
    "TextExampleGen", "read_csv", "read_file", "read_jsonl", "read_located_rows", "read_rows",
    "read_tfrecord", "resolve_inputs",
]

# ---------------------------------------------------------------------------- executor

ROW_CHECKS_KEY = "row_checks"
# Set by the executor for the Beam job: where the side outputs (bad rows, counts) go.
_WORK_DIR_KEY = "_bad_rows_work_dir"
_EXAMPLES, _BAD, _COUNTS = "examples", "bad_rows", "counts"


class _ReadFile(beam.DoFn):
    """One input file: good rows to the main output, bad rows and the file's counts to the
    side outputs (a bad row must not fail the Beam job: the policy is decided on all of them)."""

    def __init__(self, checks: Optional[RowChecks], split: str):
        self._checks = checks
        self._split = split

    def process(self, path: str):
        rows = bad = 0
        for item in read_rows(path, self._checks, self._split):
            rows += 1
            if isinstance(item, BadRow):
                bad += 1
                yield beam.pvalue.TaggedOutput(_BAD, item.to_json())
            else:
                yield item
        yield beam.pvalue.TaggedOutput(
            _COUNTS, json.dumps({"split": self._split, "file": path, "rows": rows, "bad": bad}))


@beam.ptransform_fn
@beam.typehints.with_input_types(beam.Pipeline)
@beam.typehints.with_output_types(tf.train.Example)
def _TextToExample(  # pylint: disable=invalid-name
        pipeline: beam.Pipeline, exec_properties: Dict[str, Any],
        split_pattern: str) -> beam.pvalue.PCollection:
    """Reads the files matching one split's pattern into tf.train.Examples."""
    input_base = exec_properties[standard_component_specs.INPUT_BASE_KEY]
    files = list_input_files(os.path.join(input_base, split_pattern))
    logging.info("Reading %d input files for %s: %s", len(files), split_pattern, files)
    checks = RowChecks.from_json(exec_properties.get(ROW_CHECKS_KEY))
    work_dir = exec_properties.get(_WORK_DIR_KEY)
    if checks is None or work_dir is None:
        return (pipeline
                | "ListFiles" >> beam.Create(files)
                | "ReadFiles" >> beam.FlatMap(read_file))
    split = _split_name(exec_properties, split_pattern)
    outputs = (pipeline
               | "ListFiles" >> beam.Create(files)
               | "ReadFiles" >> beam.ParDo(_ReadFile(checks, split)).with_outputs(
                   _BAD, _COUNTS, main=_EXAMPLES))
    for tag in (_BAD, _COUNTS):
        _ = outputs[tag] | f"Write[{tag}]" >> beam.io.WriteToText(
            os.path.join(work_dir, split, tag), file_name_suffix=".jsonl")
    return outputs[_EXAMPLES]


def _split_name(exec_properties: Dict[str, Any], pattern: str) -> str:
    input_config = example_gen_pb2.Input()
    proto_utils.json_to_proto(exec_properties[standard_component_specs.INPUT_CONFIG_KEY],
                              input_config)
    return next(s.name for s in input_config.splits if s.pattern == pattern)


class Executor(base_example_gen_executor.BaseExampleGenExecutor):
    """Turns CSV, JSON Lines and TFRecord files into tf.train.Examples."""

    def GetInputSourceToExamplePTransform(self) -> beam.PTransform:
        return _TextToExample

    def Do(self, input_dict, output_dict, exec_properties) -> None:
        checks = RowChecks.from_json(exec_properties.get(ROW_CHECKS_KEY))
        if checks is None:
            return super().Do(input_dict, output_dict, exec_properties)
        examples = artifact_utils.get_single_instance(
            output_dict[standard_component_specs.EXAMPLES_KEY])
        quarantine = checks.quarantine_dir or examples.uri.rstrip("/") + "-quarantine"
        work_dir = os.path.join(quarantine, f".incoming-{uuid.uuid4().hex}")
        try:
            super().Do(input_dict, output_dict, dict(exec_properties, **{_WORK_DIR_KEY: work_dir}))
            counts, first_rows = _collect(work_dir, quarantine)
        finally:
            if tf.io.gfile.exists(work_dir):
                tf.io.gfile.rmtree(work_dir)
        total = sum(c.bad for c in counts.values())
        if total:
            bad_rows.write_summary(quarantine, counts, checks, examples.uri)
        examples.set_json_value_custom_property(
            "bad_rows", {s: {"rows": c.rows, "bad": c.bad} for s, c in counts.items()})
        examples.set_string_custom_property("quarantine_dir", quarantine if total else "")
        examples.set_string_custom_property("on_bad_rows", checks.on_bad_rows)
        listing = os.path.join(quarantine, "*.jsonl") if total else None
        bad_rows.decide(counts, first_rows, checks, listing)


def _collect(work_dir: str, quarantine: str):
    """Moves the Beam job's bad rows into the quarantine folder (one file per split, the
    previous run's removed) and returns the counts per split and the first bad rows."""
    for old in tf.io.gfile.glob(os.path.join(quarantine, "*.jsonl")) + tf.io.gfile.glob(
            os.path.join(quarantine, bad_rows.SUMMARY_FILE)):
        tf.io.gfile.remove(old)
    counts: Dict[str, bad_rows.SplitCounts] = {}
    for path in tf.io.gfile.glob(os.path.join(work_dir, "*", _COUNTS + "*")):
        with tf.io.gfile.GFile(path) as f:
            for line in f:
                record = json.loads(line)
                split = counts.setdefault(record["split"], bad_rows.SplitCounts())
                split.rows += record["rows"]
                split.bad += record["bad"]
    first = []
    for split, split_counts in sorted(counts.items()):
        if not split_counts.bad:
            continue
        shards = sorted(tf.io.gfile.glob(os.path.join(work_dir, split, _BAD + "*")))
        name = bad_rows.split_label(split)
        with tf.io.gfile.GFile(os.path.join(quarantine, f"{name}.jsonl"), "w") as out:
            for shard in shards:
                with tf.io.gfile.GFile(shard) as f:
                    shutil.copyfileobj(f, out)
        # The first offenders by file and line, without holding every bad row in memory.
        first = heapq.nsmallest(bad_rows.MAX_LISTED, itertools.chain(
            first, bad_rows.read_bad_rows(shards)), key=BadRow.sort_key)
    return counts, first


class TextExampleGenSpec(standard_component_specs.FileBasedExampleGenSpec):
    PARAMETERS = {
        **standard_component_specs.FileBasedExampleGenSpec.PARAMETERS,
        # RowChecks as JSON (components/bad_rows.py); absent: every bad row fails the run.
        ROW_CHECKS_KEY: component_spec.ExecutionParameter(type=str, optional=True),
    }


class TextExampleGen(component.FileBasedExampleGen):
    """ExampleGen for CSV/TSV, JSON Lines and TFRecord files (chosen per file by extension).

    Usually built from `resolve_inputs(train, eval, eval_percent)`; its `examples` output
    holds the splits "train" and "eval" as gzipped TFRecords of tf.train.Example. With
    `row_checks`, bad rows are counted, quarantined or fail the run (components/bad_rows.py);
    the counts are the `bad_rows` custom property of the examples.
    """

    SPEC_CLASS = TextExampleGenSpec
    EXECUTOR_SPEC = executor_spec.BeamExecutorSpec(Executor)

    def __init__(
            self,
            input_base: str,
            input_config: Optional[Union[example_gen_pb2.Input,
                                         data_types.RuntimeParameter]] = None,
            output_config: Optional[Union[example_gen_pb2.Output,
                                          data_types.RuntimeParameter]] = None,
            range_config: Optional[Union[range_config_pb2.RangeConfig,
                                         data_types.RuntimeParameter]] = None,
            row_checks: Optional[RowChecks] = None):
        # FileBasedExampleGen builds its own spec; this one adds `row_checks`.
        input_config = input_config or example_gen_utils.make_default_input_config()
        output_config = output_config or example_gen_utils.make_default_output_config(
            input_config)
        spec = TextExampleGenSpec(
            input_base=input_base,
            input_config=input_config,
            output_config=output_config,
            custom_config=None,
            range_config=range_config,
            output_data_format=example_gen_pb2.FORMAT_TF_EXAMPLE,
            output_file_format=example_gen_pb2.FORMAT_TFRECORDS_GZIP,
            row_checks=row_checks.to_json() if row_checks else None,
            examples=types.Channel(type=standard_artifacts.Examples))
        super(component.FileBasedExampleGen, self).__init__(spec=spec)
