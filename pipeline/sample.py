"""data.sample_rows (set by --quick): a seeded random sample of the input rows, drawn before
anything else reads the data, so that the data scan, ExampleGen, the schema and the report all
see the same rows.

The sample of each split is written as a TFRecord of the tf.train.Examples the readers make
of its rows (components/readers: every file format reads to them), in the rows' original order,
under OUTPUT/sample/; the run then reads those files instead of --train/--eval. A TFDS split is
sliced instead (`train[:400]`, TFDS' own syntax): its first rows, not a random sample.

Rows are drawn with reservoir sampling (Vitter's algorithm R, a few lines: no maintained
library samples a stream of protos), so a file of any size is read once and only the sample is
held in memory. A row that no reader can make an example of stops the run, as it would have
without sampling; with --on-bad-rows quarantine it is left out of the sample and counted.
"""
import logging
import os
import random
import re
from typing import Iterable, List, Tuple

import pipeline_config
from components.input_files import is_tfds, resolve_inputs

_LOG = logging.getLogger(__name__)
SAMPLE_FOLDER = "sample"
_TFDS_SLICED = re.compile(r"\[.*\]$")


def reservoir(items: Iterable, k: int, seed: int) -> Tuple[List, int]:
    """(k items drawn uniformly at random without replacement, in their original order;
    how many items there were)."""
    rng = random.Random(seed)
    chosen: List[Tuple[int, object]] = []
    n = 0
    for n, item in enumerate(items, 1):
        if len(chosen) < k:
            chosen.append((n, item))
        else:
            j = rng.randrange(n)
            if j < k:
                chosen[j] = (n, item)
    return [item for _, item in sorted(chosen, key=lambda pair: pair[0])], n


def _sample_files(path: str, files: Iterable[str], rows: int, seed: int, out: str,
                  skip_bad_rows: bool) -> str:
    import tensorflow as tf
    from components.bad_rows import BadRow
    from components.readers import read_rows
    from components.readers.rows import error

    bad = []

    def examples():
        for name in files:
            for item in read_rows(name):
                if not isinstance(item, BadRow):
                    yield item
                elif skip_bad_rows:
                    bad.append(item)
                else:
                    raise error(item)

    chosen, total = reservoir(examples(), rows, seed)
    if bad:
        print(f"Left {len(bad):,} bad rows of {path} out of the sample (--on-bad-rows "
              "quarantine)", flush=True)
    if total <= rows:
        _LOG.info("%s has %d rows, no more than data.sample_rows: all are used", path, total)
        return path
    os.makedirs(os.path.dirname(out), exist_ok=True)
    with tf.io.TFRecordWriter(out) as writer:
        for example in chosen:
            writer.write(example.SerializeToString())
    print(f"Sampled {len(chosen):,} of {total:,} rows of {path} (data.sample_rows) into {out}",
          flush=True)
    return out


def _slice_tfds(source: str, rows: int, default_split: str) -> str:
    """tfds:NAME[/CONFIG][:SPLIT] with its split's first `rows` rows (unless already sliced)."""
    name, _, split = source[len("tfds:"):].partition(":")
    split = split or default_split
    if _TFDS_SLICED.search(split):
        return source
    return f"tfds:{name}:{split}[:{rows}]"


def sample_inputs(cfg: pipeline_config.PipelineConfig) -> pipeline_config.PipelineConfig:
    """`cfg` reading samples of --train (data.sample_rows rows) and --eval (half as many)
    when data.sample_rows is set; `cfg` itself otherwise (changed in place: its data paths)."""
    rows = cfg.data.sample_rows
    if not rows:
        return cfg
    eval_rows = max(rows // 2, pipeline_config.MIN_SAMPLE_ROWS)
    if is_tfds(cfg.data.train):
        cfg.data.train = _slice_tfds(cfg.data.train, rows, "train")
        if cfg.data.eval:
            cfg.data.eval = _slice_tfds(cfg.data.eval, eval_rows, "test")
        return cfg
    inputs = resolve_inputs(cfg.data.train, cfg.data.eval, cfg.data.eval_percent)
    folder = os.path.join(cfg.output_dir, SAMPLE_FOLDER)
    seed, skip = cfg.train.seed, cfg.data.on_bad_rows == "quarantine"
    cfg.data.train = _sample_files(cfg.data.train, inputs.train_files, rows, seed,
                                   os.path.join(folder, "train.tfrecord"), skip)
    if cfg.data.eval:
        cfg.data.eval = _sample_files(cfg.data.eval, inputs.eval_files, eval_rows, seed + 1,
                                      os.path.join(folder, "eval.tfrecord"), skip)
    return cfg
