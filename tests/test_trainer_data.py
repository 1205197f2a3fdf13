"""Length-bucketed batching: every example once per epoch, labels intact, per-batch padding."""
import collections

import numpy as np
import tensorflow as tf

from trainer import data
from trainer.tasks import get_task

TASK = get_task("text-classification")


def _write_examples(path, rows):
    with tf.io.TFRecordWriter(str(path), options="GZIP") as writer:
        for ids, label in rows:
            feature = {
                "input_ids": tf.train.Feature(int64_list=tf.train.Int64List(value=ids)),
                "attention_mask": tf.train.Feature(int64_list=tf.train.Int64List(value=[1] * len(ids))),
                "token_type_ids": tf.train.Feature(int64_list=tf.train.Int64List(value=[0] * len(ids))),
                "label_id": tf.train.Feature(int64_list=tf.train.Int64List(value=[label])),
            }
            writer.write(tf.train.Example(features=tf.train.Features(feature=feature)).SerializeToString())


def _rows(n, seed=0):
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(n):
        length = int(rng.integers(3, 60))
        # The first id encodes the example number, the label is a function of it.
        rows.append(([2, 1000 + i] + rng.integers(5, 900, length - 3).tolist() + [3], i % 3))
    return rows


def test_each_example_once_per_epoch_with_its_label(tmp_path):
    rows = _rows(203)
    _write_examples(tmp_path / "part-0.gz", rows)
    ds = data.make_dataset(str(tmp_path / "*.gz"), task=TASK, batch_size=8,
                           boundaries=[16, 32], shuffle=True, seed=1)
    epochs = []
    for _ in range(2):
        seen = collections.Counter()
        order = []
        for features, labels in ds:
            ids = features["input_ids"].numpy()
            mask = features["attention_mask"].numpy()
            assert features["input_ids"].dtype == tf.int32
            assert ids.shape == mask.shape == features["token_type_ids"].shape
            lengths = mask.sum(axis=1)
            # Padded to the longest example of the batch, not to a fixed length.
            assert ids.shape[1] == lengths.max()
            assert (ids[mask == 0] == 0).all()
            for row, length, label in zip(ids, lengths, labels.numpy()):
                number = row[1] - 1000
                seen[number] += 1
                order.append(number)
                expected_ids, expected_label = rows[number]
                assert row[:length].tolist() == expected_ids
                assert label == expected_label
        assert seen == collections.Counter(range(len(rows)))
        epochs.append(order)
    assert epochs[0] != epochs[1], "the order should be reshuffled every epoch"


def test_batches_group_similar_lengths(tmp_path):
    rows = _rows(400, seed=2)
    _write_examples(tmp_path / "part-0.gz", rows)
    ds = data.make_dataset(str(tmp_path / "*.gz"), task=TASK, batch_size=16,
                           boundaries=[16, 32], shuffle=True)
    padded = real = 0
    for features, _ in ds:
        mask = features["attention_mask"].numpy()
        lengths = mask.sum(axis=1)
        # All examples of a batch come from one bucket: (<16), (16..31), (>=32).
        buckets = {int(np.searchsorted([16, 32], length, side="right")) for length in lengths}
        assert len(buckets) == 1
        padded += mask.size
        real += mask.sum()
    # Padding to the batch maximum wastes far less than padding everything to 128.
    assert real / padded > 0.7
    assert real / (len(rows) * 128) < 0.3


def test_eval_dataset_is_deterministic(tmp_path):
    _write_examples(tmp_path / "part-0.gz", _rows(50))
    make = lambda: data.make_dataset(str(tmp_path / "*.gz"), task=TASK, batch_size=8, boundaries=[16], shuffle=False)
    first = [f["input_ids"].numpy().tolist() for f, _ in make()]
    second = [f["input_ids"].numpy().tolist() for f, _ in make()]
    assert first == second
    assert data.count_batches(make()) == len(first)


def test_default_buckets_pad_at_most_half_again_each_length(tmp_path):
    # The default widths grow by at most 1.5x, so a batch of texts longer than the smallest
    # width is at most a third padding (and the widest batch of short texts stays small).
    import pipeline_config
    boundaries = pipeline_config.TrainConfig().bucket_boundaries
    rows = [([2, 1000 + n] + [7] * (n - 3) + [3], n % 2) for n in range(3, 129)]
    _write_examples(tmp_path / "part-0.gz", rows)
    ds = data.make_dataset(str(tmp_path / "*.gz"), task=TASK, batch_size=4,
                           boundaries=boundaries, shuffle=False, max_length=128)
    seen = 0
    for features, _ in ds:
        width = features["input_ids"].shape[1]
        for length in features["attention_mask"].numpy().sum(axis=1):
            assert length <= width <= max(16, 1.5 * length), (length, width)
            seen += 1
    assert seen == len(rows)


def test_fixed_bucket_lengths_every_example_once_with_its_label(tmp_path):
    # max_length given: each batch pads to its bucket's upper length, so only
    # len(boundaries) + 1 shapes exist, and a length sits in the bucket (b(i-1), b(i)].
    rows = _rows(203, seed=3) + [([2, 1203] + [7] * 13 + [3], 0), ([2, 1204] + [7] * 14 + [3], 1)]
    _write_examples(tmp_path / "part-0.gz", rows)
    ds = data.make_dataset(str(tmp_path / "*.gz"), task=TASK, batch_size=8,
                           boundaries=[16, 32], shuffle=True, seed=1, max_length=64)
    seen = collections.Counter()
    widths = set()
    for features, labels in ds:
        ids = features["input_ids"].numpy()
        mask = features["attention_mask"].numpy()
        lengths = mask.sum(axis=1)
        width = ids.shape[1]
        widths.add(width)
        assert width == {0: 16, 1: 32, 2: 64}[int(np.searchsorted([16, 32], lengths.max(), side="left"))]
        assert lengths.min() > {16: 0, 32: 16, 64: 32}[width]
        assert (ids[mask == 0] == 0).all() and (mask[:, 0] == 1).all()
        for row, length, label in zip(ids, lengths, labels.numpy()):
            number = row[1] - 1000
            seen[number] += 1
            expected_ids, expected_label = rows[number]
            assert row[:length].tolist() == expected_ids
            assert label == expected_label
    assert seen == collections.Counter(range(len(rows)))
    assert widths == {16, 32, 64}
