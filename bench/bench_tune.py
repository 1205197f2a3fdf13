"""--tune at a fixed budget of training steps: tuned vs default hyper-parameters.

Reads a finished `electra-tfx run` (its Transform output: the transformed train and eval splits
and the transform graph; its Trainer's resolved config and checkpoint), then, for each seed:

* ``default`` -- the Trainer's composition (trainer/training.py) with the run's own
                 hyper-parameters for ``--budget`` training steps (its epochs share them), scored
                 on the eval split;
* ``tuned``   -- trainer/tuning.py's search as the pipeline's Tuner runs it (``--trials`` trials
                 of ``--steps-per-trial`` steps on the training split minus its tuning share,
                 scored on that share), then the best values trained on the whole training
                 split for what is left of the budget (``--budget`` minus the trials' steps),
                 scored on the same eval split.

Both sides spend the same number of training steps in total, so tuning must pay for itself.
The eval split is never seen by the search. The score is the task's tuning objective
(`Task.tuning_objective`: accuracy for text classification, token accuracy for token
classification, ...). Results go to ``--out`` (JSON: each side's score and steps, every
trial's values and score); the table printed at the end is what docs/benchmarks.md records.

``--default-set train.FIELD=VALUE`` (repeatable) changes the default side, e.g. to measure a
candidate default learning rate against the current one on the same seeds and budget, and
``--sides default`` runs that side alone.

    # a run to read (any settings: only its Transform output and resolved config are used)
    .venv/bin/electra-tfx run --checkpoint auto --epochs 1 --set train.steps_per_epoch=2 \\
        --no-require-beat-baseline --output /tmp/bench_tune_run
    TF_USE_LEGACY_KERAS=1 TF_CPP_MIN_LOG_LEVEL=2 TF_ENABLE_ONEDNN_OPTS=1 \\
        .venv/bin/python bench/bench_tune.py --run-output /tmp/bench_tune_run --seeds 1,2,3

    # part-of-speech tagging on the Brown Corpus (bench/fetch_brown_pos.py writes the data)
    .venv/bin/electra-tfx run --task token-classification \\
        --train bench/out/brown_pos/brown_pos.conll --checkpoint auto --epochs 1 \\
        --set train.steps_per_epoch=2 --no-require-beat-baseline \\
        --set eval.simple_baseline=false --output /tmp/bench_tune_pos
"""
import argparse
import dataclasses
import glob
import json
import os
import statistics
import sys
import time

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import pipeline_config  # noqa: E402
from pipeline import run_record  # noqa: E402
from pipeline.report import lineage  # noqa: E402


def _run_inputs(output: str):
    """(the Trainer's RunContext dict, transformed examples URI, transform graph URI)."""
    store = run_record.open_store(os.path.join(output, "metadata.sqlite"))
    run_id = run_record.run_ids(store)[-1]
    ctx = store.get_context_by_type_and_name("pipeline_run", run_id)
    types = {t.id: t.name for t in store.get_artifact_types()}
    custom = examples = graph = None
    for execution in store.get_executions_by_context(ctx.id):
        node = lineage.node_name(store, execution.id)
        if node == "Trainer":
            custom = lineage.trainer_config(store, execution)
        if node == "Transform":
            for artifact in run_record._outputs(store, execution.id):
                kind = types.get(artifact.type_id)
                if kind == "Examples":
                    examples = artifact.uri
                elif kind == "TransformGraph":
                    graph = artifact.uri
    if not (custom and examples and graph):
        sys.exit(f"{output}: no Trainer config or Transform output in the latest run {run_id}")
    return custom, examples, graph


