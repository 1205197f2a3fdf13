"""Serving benchmark: the pushed SavedModel's `serve_text` vs the HuggingFace TF model.

Measures, in one process and interleaved (ours, HF eager, HF tf.function, ours, ...):

* one request of one sentence: latency p50 / p90 over ``--requests`` calls after a warm-up;
* throughput at batch ``--batch`` (sentences/second), over ``--batches`` batches.

"Ours" is the SavedModel the pipeline pushed, loaded with ``tf.saved_model.load`` and called
through ``signatures["serve_text"]`` with raw strings: WordPiece tokenization, the encoder, the
head and the label lookup all run in the graph. The references are the same architecture as
HuggingFace users call it: ``ElectraTokenizerFast`` in Python, then
``TFElectraForSequenceClassification`` eagerly (``model(**inputs)``) and inside a
``tf.function``; both pad a batch to its longest sentence (``padding=True``), as a server would.

    TF_USE_LEGACY_KERAS=1 TF_CPP_MIN_LOG_LEVEL=2 HF_HUB_OFFLINE=1 TF_ENABLE_ONEDNN_OPTS=1 \\
        .venv/bin/python bench/bench_serving.py [--saved-model DIR]

Without ``--saved-model`` it uses the newest version pushed by ``bench/bench_finetune.py``'s
pipeline stage (``bench/out/pipeline/serving/*/*``).

``--env-variant LABEL:KEY=VALUE,...`` (repeatable, implies ``--isolate``) measures every path
again in processes started with those environment variables, interleaved with the plain ones
round by round: process-level settings such as ``TF_NUM_INTRAOP_THREADS=1`` or glibc's
``GLIBC_TUNABLES=glibc.malloc.hugetlb=1`` (transparent huge pages for large allocations),
which cannot be compared in one process. On this VM one configuration moves by 1-3 ms between
processes, so compare variants only within one run, over several ``--rounds``.
"""
from __future__ import annotations

import argparse
import glob
import json
import os
import statistics
import sys
import time
from typing import Callable, Dict, List

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEFAULT_CHECKPOINT = os.path.join(os.path.dirname(REPO_ROOT), "shared", "checkpoints",
                                  "electra-format-minilm-l6-h384-uncased")
for _key, _value in {"TF_USE_LEGACY_KERAS": "1", "TF_CPP_MIN_LOG_LEVEL": "2",
                     "HF_HUB_OFFLINE": "1", "TF_ENABLE_ONEDNN_OPTS": "1"}.items():
    os.environ.setdefault(_key, _value)


def log(msg: str) -> None:
    print(f"[bench_serving] {msg}", file=sys.stderr, flush=True)


def newest_pushed_model() -> str:
    versions = sorted(glob.glob(os.path.join(REPO_ROOT, "bench", "out", "pipeline", "serving",
                                             "*", "*", "saved_model.pb")))
    if not versions:
        sys.exit("no pushed model under bench/out/pipeline/serving: run "
                 "`bench/bench_finetune.py --stages split,pipeline` first or pass --saved-model")
    return os.path.dirname(versions[-1])


def sentences(path: str, n: int) -> List[str]:
    with open(path) as f:
        rows = [json.loads(line)["text"] for line in f if line.strip()]
    return rows[:n]


def latency_ms(call: Callable[[], object], requests: int, warmup: int) -> Dict[str, float]:
    for _ in range(warmup):
        call()
    times = []
    for _ in range(requests):
        t0 = time.perf_counter()
        call()
        times.append((time.perf_counter() - t0) * 1000.0)
    times.sort()
    return {"p50_ms": statistics.median(times), "p90_ms": times[int(0.9 * (len(times) - 1))]}


def throughput(call_batch: Callable[[List[str]], object], batches: List[List[str]]) -> float:
    call_batch(batches[0])  # warm-up (trace) at this batch shape
    t0 = time.perf_counter()
    for batch in batches:
        call_batch(batch)
    return sum(len(b) for b in batches) / (time.perf_counter() - t0)


def serve_text_path(saved_model_dir: str) -> Callable[[List[str]], object]:
    import tensorflow as tf
    import tensorflow_text  # noqa: F401  (the SavedModel's WordPiece ops)
    serve_text = tf.saved_model.load(saved_model_dir).signatures["serve_text"]
    return lambda texts: serve_text(text=tf.constant(texts))["probabilities"].numpy()


