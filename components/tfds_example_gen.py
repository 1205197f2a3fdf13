"""TfdsExampleGen: an ExampleGen that reads TensorFlow Datasets.

    --train tfds:NAME[/CONFIG][:SPLIT]     e.g. tfds:imdb_reviews, tfds:glue/sst2:train[:50%]
    --eval  tfds:NAME[/CONFIG][:SPLIT]     (default split: train for --train, test for --eval)
    --tfds-data-dir DIR                    where TFDS keeps prepared data (local or gs://)

Each example becomes a tf.train.Example with one feature per TFDS feature, named as in TFDS
(so `--text-column sentence` names glue/sst2's text): text as bytes, integers as int64,
floats as float, sequences as lists, and ClassLabel values as their *names* (imdb_reviews'
label 1 is "pos"), which is what the label vocabulary, the Evaluator and the served model
show. A ClassLabel of -1 (TFDS' "no label", e.g. GLUE test splits) leaves the feature missing.
Nested features are flattened to `<name>_<sub>`, except SQuAD-style answers, stored as the
JSON reader stores them (components/readers/squad.py). Images, audio and video are skipped.

The dataset is prepared (downloaded) into the data directory if it is not there yet; on a
cluster point --tfds-data-dir at a bucket that holds the prepared data. Each split is read by
one Beam worker: TFDS' own shards are not split further.
"""
from __future__ import annotations

import dataclasses
import json
import math
import re
from typing import Any, Dict, Iterator, Optional

import apache_beam as beam
import numpy as np
import tensorflow as tf
from absl import logging
from tfx.components.example_gen import base_example_gen_executor
from tfx.components.example_gen import component
from tfx.dsl.components.base import executor_spec
from tfx.proto import example_gen_pb2

from components.input_files import EVAL_SPLIT, SINGLE_SPLIT, TRAIN_SPLIT, InputError
from components.input_files import TFDS_PREFIX as PREFIX, is_tfds  # noqa: F401 (re-exported)
from components.readers import squad

_NAME = re.compile(r"^[a-z0-9_]+(/[A-Za-z0-9_.\-]+)?$")


@dataclasses.dataclass(frozen=True)
class TfdsSource:
    name: str  # NAME or NAME/CONFIG
    split: str  # a TFDS split, slicing allowed: train, test[:10%]
    data_dir: Optional[str] = None

    def to_pattern(self) -> str:
        """The split's `pattern` in the ExampleGen's input config (a query, for TFX)."""
        return json.dumps(dataclasses.asdict(self), sort_keys=True)

    @classmethod
    def from_pattern(cls, pattern: str) -> "TfdsSource":
        return cls(**json.loads(pattern))


def parse_source(value: str, default_split: str, data_dir: Optional[str] = None) -> TfdsSource:
    """`tfds:NAME[/CONFIG][:SPLIT]` -> TfdsSource; InputError for anything else."""
    if not is_tfds(value):
        raise InputError(f"{value}: not a TFDS source (tfds:NAME[/CONFIG][:SPLIT])")
    name, _, split = value[len(PREFIX):].partition(":")
    if not _NAME.match(name):
        raise InputError(f"{value}: {name!r} is not a TFDS dataset name; expected "
                         "tfds:NAME[/CONFIG][:SPLIT], e.g. tfds:glue/sst2:train")
    return TfdsSource(name=name, split=split or default_split, data_dir=data_dir or None)


