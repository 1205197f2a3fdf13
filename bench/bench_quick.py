"""`electra-tfx run --quick` end to end: this checkout against another commit, interleaved.

Each round runs the same command once from each checkout (a git worktree of `--baseline` under
`--work`), each into a fresh output folder, so the cache never serves a component. It reads the
command's own figures from its summary (the total, "finished in N s", and the "Component
times" line) and prints, per checkout, the median of the rounds for the total and every
component, and the ratio of the medians. Timings on 2 shared cores vary by +-20%: compare the
rounds (the table shows each one), not a single run.

    TF_USE_LEGACY_KERAS=1 TF_CPP_MIN_LOG_LEVEL=2 TF_ENABLE_ONEDNN_OPTS=1 \\
        .venv/bin/python bench/bench_quick.py --baseline e0ff334 --rounds 2

Extra arguments after `--` go to both commands (e.g. `-- --train my.csv`).
"""
import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from typing import Dict, List

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
_TOTAL = re.compile(r"finished in (\d+) s")
_COMPONENTS = re.compile(r"Component times: (.*?)\.\n(?!  )", re.S)


def worktree(ref: str, work: str) -> str:
    path = os.path.join(work, f"tree-{ref}")
    if not os.path.isdir(path):
        subprocess.run(["git", "-C", REPO, "worktree", "add", "--detach", "-f", path, ref],
                       check=True, capture_output=True)
    return path


def run_quick(checkout: str, output: str, extra: List[str]) -> Dict[str, float]:
    """The command's total and component seconds (from its summary), and the wall time."""
    code = "import sys; from pipeline.cli import main; sys.exit(main())"
    command = [sys.executable, "-c", code, "run", "--checkpoint", "auto", "--quick",
               "--output", output, *extra]
    started = time.monotonic()
    done = subprocess.run(command, cwd=checkout, capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": checkout})
    wall = time.monotonic() - started
    log = done.stdout + done.stderr
    total = _TOTAL.search(log)
    if done.returncode not in (0, 3) or not total:
        raise SystemExit(f"{checkout}: exit {done.returncode}\n{log[-3000:]}")
    times = {"total": float(total.group(1)), "wall": round(wall, 1)}
    found = _COMPONENTS.search(log)
    for part in (found.group(1) if found else "").replace("\n", " ").split(","):
        name, _, seconds = part.strip().rpartition(" ")
        if name and seconds.endswith("s"):
            times[name] = float(seconds[:-1])
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--baseline", required=True, help="the git commit to compare with")
    parser.add_argument("--rounds", type=int, default=2, help="runs per checkout")
    parser.add_argument("--work", default=os.path.join(tempfile.gettempdir(), "bench_quick"))
    args, extra = parser.parse_known_args()
    extra = [a for a in extra if a != "--"]
    checkouts = {"baseline": worktree(args.baseline, args.work), "this": REPO}
    runs: Dict[str, List[Dict[str, float]]] = {name: [] for name in checkouts}
    for round_ in range(args.rounds):
        for name, checkout in checkouts.items():
            output = tempfile.mkdtemp(prefix=f"{name}-{round_}-", dir=args.work)
            runs[name].append(run_quick(checkout, output, extra))
            print(f"round {round_ + 1} {name}: {runs[name][-1]['total']:.0f} s "
                  f"(wall {runs[name][-1]['wall']:.0f} s)", flush=True)
    keys = list(dict.fromkeys(k for rs in runs.values() for r in rs for k in r))
    print(f"\n| seconds | {args.baseline} (median) | this checkout (median) | ratio | rounds |")
    print("|---|---|---|---|---|")
    for key in keys:
        medians = {name: statistics.median(r.get(key, 0.0) for r in rs)
                   for name, rs in runs.items()}
        ratio = (f"{medians['this'] / medians['baseline']:.2f}" if medians["baseline"] else "-")
        each = " / ".join(f"{r.get(key, 0):.0f}" for rs in zip(*runs.values()) for r in rs)
        print(f"| {key} | {medians['baseline']:.1f} | {medians['this']:.1f} | {ratio} | {each} |")


if __name__ == "__main__":
    main()