def hf_paths(checkpoint: str, num_labels: int) -> Dict[str, Callable[[List[str]], object]]:
    """The HF references: ElectraTokenizerFast in Python, the TF model eager and in a
    tf.function; both pad a batch to its longest sentence."""
    import tensorflow as tf
    from transformers import ElectraTokenizerFast, TFElectraForSequenceClassification

    tokenizer = ElectraTokenizerFast.from_pretrained(checkpoint)
    model = TFElectraForSequenceClassification.from_pretrained(checkpoint, num_labels=num_labels)

    def hf_eager(texts: List[str]):
        inputs = tokenizer(texts, padding=True, truncation=True, max_length=128,
                           return_tensors="tf")
        return tf.nn.softmax(model(**inputs, training=False).logits).numpy()

    spec = tf.TensorSpec([None, None], tf.int32)

    @tf.function(input_signature=[spec, spec, spec])
    def hf_graph_call(input_ids, attention_mask, token_type_ids):
        return tf.nn.softmax(model(input_ids=input_ids, attention_mask=attention_mask,
                                   token_type_ids=token_type_ids, training=False).logits)

    def hf_function(texts: List[str]):
        inputs = tokenizer(texts, padding=True, truncation=True, max_length=128,
                           return_tensors="tf")
        return hf_graph_call(inputs["input_ids"], inputs["attention_mask"],
                             inputs["token_type_ids"]).numpy()

    return {"hf_tf_eager": hf_eager, "hf_tf_function": hf_function}


def path_names(also=()) -> List[str]:
    return (["ours_serve_text"] + [f"ours_{e.partition('=')[0]}" for e in also]
            + ["hf_tf_eager", "hf_tf_function"])


def build_paths(saved_model_dir: str, checkpoint: str, num_labels: int, also=(),
                only=None) -> Dict[str, Callable[[List[str]], object]]:
    """Every path by name (or only the one named `only`, loading nothing else)."""
    names = path_names(also)
    wanted = [only] if only else names
    paths: Dict[str, Callable[[List[str]], object]] = {}
    if "ours_serve_text" in wanted:
        paths["ours_serve_text"] = serve_text_path(saved_model_dir)
    for extra in also:
        name, _, directory = extra.partition("=")
        if f"ours_{name}" in wanted:
            paths[f"ours_{name}"] = serve_text_path(directory)
    if {"hf_tf_eager", "hf_tf_function"} & set(wanted):
        paths.update({k: v for k, v in hf_paths(checkpoint, num_labels).items() if k in wanted})
    return {name: paths[name] for name in names if name in paths}


def measure(call, one: List[str], batches: List[List[str]], args) -> Dict[str, float]:
    result = latency_ms(lambda: call(one), args.requests, args.warmup)
    result["batch_per_s"] = throughput(call, batches)
    return result


def parse_env_variant(text: str):
    """'LABEL:KEY=VALUE,KEY=VALUE' -> (LABEL, {KEY: VALUE})."""
    label, _, assignments = text.partition(":")
    env = dict(a.split("=", 1) for a in filter(None, assignments.split(",")))
    if not label or not env:
        raise SystemExit(f"--env-variant {text!r}: expected LABEL:KEY=VALUE[,KEY=VALUE]")
    return label, env


def strip_options(argv: List[str], options) -> List[str]:
    """argv without the given options (and the value of those that take one)."""
    out, skip = [], False
    for arg in argv:
        if skip:
            skip = False
            continue
        name = arg.split("=", 1)[0]
        if name in options:
            skip = "=" not in arg and options[name]
            continue
        out.append(arg)
    return out


