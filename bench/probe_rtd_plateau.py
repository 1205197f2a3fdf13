"""Diagnostic (docs/benchmarks.md, "Pre-training", round 5): where the discriminator's AUC
falls to its plateau, and what moves it. Pre-trains a scratch checkpoint on a corpus for
`--stop` of `--steps` steps (the warm-up is 10% of --steps) and prints the progress lines.

    env $ENV taskset -c 0 .venv/bin/python bench/probe_rtd_plateau.py --out bench/out/probe \
        [--set pretrain.learning_rate=3e-4] [--set pretrain.temperature=1000] \
        [--untie] [--freeze-generator]

--untie: the generator keeps its own embeddings (not ELECTRA's sharing); --freeze-generator:
only the discriminator's variables train (the shared embeddings still get both losses);
temperature 1000: replacements are ~uniform samples whatever the generator learns.
Nothing here runs in the tests or the pipeline.
"""
import argparse
import dataclasses
import os
import shutil
import sys

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO_ROOT)

import pipeline_config  # noqa: E402
from components import pretrain_corpus  # noqa: E402
from trainer import pretraining  # noqa: E402


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.strip().splitlines()[0])
    p.add_argument("--out", required=True, help="work folder (replaced)")
    p.add_argument("--checkpoint",
                   default=os.path.join(REPO_ROOT, "bench", "out", "pretrain-long", "scratch"),
                   help="a scratch checkpoint (bench_pretrain.py writes <out>/scratch)")
    p.add_argument("--corpus", default=os.path.join(REPO_ROOT, "bench", "out", "corpus",
                                                    "corpus.txt"))
    p.add_argument("--steps", type=int, default=6000, help="the schedule's length")
    p.add_argument("--stop", type=int, default=1500, help="steps actually run")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    p.add_argument("--freeze-generator", action="store_true")
    p.add_argument("--untie", action="store_true")
    args = p.parse_args()
    cfg = pipeline_config.PipelineConfig()
    for override in args.set:
        key, _, value = override.partition("=")
        pipeline_config.set_field(cfg, key, value)
    # The two ablations patch the module for this process only.
    if args.freeze_generator:
        pretraining.ReplacedTokenDetection.trainable_variables_unique = (
            lambda self: list(self.discriminator.trainable_variables))
    if args.untie:
        pretraining.share_embeddings = lambda generator, discriminator: None
    settings = dataclasses.replace(cfg.pretrain, steps=args.steps, log_every=50,
                                   checkpoint_every=10 ** 9)
    shutil.rmtree(args.out, ignore_errors=True)
    pretraining.pretrain(args.checkpoint, pretrain_corpus.read_corpus(args.corpus),
                         os.path.join(args.out, "export"),
                         work_dir=os.path.join(args.out, "state"), config=settings,
                         stop_after=args.stop, report=lambda line: print(line, flush=True))


if __name__ == "__main__":
    main()