def input_configs(train: str, eval: Optional[str], eval_percent: int,  # noqa: A002
                  data_dir: Optional[str] = None):
    """(input_config, output_config) as components/input_files.resolve_inputs makes them for
    files: two input splits when --eval is given, else a deterministic hash split."""
    train_source = parse_source(train, "train", data_dir)
    if eval:
        if not is_tfds(eval):
            raise InputError(f"--eval {eval}: with a TFDS --train, --eval must be a TFDS "
                             "source too (tfds:NAME[/CONFIG][:SPLIT])")
        return example_gen_pb2.Input(splits=[
            example_gen_pb2.Input.Split(name=TRAIN_SPLIT, pattern=train_source.to_pattern()),
            example_gen_pb2.Input.Split(
                name=EVAL_SPLIT, pattern=parse_source(eval, "test", data_dir).to_pattern()),
        ]), example_gen_pb2.Output()
    divisor = math.gcd(100 - eval_percent, eval_percent)
    return example_gen_pb2.Input(splits=[
        example_gen_pb2.Input.Split(name=SINGLE_SPLIT, pattern=train_source.to_pattern())
    ]), example_gen_pb2.Output(split_config=example_gen_pb2.SplitConfig(splits=[
        example_gen_pb2.SplitConfig.Split(name=TRAIN_SPLIT,
                                          hash_buckets=(100 - eval_percent) // divisor),
        example_gen_pb2.SplitConfig.Split(name=EVAL_SPLIT, hash_buckets=eval_percent // divisor),
    ]))


# ---------------------------------------------------------------------------- conversion


def read_examples(source: TfdsSource) -> Iterator[tf.train.Example]:
    """The split's examples as tf.train.Examples (prepares the dataset if needed)."""
    import tensorflow_datasets as tfds

    try:
        builder = tfds.builder(source.name, data_dir=source.data_dir)
    except Exception as e:  # noqa: BLE001 (TFDS raises several types for unknown names)
        raise InputError(f"tfds:{source.name}: {type(e).__name__}: {str(e).splitlines()[0]}"
                         ) from None
    builder.download_and_prepare()
    dataset = builder.as_dataset(split=source.split, shuffle_files=False)
    count = 0
    for count, record in enumerate(tfds.as_numpy(dataset), 1):
        example = tf.train.Example()
        _set_features(example.features.feature, record, builder.info.features, prefix="")
        yield example
    logging.info("Read %d examples from tfds:%s:%s.", count, source.name, source.split)


def _set_features(out: Any, record: Dict[str, Any], features: Any, prefix: str) -> None:
    import tensorflow_datasets as tfds

    for name, feature in features.items():
        key, value = prefix + name, record[name]
        if isinstance(feature, tfds.features.Sequence) and isinstance(
                feature.feature, tfds.features.FeaturesDict):
            feature = feature.feature  # a sequence of dicts comes as a dict of sequences
        if isinstance(feature, tfds.features.FeaturesDict):
            if set(feature.keys()) == {"text", "answer_start"}:  # SQuAD-style answers
                texts = np.asarray(value["text"]).reshape(-1)
                starts = np.asarray(value["answer_start"]).reshape(-1)
                squad.set_nested_feature(out, key, {
                    "text": [_text(v) for v in texts], "answer_start": [int(v) for v in starts]})
            else:
                _set_features(out, value, feature, key + "_")
            continue
        leaf = feature.feature if isinstance(feature, tfds.features.Sequence) else feature
        if isinstance(leaf, (tfds.features.Image, tfds.features.Audio, tfds.features.Video)):
            continue  # not text
        values = np.asarray(value).reshape(-1)
        if isinstance(leaf, tfds.features.ClassLabel):
            names = [leaf.int2str(int(v)) for v in values if int(v) >= 0]
            if names:
                out[key].bytes_list.value.extend(n.encode("utf-8") for n in names)
        elif values.dtype.kind in ("S", "O", "U"):
            out[key].bytes_list.value.extend(_text(v).encode("utf-8") for v in values)
        elif values.dtype.kind in ("i", "u", "b"):
            out[key].int64_list.value.extend(int(v) for v in values)
        elif values.dtype.kind == "f":
            out[key].float_list.value.extend(float(v) for v in values)


def _text(value: Any) -> str:
    return value.decode("utf-8") if isinstance(value, bytes) else str(value)


# ---------------------------------------------------------------------------- executor


@beam.ptransform_fn
@beam.typehints.with_input_types(beam.Pipeline)
@beam.typehints.with_output_types(tf.train.Example)
def _TfdsToExample(  # pylint: disable=invalid-name
        pipeline: beam.Pipeline, exec_properties: Dict[str, Any],
        split_pattern: str) -> beam.pvalue.PCollection:
    """Reads one TFDS split (its `pattern` is a TfdsSource) into tf.train.Examples."""
    del exec_properties
    source = TfdsSource.from_pattern(split_pattern)
    return (pipeline
            | "Source" >> beam.Create([source])
            | "ReadTfds" >> beam.FlatMap(read_examples))


class Executor(base_example_gen_executor.BaseExampleGenExecutor):
    """Turns TFDS splits into tf.train.Examples."""

    def GetInputSourceToExamplePTransform(self) -> beam.PTransform:
        return _TfdsToExample


class TfdsExampleGen(component.QueryBasedExampleGen):
    """ExampleGen for TensorFlow Datasets; usually built with `input_configs(train, eval, ...)`.

    Its `examples` output holds the splits "train" and "eval" as gzipped TFRecords of
    tf.train.Example, like TextExampleGen's.
    """

    EXECUTOR_SPEC = executor_spec.BeamExecutorSpec(Executor)

    def __init__(self, input_config: example_gen_pb2.Input,
                 output_config: Optional[example_gen_pb2.Output] = None):
        super().__init__(input_config=input_config, output_config=output_config)