def _train_and_score(context, graph: str, train_files, eval_files, steps: int):
    """Trains with the context's hyper-parameters for at most `steps` steps (its epochs share
    them), as the Trainer does; (the task's tuning objective on the eval split, steps run)."""
    from trainer import training
    cfg = context.config
    cfg.train.steps_per_epoch = max(1, steps // cfg.train.epochs)  # never past the budget
    task, transform_output = training.bind(context, graph)
    train_ds, eval_ds = training.build_datasets(task, cfg, train_files, eval_files)
    steps_per_epoch, total = training.training_steps(train_ds, cfg.train)
    model = training.build_task_model(task, context, transform_output, total)
    model.fit(train_ds.repeat(), epochs=cfg.train.epochs, steps_per_epoch=steps_per_epoch,
              verbose=0)
    measured = model.evaluate(eval_ds, return_dict=True, verbose=0)
    objective = task.tuning_objective
    import tf_keras
    tf_keras.backend.clear_session()
    return float(measured[objective.metric]), total


def _seeded(context, seed: int):
    config = pipeline_config.from_dict(context.config.to_dict())
    config.train.seed = seed
    return dataclasses.replace(context, config=config)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--run-output", required=True, help="the --output of a finished run")
    parser.add_argument("--seeds", default="1,2,3")
    parser.add_argument("--budget", type=int, default=240, help="training steps per side")
    parser.add_argument("--trials", type=int, default=4)
    parser.add_argument("--steps-per-trial", type=int, default=30)
    parser.add_argument("--algorithm", default="random")
    parser.add_argument("--out", default="bench/out/tune.json")
    parser.add_argument("--default-set", action="append", default=[], metavar="KEY=VALUE",
                        help="a pipeline_config field of the default side (e.g. "
                        "train.learning_rate=1e-4); repeatable")
    parser.add_argument("--sides", default="default,tuned",
                        help="which sides to run: default, tuned or both")
    args = parser.parse_args()
    sides = [side.strip() for side in args.sides.split(",") if side.strip()]
    if not sides or not set(sides) <= {"default", "tuned"}:
        parser.error(f"--sides: default, tuned or both, got {args.sides!r}")

    from tfx.components.trainer.fn_args_utils import FnArgs
    from trainer import tasks, training, tuning
    from trainer.run_context import RunContext

    custom, examples, graph = _run_inputs(args.run_output)
    train_files = sorted(glob.glob(os.path.join(examples, "Split-train", "*")))
    eval_files = sorted(glob.glob(os.path.join(examples, "Split-eval", "*")))
    base = RunContext.from_custom_config(custom)
    # The run's resolved context, with the checkpoint on local disk (as run_fn has it).
    base = training.training_context(base, FnArgs(base_model=None))
    # The default side trains with the pipeline's defaults (whatever that run used): the
    # searched fields at TrainConfig's defaults (the learning rate and layer decay as
    # `resolve` set them for this checkpoint) and no cap on the steps of an epoch.
    defaults = pipeline_config.TrainConfig()
    base.config.train.epochs = defaults.epochs
    base.config.train.batch_size = defaults.batch_size
    base.config.train.warmup_ratio = defaults.warmup_ratio
    base.config.train.steps_per_epoch = None
    default_side = _seeded(base, base.config.train.seed)
    for setting in args.default_set:
        key, _, raw = setting.partition("=")
        pipeline_config.set_field(default_side.config, key, raw)
    tune = pipeline_config.TuneConfig(enabled=True, trials=args.trials,
                                      steps_per_trial=args.steps_per_trial,
                                      algorithm=args.algorithm)
    pipeline_config.validate_tune(tune)
    metric = tasks.create(base).tuning_objective.metric
    results = {"task": base.config.task, "metric": metric, "budget": args.budget,
               "trials": args.trials, "steps_per_trial": args.steps_per_trial,
               "algorithm": args.algorithm, "default_set": args.default_set,
               "defaults": {k: getattr(default_side.config.train, k) for k in tuning.SEARCHED},
               "checkpoint": base.checkpoint_dir, "seeds": {}}
    for seed in [int(s) for s in args.seeds.split(",")]:
        row = results["seeds"][str(seed)] = {}
        if "default" in sides:
            started = time.time()
            default_score, default_steps = _train_and_score(
                _seeded(default_side, seed), graph, train_files, eval_files, args.budget)
            row["default"] = {"score": default_score, "steps": default_steps,
                              "seconds": round(time.time() - started)}
        if "tuned" in sides:
            row["tuned"] = _search_and_train(base, seed, tune, graph, train_files, eval_files,
                                             args.budget)
        print(json.dumps({seed: row}), flush=True)

    for side in sides:
        scores = [r[side]["score"] for r in results["seeds"].values()]
        results[side] = {"mean": statistics.mean(scores),
                         "sd": statistics.stdev(scores) if len(scores) > 1 else 0.0,
                         "min": min(scores), "max": max(scores)}
        print(f"{side}: {metric} mean {results[side]['mean']:.4f} sd {results[side]['sd']:.4f} "
              f"range {results[side]['min']:.4f}-{results[side]['max']:.4f}")
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    with open(args.out, "w") as f:
        json.dump(results, f, indent=1)


def _search_and_train(base, seed: int, tune, graph: str, train_files, eval_files, budget: int):
    """The tuned side of one seed: the search, then the best values for the steps left."""
    from tfx.components.trainer.fn_args_utils import FnArgs
    from trainer import tuning
    started = time.time()
    context = _seeded(base, seed)
    fn_args = FnArgs(train_files=train_files, eval_files=train_files,
                     transform_graph_path=graph, base_model=None,
                     working_dir=f"/tmp/bench_tune_trials/{seed}",
                     custom_config={**context.to_custom_config(),
                                    "tune": dataclasses.asdict(tune)})
    search = tuning.tuner_fn(fn_args).tuner
    search.search()
    trials = [t for t in search.oracle.trials.values() if t.status == "COMPLETED"]
    spent = int(sum(t.metrics.get_best_value("training_steps") for t in trials))
    best = search.get_best_hyperparameters()[0].values
    tuned = tuning.apply_hyperparameters(context, best)
    left = max(1, budget - spent)
    tuned_score, tuned_steps = _train_and_score(tuned, graph, train_files, eval_files, left)
    shown = lambda values: {k: v for k, v in values.items() if not k.startswith("tuner/")}
    return {"score": tuned_score, "search_steps": spent, "final_steps": tuned_steps,
            "seconds": round(time.time() - started), "best": shown(best),
            "trial_scores": [t.score for t in trials],
            "trials": [{"score": t.score, **shown(t.hyperparameters.values)} for t in trials]}


if __name__ == "__main__":
    main()
