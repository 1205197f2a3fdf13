"""Wires the evaluation half of the pipeline: the simple baseline, two Evaluators, the gate.

    Transform ─► baseline_trainer ─────────────────────┐
    Trainer ──┬► Evaluator (vs the last blessed model) ├► blessing_gate ─► (Pusher)
              └► baseline_evaluator (vs the baseline) ─┘

TFX's Evaluator takes one model and one baseline, hence two; trainer/eval_setup.py makes their
EvalConfigs and components/blessing_gate.py explains the gate. A quick run (--quick) has only the
second: its candidate is never compared with the last blessed (quick) model, and the gate reads
the candidate's metrics from the comparison with the simple baseline.
"""
import dataclasses
import json
from typing import List, Mapping, Optional

from tfx import v1 as tfx

import pipeline_config
from components import baseline
from components.baseline.run import RUN_FN as BASELINE_RUN_FN, baseline_custom_config
from components.blessing_gate import BASELINE_OFF, NO_BASELINE, BlessingGate
from components.readers import read_file
from pipeline import data_scan
from trainer import eval_setup
from trainer import tasks
from trainer.run_context import RunContext

SLICE_FEATURES_MODULE = "trainer.slice_features"
GATE_ID = "blessing_gate"


@dataclasses.dataclass
class Evaluation:
    components: List
    blessing: tfx.dsl.Channel


def check_slice_columns(config, scan: data_scan.DataScan) -> None:
    """--slice-column must name a column of the training data."""
    if not config.eval.slice_columns:
        return
    path = scan.files[0]
    first = next(iter(read_file(path)))
    columns = set(first.features.feature)
    missing = [c for c in config.eval.slice_columns if c not in columns]
    if missing:
        raise data_scan.DataError(
            f"{path}: no column {' or '.join(repr(c) for c in missing)} to slice by "
            f"(--slice-column); the columns are {', '.join(repr(c) for c in sorted(columns))}")


def evaluate_and_gate(context: RunContext, label_counts: Mapping[str, int], example_gen,
                      transform, schema_gen, trainer,
                      eval_label_counts: Optional[Mapping[str, int]] = None) -> Evaluation:
    """`label_counts` of the training split, `eval_label_counts` of the eval split (the gate's
    bars: what a trivial predictor scores there); None: the training counts stand in."""
    cfg = context.config
    task = tasks.create(context)
    bars = task.gate_bars(context, label_counts,
                          label_counts if eval_label_counts is None else eval_label_counts)
    # (A bar versus the simple baseline with eval.simple_baseline=false: pipeline_config.validate,
    # from the task's traits.)
    with_baseline = baseline.has_baseline(cfg) and cfg.eval.simple_baseline
    # (--require-beat-baseline with eval.simple_baseline=false: pipeline_config.validate.)
    if cfg.eval.require_beat_baseline and not with_baseline:
        raise pipeline_config.ConfigError(
            f"--require-beat-baseline: the {cfg.task} task has no simple baseline")
    components, gate_inputs = [], {}
    if not (cfg.quick and with_baseline):
        evaluator = _versus_last_blessed(task, context, label_counts, example_gen, trainer)
        components += evaluator
        gate_inputs = {"evaluation": evaluator[-1].outputs["evaluation"],
                       "evaluator_blessing": evaluator[-1].outputs["blessing"]}
    if with_baseline:
        baseline_trainer = tfx.components.Trainer(
            run_fn=BASELINE_RUN_FN,
            examples=transform.outputs["transformed_examples"],
            transform_graph=transform.outputs["transform_graph"],
            schema=schema_gen.outputs["schema"],
            train_args=tfx.proto.TrainArgs(splits=["train"]),
            eval_args=tfx.proto.EvalArgs(splits=["eval"]),
            custom_config=baseline_custom_config(context)).with_id("baseline_trainer")
        baseline_evaluator = tfx.components.Evaluator(
            examples=example_gen.outputs["examples"],
            model=trainer.outputs["model"],
            baseline_model=baseline_trainer.outputs["model"],
            eval_config=eval_setup.candidate_vs_baseline(task, context, label_counts),
            module_path=SLICE_FEATURES_MODULE).with_id("baseline_evaluator")
        components += [baseline_trainer, baseline_evaluator]
        gate_inputs.update(baseline_evaluation=baseline_evaluator.outputs["evaluation"],
                           baseline_blessing=baseline_evaluator.outputs["blessing"])
        gate_inputs.setdefault("evaluation", baseline_evaluator.outputs["evaluation"])
    gate = BlessingGate(
        model=trainer.outputs["model"],
        require_beat_baseline=int(bool(with_baseline) and eval_setup.require_beat_baseline(cfg)),
        baseline_margin=float(cfg.eval.baseline_margin),
        simple_baseline=(baseline.describe(cfg) if with_baseline else None) or "",
        bars=json.dumps([bar.to_dict() for bar in bars], sort_keys=True),
        no_baseline_reason=(BASELINE_OFF if baseline.has_baseline(cfg)
                            else NO_BASELINE),
        **gate_inputs).with_id(GATE_ID)
    return Evaluation(components=components + [gate], blessing=gate.outputs["blessing"])


def _versus_last_blessed(task, context: RunContext, label_counts, example_gen, trainer) -> List:
    """The resolver of the last model the gate blessed, and the Evaluator against it."""
    # Only the gate's blessings count: an Evaluator may bless what the gate refused. (The gate
    # only ever blesses the candidate Trainer's models.)
    latest_blessed_model = tfx.dsl.Resolver(
        strategy_class=tfx.dsl.experimental.LatestBlessedModelStrategy,
        model=tfx.dsl.Channel(type=tfx.types.standard_artifacts.Model),
        model_blessing=tfx.dsl.Channel(type=tfx.types.standard_artifacts.ModelBlessing,
                                       producer_component_id=GATE_ID, output_key="blessing"),
    ).with_id("latest_blessed_model_resolver")

    evaluator = tfx.components.Evaluator(
        examples=example_gen.outputs["examples"],
        model=trainer.outputs["model"],
        baseline_model=latest_blessed_model.outputs["model"],
        eval_config=eval_setup.candidate_vs_last_blessed(task, context, label_counts),
        module_path=SLICE_FEATURES_MODULE)
    return [latest_blessed_model, evaluator]
