"""Start-up and memory benchmark: time to the first training step and peak RSS of fine-tuning.

Each measurement is its own fresh process (so peak RSS belongs to one training run), and the
two paths take turns (HF, ours, HF, ours, ...):

* ``hf``   -- the plain HuggingFace TF recipe (bench_finetune.py: ElectraTokenizerFast padded
              to 128, TFElectraForSequenceClassification, create_optimizer, model.fit);
* ``ours`` -- what the pipeline's Trainer runs (in-graph WordPiece, length buckets, the
              project's model and optimizer, steps traced without AutoGraph).

"Time to the first step" starts when the data is ready (tokenized dataset built) and ends when
the first training step has finished: it covers loading the checkpoint, building the optimizer
and tracing the step. Every child trains ``--steps`` steps at batch ``--batch-size`` on the
fine-tuning benchmark's training split and reports its peak RSS (``ru_maxrss``). Variants
measure memory levers, e.g. ``--variant ours:MALLOC_ARENA_MAX=2`` (an environment
variable of the child) or ``--variant ours:BENCH_TRAIN_SET=mixed_precision=none`` (train.*
fields of ours, comma-separated; a list value keeps its commas:
``BENCH_TRAIN_SET=bucket_boundaries=16,24,32``).

    TF_USE_LEGACY_KERAS=1 TF_CPP_MIN_LOG_LEVEL=2 HF_HUB_OFFLINE=1 TF_ENABLE_ONEDNN_OPTS=1 \\
        .venv/bin/python bench/bench_startup_memory.py
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time

BENCH_DIR = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, BENCH_DIR)
import bench_finetune as bf  # noqa: E402  (shared recipes, data split and defaults)


def rss_mib() -> float:
    """The current resident set size (not the peak)."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024.0
    return float("nan")


def child(args) -> None:
    """One training run in this process; prints one JSON line."""
    import random
    import tensorflow as tf  # noqa: F401
    import tensorflow_text  # noqa: F401
    import tf_keras
    import transformers

    rss = {"imports": rss_mib()}
    train_rows, _ = bf.load_split(args.out)
    rows = random.Random(args.seed).sample(train_rows, args.steps * args.batch_size)
    tf_keras.utils.set_random_seed(args.seed)
    ExampleCount, StepTimer = bf._keras_helpers()
    train_cfg = bf.pipeline_train_config(args.learning_rate)
    if args.path == "hf":
        tokenizer = transformers.ElectraTokenizerFast.from_pretrained(args.checkpoint)
        ds = bf.hf_dataset(tokenizer, rows, args.max_seq_length, args.batch_size, True, args.seed)
        data_ready = time.perf_counter()
        model = bf.hf_build(args.checkpoint, args.learning_rate, args.steps,
                            metrics=[ExampleCount()])
    else:
        from trainer import data as data_lib
        from trainer import tokenization
        encoder = tokenization.WordPieceEncoder(
            tokenization.load_vocab(os.path.join(args.checkpoint, "vocab.txt")), lower_case=True)
        import pipeline_config
        for assignment in bf.split_assignments(os.environ.get("BENCH_TRAIN_SET", "")):
            key, _, value = assignment.partition("=")  # e.g. mixed_precision=none
            pipeline_config.set_field(train_cfg, key, value)
        enc, labels = bf.ours_encode(encoder, rows, args.max_seq_length)
        ds = bf.ours_dataset(enc, labels, args.batch_size, train_cfg, args.max_seq_length,
                             True, args.seed)
        data_ready = time.perf_counter()
        steps = data_lib.count_batches(ds)
        model = bf.ours_build(args.checkpoint, train_cfg.learning_rate, steps, train_cfg,
                              metrics=[ExampleCount()])
    rss["model_built"] = rss_mib()
    timer = StepTimer()
    model.fit(ds, epochs=1, verbose=0, callbacks=[timer])
    rss["trained"] = rss_mib()
    print(json.dumps({
        "path": args.path, "time_to_first_step_seconds": timer.ends[0] - data_ready,
        "first_step_seconds": timer.ends[0] - timer.fit_start,
        "build_seconds": timer.fit_start - data_ready, "steps": len(timer.ends),
        "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0,
        "rss_mib_at": rss}))


def parent(args) -> int:
    if not os.path.exists(os.path.join(args.out, "train.jsonl")):
        bf.make_split(bf.DEFAULT_DATA, args.out, 20)
    variants = args.variant or ["hf", "ours"]
    results = {v: [] for v in variants}
    for run in range(args.repeats):
        for variant in variants:
            path, _, env_text = variant.partition(":")
            env = dict(os.environ, **bf.BENCH_ENV)
            for assignment in bf.split_assignments(env_text):
                key, _, value = assignment.partition("=")
                env[key] = value
            command = [sys.executable, __file__, "--child", "--path", path, "--out", args.out,
                       "--checkpoint", args.checkpoint, "--steps", str(args.steps),
                       "--batch-size", str(args.batch_size), "--seed", str(args.seed + run)]
            proc = subprocess.run(command, env=env, capture_output=True, text=True)
            if proc.returncode != 0:
                print(proc.stderr[-3000:], file=sys.stderr)
                return 1
            result = json.loads(proc.stdout.strip().splitlines()[-1])
            result["loadavg_1min"] = os.getloadavg()[0]
            results[variant].append(result)
            bf.log(f"run {run + 1} {variant}: first step after {result['time_to_first_step_seconds']:.1f}s "
                   f"(build {result['build_seconds']:.1f}s, trace+step {result['first_step_seconds']:.1f}s), "
                   f"peak RSS {result['peak_rss_mib']:.0f} MiB (RSS at {result['rss_mib_at']}), "
                   f"load {result['loadavg_1min']:.1f}")
    print("\n| variant | time to first step (s) | peak RSS (MiB) |\n|---|---|---|")
    summary = {}
    for variant, runs in results.items():
        summary[variant] = {
            "time_to_first_step_seconds": statistics.median(r["time_to_first_step_seconds"] for r in runs),
            "peak_rss_mib": statistics.median(r["peak_rss_mib"] for r in runs)}
        print(f"| {variant} | {summary[variant]['time_to_first_step_seconds']:.1f} | "
              f"{summary[variant]['peak_rss_mib']:.0f} |")
    with open(os.path.join(args.out, "startup_memory.json"), "w") as f:
        json.dump({"summary": summary, "runs": results, "steps": args.steps,
                   "batch_size": args.batch_size}, f, indent=2)
    return 0


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.strip().splitlines()[0])
    p.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--path", choices=("hf", "ours"), default="ours", help=argparse.SUPPRESS)
    p.add_argument("--variant", action="append",
                   help="PATH[:ENV=VALUE,...] (repeatable; default: hf and ours)")
    p.add_argument("--checkpoint", default=bf.DEFAULT_CHECKPOINT)
    p.add_argument("--out", default=bf.DEFAULT_OUT)
    p.add_argument("--steps", type=int, default=12)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--max-seq-length", type=int, default=128)
    p.add_argument("--learning-rate", type=float, default=bf.DEFAULT_LR)
    p.add_argument("--repeats", type=int, default=2)
    p.add_argument("--seed", type=int, default=bf.DEFAULT_SEED)
    args = p.parse_args(argv)
    if args.child:
        child(args)
        return 0
    return parent(args)


if __name__ == "__main__":
    sys.exit(main())
