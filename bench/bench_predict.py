"""Batch inference benchmark: `electra-tfx predict` (Beam RunInference on the pushed model)
against calling its `serve_text` signature in a Python loop with batches of 64.

Both score the same 2,000 rows (the first 2,000 sentences of data/sentiment_sentences/, written
to bench/out/predict_2000.jsonl) with the same SavedModel, in one process, interleaved round by
round (the loop, then `predict` at each batch size; twice by default), because the machine is
shared and its speed drifts: compare within a round. Reported per measurement:

* the loop: rows / seconds of the loop alone (the model loaded beforehand, not timed);
* predict: rows / seconds of scoring (pipeline/batch_predict.py's figure: the Beam pipeline
  from its start to its end minus the model's load), and rows / seconds of the whole call
  (reading and checking the file twice, starting Beam, loading the model, writing the output).

    TF_USE_LEGACY_KERAS=1 TF_CPP_MIN_LOG_LEVEL=2 TF_ENABLE_ONEDNN_OPTS=1 \\
        .venv/bin/python bench/bench_predict.py --model OUTPUT/serving/electra_classifier/VERSION

Without `--model` it scores with the newest version pushed under runs/electra-tfx (what
`make run` writes). Results: bench/out/predict_results.json; figures in docs/benchmarks.md.
"""
import argparse
import json
import os
import statistics
import sys
import time

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO_ROOT)
os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

DATA = os.path.join(REPO_ROOT, "data", "sentiment_sentences")
OUT = os.path.join(REPO_ROOT, "bench", "out")
LOOP_BATCH = 64


def write_rows(n: int) -> str:
    rows = []
    for name in sorted(os.listdir(DATA)):
        if name.endswith(".jsonl"):
            with open(os.path.join(DATA, name)) as f:
                rows += [json.loads(line) for line in f if line.strip()]
    os.makedirs(OUT, exist_ok=True)
    path = os.path.join(OUT, f"predict_{n}.jsonl")
    with open(path, "w") as f:
        for row in rows[:n]:
            f.write(json.dumps(row) + "\n")
    return path


def loop(model_dir: str, texts) -> dict:
    """serve_text on batches of 64 in a Python loop (model loaded once, before the clock)."""
    import tensorflow as tf
    import tensorflow_text  # noqa: F401  (the signature's TF Text ops)
    model = tf.saved_model.load(model_dir)
    serve = model.signatures["serve_text"]
    serve(text=tf.constant(texts[:LOOP_BATCH]))  # the first call traces nothing, but warms
    started = time.perf_counter()
    for i in range(0, len(texts), LOOP_BATCH):
        outputs = serve(text=tf.constant(texts[i:i + LOOP_BATCH]))
        _ = {k: v.numpy() for k, v in outputs.items()}
    seconds = time.perf_counter() - started
    return {"rows": len(texts), "seconds": seconds, "rows_per_second": len(texts) / seconds}


def predict(model_dir: str, source: str, batch_size: int, signature: str) -> dict:
    from pipeline import batch_predict, cli, predict as predict_cli
    output = os.path.join(OUT, f"predict_{batch_size}.jsonl")
    args = cli.build_parser().parse_args(
        ["predict", "--model", model_dir, "--input", source, "--output", output,
         "--batch-size", str(batch_size), "--signature", signature])
    started = time.perf_counter()
    measured = batch_predict.predict(predict_cli.Request(args))
    whole = time.perf_counter() - started
    return dict(measured, whole_seconds=whole, whole_rows_per_second=measured["rows"] / whole)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", help="a pushed SavedModel folder (default: the newest push "
                        "under runs/electra-tfx)")
    parser.add_argument("--rows", type=int, default=2000)
    parser.add_argument("--batch-sizes", default="32,64,128")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--signature", default="serving_default",
                        choices=["serving_default", "serve_text"])
    args = parser.parse_args()
    from components.model_versions import resolve_model
    model_dir = resolve_model(args.model or "latest", os.path.join(REPO_ROOT, "runs", "electra-tfx"))
    source = write_rows(args.rows)
    with open(source) as f:
        texts = [json.loads(line)["text"] for line in f]
    sizes = [int(s) for s in args.batch_sizes.split(",")]
    results = {"model": model_dir, "rows": len(texts), "signature": args.signature, "rounds": []}
    for r in range(args.rounds):
        measured = {"loop_64": loop(model_dir, texts)}
        for size in sizes:
            measured[f"predict_{size}"] = predict(model_dir, source, size, args.signature)
        base = measured["loop_64"]["rows_per_second"]
        for key, m in measured.items():
            m["ratio_to_loop"] = m["rows_per_second"] / base
        results["rounds"].append(measured)
        print(f"round {r + 1}: " + "; ".join(
            f"{k} {m['rows_per_second']:.1f} rows/s (x{m['ratio_to_loop']:.2f}"
            + (f", whole call {m['whole_rows_per_second']:.1f} rows/s" if "whole_seconds" in m
               else "") + ")" for k, m in measured.items()), flush=True)
    summary = {}
    for key in results["rounds"][0]:
        ratios = [rnd[key]["ratio_to_loop"] for rnd in results["rounds"]]
        summary[key] = {"median_rows_per_second": statistics.median(
            rnd[key]["rows_per_second"] for rnd in results["rounds"]),
            "ratios": ratios}
    results["summary"] = summary
    with open(os.path.join(OUT, "predict_results.json"), "w") as f:
        json.dump(results, f, indent=2)
    print(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
