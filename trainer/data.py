"""Training input: Transform's output examples, grouped by length, padded per batch.

Padding every batch to `max_seq_length` wastes most of the compute on short texts; instead
examples are bucketed by length, and each batch is padded either to its bucket's upper
length (`max_length` given: a handful of batch shapes) or to its own longest example.
"""
import glob
from typing import Callable, Dict, Iterable, List, Optional, Sequence

import tensorflow as tf

from trainer.features import SEQUENCE_FEATURES

AUTOTUNE = tf.data.AUTOTUNE


def _files(file_patterns: Iterable[str]) -> List[str]:
    files = []
    for pattern in ([file_patterns] if isinstance(file_patterns, str) else file_patterns):
        files += sorted(tf.io.gfile.glob(pattern))
    if not files:
        raise FileNotFoundError(f"no transformed examples match {file_patterns}")
    return files


def feature_spec(label_spec: Dict[str, object]) -> Dict[str, object]:
    spec = {name: tf.io.RaggedFeature(tf.int64) for name in SEQUENCE_FEATURES}
    spec.update(label_spec)
    return spec


def read_examples(file_patterns, spec, keep: Optional[Callable] = None) -> tf.data.Dataset:
    """One parsed example per element; sequence features are 1-D int64 tensors. `keep`: a
    predicate on the serialized record (e.g. trainer/tuning.py's hash split)."""
    ds = tf.data.TFRecordDataset(_files(file_patterns), compression_type="GZIP",
                                 num_parallel_reads=AUTOTUNE)
    if keep is not None:
        ds = ds.filter(keep)
    return ds.map(lambda record: tf.io.parse_single_example(record, spec),
                  num_parallel_calls=AUTOTUNE, deterministic=True)


def batch_by_length(ds: tf.data.Dataset, batch_size: int, boundaries: Sequence[int],
                    padding_values: Optional[Dict[str, object]] = None,
                    max_length: Optional[int] = None) -> tf.data.Dataset:
    """Groups examples into length buckets and pads each batch.

    Without `max_length`: bucket i holds lengths in [b(i-1), b(i)) and a batch pads to its
    longest example (any width). With `max_length` (the longest sequence there is): bucket i
    holds lengths in (b(i-1), b(i)], the last one (b(-1), max_length], and a batch pads to its
    bucket's upper length, so training sees only len(boundaries) + 1 batch widths: oneDNN
    builds kernels and XLA compiles for a handful of shapes instead of one per width, at
    the same speed on short texts (docs/benchmarks.md, "Levers").
    """
    if padding_values:
        padding_values = {name: tf.constant(padding_values.get(name, 0), dtype=spec.dtype)
                          for name, spec in ds.element_spec.items()}
    fixed = max_length is not None
    if fixed:
        upper = sorted({int(b) for b in boundaries if 0 < int(b) < int(max_length)})
        # tf.data pads bucket i to (its boundary - 1): shift by one to pad to `upper`.
        boundaries = [b + 1 for b in upper] + [int(max_length) + 1]
    return ds.bucket_by_sequence_length(
        element_length_func=lambda ex: tf.shape(ex["input_ids"])[0],
        bucket_boundaries=list(boundaries),
        bucket_batch_sizes=[batch_size] * (len(boundaries) + 1),
        padded_shapes=None,
        padding_values=padding_values or None,
        pad_to_bucket_boundary=fixed,
        no_padding=False,
        drop_remainder=False,
    )


def pad_length(train_config, max_seq_length: int) -> Optional[int]:
    """The `max_length` for `batch_by_length` under `train_config` (train.pad_to_bucket)."""
    return max_seq_length if train_config.pad_to_bucket else None


def make_dataset(file_patterns, *, task, batch_size: int, boundaries: Sequence[int],
                 shuffle: bool, seed: int = 0,
                 max_length: Optional[int] = None,
                 keep: Optional[Callable] = None) -> tf.data.Dataset:
    """Batches of (dense int32 sequence features, targets), ready for `model.fit`.

    The task says which label features to parse, how to pad them and how to split a batch
    into model inputs and targets. `max_length`: pad batches to fixed lengths (see
    `batch_by_length`). Every example appears exactly once per pass; with
    `shuffle`, the order of examples (and so the batch composition) changes every epoch.
    `keep`: only the records it accepts (see `read_examples`).
    """
    ds = read_examples(file_patterns, feature_spec(task.label_spec()), keep)
    # One stored record -> its training examples (e.g. the windows of a long
    # question-answering context).
    ds = task.flatten(ds)
    return batches(ds, split=task.split_features, padding_values=task.padding_values(),
                   batch_size=batch_size, boundaries=boundaries, shuffle=shuffle, seed=seed,
                   max_length=max_length)


def batches(ds: tf.data.Dataset, *, split: Callable, batch_size: int,
            boundaries: Sequence[int], shuffle: bool, seed: int = 0,
            padding_values: Optional[Dict[str, object]] = None,
            max_length: Optional[int] = None) -> tf.data.Dataset:
    """Examples (dicts of 1-D tensors) -> batches split into (model inputs, targets) by
    `split`: cache, shuffle, `batch_by_length`, a small shuffle of batches, split, prefetch."""
    # Parsed examples are small (a few hundred ints); caching avoids re-reading gzip files.
    ds = ds.cache()
    if shuffle:
        ds = ds.shuffle(10_000, seed=seed, reshuffle_each_iteration=True)
    ds = batch_by_length(ds, batch_size, boundaries, padding_values, max_length)
    if shuffle:
        # Buckets fill at different rates; a small shuffle mixes lengths across steps.
        ds = ds.shuffle(16, seed=seed + 1, reshuffle_each_iteration=True)
    return ds.map(split, num_parallel_calls=AUTOTUNE).prefetch(AUTOTUNE)


def count_batches(ds: tf.data.Dataset) -> int:
    return int(ds.reduce(tf.constant(0, tf.int64), lambda n, _: n + 1).numpy())