def run_child(name: str, saved_model: str, argv: List[str],
              env: Dict[str, str] = None) -> Dict[str, float]:
    """One path measured in a fresh process (`--child-path`), with `env` added."""
    import subprocess
    args = strip_options(argv, {"--isolate": False, "--env-variant": True}) + [
        "--saved-model", saved_model, "--child-path", name]
    proc = subprocess.run([sys.executable, __file__, *args], capture_output=True, text=True,
                          env=dict(os.environ, **(env or {})))
    if proc.returncode != 0:
        raise RuntimeError(f"{name}: {proc.stderr[-2000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.strip().splitlines()[0])
    p.add_argument("--saved-model", help="a pushed version directory (default: newest bench one)")
    p.add_argument("--also", action="append", default=[], metavar="NAME=DIR",
                   help="another SavedModel's serve_text in the same rounds (e.g. an export "
                   "in another precision); repeatable")
    p.add_argument("--checkpoint", default=DEFAULT_CHECKPOINT, help="HF reference checkpoint")
    p.add_argument("--data", default=os.path.join(REPO_ROOT, "bench", "out", "eval.jsonl"),
                   help="JSON Lines with a text field (default: the fine-tuning bench's eval)")
    p.add_argument("--requests", type=int, default=200)
    p.add_argument("--warmup", type=int, default=20)
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--batches", type=int, default=8)
    p.add_argument("--rounds", type=int, default=2, help="interleaved rounds per path")
    p.add_argument("--intra-op-threads", type=int, default=0,
                   help="TensorFlow's intra-op threads for every path (0: TensorFlow's "
                   "default, one per core); TF Serving: --tensorflow_intra_op_parallelism")
    p.add_argument("--inter-op-threads", type=int, default=0,
                   help="TensorFlow's inter-op threads (0: default); TF Serving: "
                   "--tensorflow_inter_op_parallelism")
    p.add_argument("--isolate", action="store_true",
                   help="measure every path in its own fresh process (as a server holds one "
                   "model), still interleaved round by round")
    p.add_argument("--env-variant", action="append", default=[], metavar="LABEL:KEY=VALUE,...",
                   help="also measure every path in processes with these environment "
                   "variables (implies --isolate); repeatable")
    p.add_argument("--skip-eager", action="store_true",
                   help="leave out the (slow) HF eager path")
    p.add_argument("--child-path", help=argparse.SUPPRESS)
    p.add_argument("--out", default=os.path.join(REPO_ROOT, "bench", "out", "serving.json"))
    args = p.parse_args(argv)

    import tensorflow as tf
    if args.intra_op_threads:
        tf.config.threading.set_intra_op_parallelism_threads(args.intra_op_threads)
    if args.inter_op_threads:
        tf.config.threading.set_inter_op_parallelism_threads(args.inter_op_threads)
    saved_model = args.saved_model or newest_pushed_model()
    if not os.path.exists(args.data):
        args.data = os.path.join(REPO_ROOT, "data", "sentiment_sentences", "eval.jsonl")
    texts = sentences(args.data, args.batch * args.batches)
    batches = [texts[i:i + args.batch] for i in range(0, len(texts), args.batch)]
    one = [texts[0]]
    log(f"model {saved_model}; one-request sentence: {one[0]!r}")
    if args.child_path:
        call = build_paths(saved_model, args.checkpoint, 2, args.also, args.child_path)
        print(json.dumps(measure(call[args.child_path], one, batches, args)))
        return 0
    variants = [("", {})] + [parse_env_variant(v) for v in args.env_variant]
    args.isolate = args.isolate or len(variants) > 1
    if args.isolate:
        # name -> (path, environment); "ours_serve_text[LABEL]" for an environment variant.
        paths = {name + (f"[{label}]" if label else ""): (name, env)
                 for label, env in variants for name in path_names(args.also)}
    else:
        paths = build_paths(saved_model, args.checkpoint, 2, args.also)
    if args.skip_eager:
        paths = {name: call for name, call in paths.items() if not name.startswith("hf_tf_eager")}

    rounds: Dict[str, List[Dict[str, float]]] = {name: [] for name in paths}
    for round_index in range(args.rounds):
        for name, call in paths.items():
            if args.isolate:
                path, env = call
                result = run_child(path, saved_model,
                                   argv if argv is not None else sys.argv[1:], env)
            else:
                result = measure(call, one, batches, args)
            rounds[name].append(result)
            log(f"round {round_index + 1} {name}: p50 {result['p50_ms']:.2f} ms, "
                f"p90 {result['p90_ms']:.2f} ms, batch {args.batch}: "
                f"{result['batch_per_s']:.1f} sentences/s")

    summary = {name: {key: statistics.median(r[key] for r in results)
                      for key in results[0]} for name, results in rounds.items()}
    ours = summary["ours_serve_text"]
    for name, figures in summary.items():
        figures["p50_vs_ours"] = figures["p50_ms"] / ours["p50_ms"]
        figures["batch_throughput_vs_ours"] = figures["batch_per_s"] / ours["batch_per_s"]
    report = {"saved_model": os.path.relpath(saved_model, REPO_ROOT), "also": args.also,
              "requests": args.requests, "intra_op_threads": args.intra_op_threads,
              "isolated_processes": args.isolate,
              "env_variants": dict(variants[1:]),
              "inter_op_threads": args.inter_op_threads,
              "onednn": os.environ.get("TF_ENABLE_ONEDNN_OPTS"),
              "batch": args.batch, "rounds": args.rounds, "cpus": os.cpu_count(),
              "summary": summary, "rounds_detail": rounds}
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    with open(args.out, "w") as f:
        json.dump(report, f, indent=2)
    print(f"\n| path | one sentence p50 (ms) | p90 (ms) | batch {args.batch} (sentences/s) |")
    print("|---|---|---|---|")
    for name, figures in summary.items():
        print(f"| {name} | {figures['p50_ms']:.2f} | {figures['p90_ms']:.2f} | "
              f"{figures['batch_per_s']:.1f} |")
    if "hf_tf_eager" in summary:
        print(f"\nHF eager p50 / ours: {summary['hf_tf_eager']['p50_vs_ours']:.1f}x")
    print(f"HF tf.function p50 / ours: {summary['hf_tf_function']['p50_vs_ours']:.1f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
