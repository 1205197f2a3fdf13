"""The pipeline definition: wires TFX components from the typed config, nothing more.

ExampleGen → StatisticsGen → SchemaGen/ImportSchemaGen → ExampleValidator → AnomalyGate
→ Transform → Trainer → (latest blessed model) → Evaluator → Pusher, with a simple baseline
trained beside the Trainer, a second Evaluator and a blessing gate (pipeline/evaluation.py).
"""
import os
from typing import List, Mapping

from tfx import v1 as tfx

import pipeline_config
from components.anomaly_gate import AnomalyGate
from components.text_example_gen import TextExampleGen, resolve_inputs
from pipeline.evaluation import evaluate_and_gate
from trainer import tasks
from trainer.run_context import RunContext

PREPROCESSING_FN = "trainer.preprocessing.preprocessing_fn"
RUN_FN = "trainer.run.run_fn"


def pipeline_root(cfg: pipeline_config.PipelineConfig) -> str:
    return os.path.join(cfg.output_dir, "artifacts")


def create_pipeline(context: RunContext, label_counts: Mapping[str, int],
                    metadata_connection_config=None,
                    beam_pipeline_args: List[str] = None) -> tfx.dsl.Pipeline:
    cfg = context.config
    task = tasks.get_task(cfg.task)
    inputs = resolve_inputs(cfg.data.train, cfg.data.eval, cfg.data.eval_percent)

    example_gen = TextExampleGen(input_base=inputs.input_base, input_config=inputs.input_config,
                                 output_config=inputs.output_config)
    statistics_gen = tfx.components.StatisticsGen(examples=example_gen.outputs["examples"])
    if cfg.data.schema:
        schema_gen = tfx.components.ImportSchemaGen(schema_file=os.path.abspath(cfg.data.schema))
    else:
        # Inferred from the training split only, so the eval split is checked against it
        # (a label that never occurs in training is an anomaly, not a new domain value).
        schema_gen = tfx.components.SchemaGen(
            statistics=statistics_gen.outputs["statistics"], infer_feature_shape=True,
            exclude_splits=["eval"])
    example_validator = tfx.components.ExampleValidator(
        statistics=statistics_gen.outputs["statistics"], schema=schema_gen.outputs["schema"])
    anomaly_gate = AnomalyGate(anomalies=example_validator.outputs["anomalies"])

    custom_config = context.to_custom_config()
    transform = tfx.components.Transform(
        examples=example_gen.outputs["examples"], schema=schema_gen.outputs["schema"],
        preprocessing_fn=PREPROCESSING_FN, custom_config=context.transform_custom_config())
    # Nothing is transformed or trained when the data has anomalies.
    transform.add_upstream_node(anomaly_gate)

    trainer = tfx.components.Trainer(
        run_fn=RUN_FN,
        examples=transform.outputs["transformed_examples"],
        transform_graph=transform.outputs["transform_graph"],
        schema=schema_gen.outputs["schema"],
        train_args=tfx.proto.TrainArgs(splits=["train"]),
        eval_args=tfx.proto.EvalArgs(splits=["eval"]),
        custom_config=custom_config)

    # The simple baseline, two Evaluators and the gate whose blessing the Pusher reads.
    evaluation = evaluate_and_gate(context, label_counts, example_gen, transform, schema_gen,
                                   trainer)

    pusher = tfx.components.Pusher(
        model=trainer.outputs["model"],
        model_blessing=evaluation.blessing,
        push_destination=tfx.proto.PushDestination(
            filesystem=tfx.proto.PushDestination.Filesystem(base_directory=cfg.serving_dir)))

    return tfx.dsl.Pipeline(
        pipeline_name=cfg.pipeline_name,
        pipeline_root=pipeline_root(cfg),
        components=[example_gen, statistics_gen, schema_gen, example_validator, anomaly_gate,
                    transform, trainer, *evaluation.components, pusher],
        enable_cache=cfg.enable_cache,
        metadata_connection_config=metadata_connection_config,
        beam_pipeline_args=beam_pipeline_args if beam_pipeline_args is not None else cfg.beam_args,
    )
