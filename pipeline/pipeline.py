"""The pipeline definition: wires TFX components from the typed config, nothing more.

ExampleGen → StatisticsGen → SchemaGen (or the --schema file) → FreeTextSchema → ExampleValidator
→ AnomalyGate (and DriftSkewValidator → DriftSkewGate, when a curated schema sets drift/skew
thresholds) → Transform → Trainer → (latest blessed model) → Evaluator → Pusher, with a
simple baseline trained beside the Trainer, a second Evaluator and a blessing gate
(pipeline/evaluation.py); with pre-training, AnomalyGate → ElectraPretrainer → Trainer (its
base_model).
"""
import dataclasses
import json
import os
from typing import List, Mapping, Optional

import tensorflow_data_validation as tfdv
from tfx import v1 as tfx

import pipeline_config
from components import tfds_example_gen
from components.anomaly_gate import AnomalyGate
from components import drift_skew
from components.atomic_pusher import AtomicPusher
from components.bad_rows import RowChecks
from components import bulk_inference
from components import free_text_schema
from components.free_text_schema import FreeTextSchema
from components.input_files import unlisted_inputs
from components import model_registry
from components.pretrainer import ElectraPretrainer
from components.text_example_gen import TextExampleGen, resolve_inputs
from pipeline.evaluation import evaluate_and_gate
from trainer import tasks
from trainer.run_context import RunContext
from trainer.uris import is_uri

PREPROCESSING_FN = "trainer.preprocessing.preprocessing_fn"
RUN_FN = "trainer.run.run_fn"
TUNER_FN = "trainer.tuning.tuner_fn"


def _absolute(path: str) -> str:
    """Local paths made absolute; URIs (gs://...) kept as they are."""
    return path if is_uri(path) else os.path.abspath(path)


def pipeline_root(cfg: pipeline_config.PipelineConfig) -> str:
    return os.path.join(cfg.output_dir, "artifacts")


def _drift_and_skew(cfg: pipeline_config.PipelineConfig, example_gen, schema_gen) -> list:
    """Drift against the previous run and train/eval skew, when the curated schema sets
    comparator thresholds (components/drift_skew.py): its nodes, the gate last; [] otherwise,
    and for a quick run: its sample is too small for a distribution distance to mean anything
    (the validator skips such comparisons), and quick runs keep no history to drift from."""
    if cfg.quick or not cfg.data.schema or not drift_skew.has_comparators(
            tfdv.load_schema_text(os.path.abspath(cfg.data.schema))):
        return []
    previous = tfx.dsl.Resolver(
        strategy_class=drift_skew.PreviousStatisticsStrategy,
        statistics=tfx.dsl.Channel(
            type=tfx.types.standard_artifacts.ExampleStatistics,
            producer_component_id=drift_skew.DriftSkewValidator.__name__,
            output_key="statistics"),
    ).with_id("previous_run_statistics")
    validator = drift_skew.DriftSkewValidator(
        examples=example_gen.outputs["examples"], schema=schema_gen.outputs["schema"],
        previous_statistics=previous.outputs["statistics"], check_drift=cfg.data.check_drift,
        check_skew=cfg.data.check_skew)
    gate = drift_skew.DriftSkewGate(anomalies=validator.outputs["anomalies"],
                                    curated_schema=_absolute(cfg.data.schema))
    return [previous, validator, gate]


def _tuner(context: RunContext, task, transform, schema_gen, pretrainer):
    """--tune: TFX's Tuner with trainer/tuning.py's tuner_fn. Its trials train and are scored
    on the training split only (its "eval" files are the training split's too: the gate's eval
    split is no input of the search); the config's tune section and the task's objective
    reach it (and key its cache) through its custom_config."""
    from trainer import tuning  # the objective's check (a task that trains nothing)
    objective = tuning.objective_of(task)
    return tfx.components.Tuner(
        tuner_fn=TUNER_FN,
        examples=transform.outputs["transformed_examples"],
        transform_graph=transform.outputs["transform_graph"],
        schema=schema_gen.outputs["schema"],
        base_model=pretrainer.outputs["checkpoint"] if pretrainer else None,
        train_args=tfx.proto.TrainArgs(splits=["train"]),
        eval_args=tfx.proto.EvalArgs(splits=["train"]),
        custom_config={**context.to_custom_config(),
                       "tune": dataclasses.asdict(context.config.tune),
                       "objective": objective._asdict()})


def create_pipeline(context: RunContext, label_counts: Mapping[str, int],
                    metadata_connection_config=None,
                    beam_pipeline_args: List[str] = None,
                    row_checks: Optional[RowChecks] = None,
                    eval_label_counts: Optional[Mapping[str, int]] = None,
                    list_inputs: bool = True) -> tfx.dsl.Pipeline:
    """`label_counts` and `eval_label_counts`: the labels of the training and eval splits
    (pipeline/data_scan.py); the gate's bars come from the eval split's. `list_inputs=False`:
    the input paths are not read here but where the ExampleGen runs (components/input_files.py
    `unlisted_inputs`; `compile` with --label-counts)."""
    cfg = context.config
    task = tasks.create(context)
    if tfds_example_gen.is_tfds(cfg.data.train):
        example_gen = tfds_example_gen.TfdsExampleGen(*tfds_example_gen.input_configs(
            cfg.data.train, cfg.data.eval, cfg.data.eval_percent, cfg.data.tfds_data_dir))
    else:
        inputs = (resolve_inputs if list_inputs else unlisted_inputs)(
            cfg.data.train, cfg.data.eval, cfg.data.eval_percent)
        example_gen = TextExampleGen(input_base=inputs.input_base, input_config=inputs.input_config,
                                     output_config=inputs.output_config, row_checks=row_checks)
    statistics_gen = tfx.components.StatisticsGen(examples=example_gen.outputs["examples"])
    # The schema every later component reads: the task's free-text columns (and multi-label
    # cells) never pinned to a list of values, whether inferred or curated
    # (components/free_text_schema.py).
    text_columns = json.dumps(task.schema_free_columns(cfg))
    if cfg.data.schema:
        # Read by FreeTextSchema itself, keyed by its content (ImportSchemaGen caches on the
        # path, so an edited schema would come from the cache).
        source_schema_gen = None
        schema_gen = FreeTextSchema(
            text_columns=text_columns, schema_file=_absolute(cfg.data.schema),
            schema_fingerprint=free_text_schema.fingerprint(_absolute(cfg.data.schema)))
    else:
        # Inferred from the training split only, so the eval split is checked against it
        # (a label that never occurs in training is an anomaly, not a new domain value).
        source_schema_gen = tfx.components.SchemaGen(
            statistics=statistics_gen.outputs["statistics"], infer_feature_shape=True,
            exclude_splits=["eval"])
        schema_gen = FreeTextSchema(source_schema=source_schema_gen.outputs["schema"],
                                    text_columns=text_columns)
    example_validator = tfx.components.ExampleValidator(
        statistics=statistics_gen.outputs["statistics"], schema=schema_gen.outputs["schema"])
    anomaly_gate = AnomalyGate(anomalies=example_validator.outputs["anomalies"],
                               schema=schema_gen.outputs["schema"],
                               curated_schema=_absolute(cfg.data.schema) if cfg.data.schema else "")
    drift_nodes = _drift_and_skew(cfg, example_gen, schema_gen)

    custom_config = context.to_custom_config()
    # Without its own statistics: the raw data's are StatisticsGen's, and nothing reads those
    # of the token ids (they cost a TFDV pass over each side of the transform).
    transform = tfx.components.Transform(
        examples=example_gen.outputs["examples"], schema=schema_gen.outputs["schema"],
        preprocessing_fn=PREPROCESSING_FN, custom_config=context.transform_custom_config(),
        disable_statistics=True)
    # Nothing is transformed or trained when the data has anomalies.
    transform.add_upstream_node(anomaly_gate)
    if drift_nodes:
        transform.add_upstream_node(drift_nodes[-1])

    # ELECTRA pre-training (replaced-token detection) of the checkpoint, when asked for:
    # its output is the Trainer's base model (Transform keeps the checkpoint's vocabulary).
    pretrainer = None
    if cfg.pretrain.steps:
        pretrainer = ElectraPretrainer(
            examples=example_gen.outputs["examples"],
            start_checkpoint=context.checkpoint_dir,
            text_columns=json.dumps(task.raw_text_columns(cfg)),
            pretrain_config=json.dumps(dataclasses.asdict(cfg.pretrain), sort_keys=True),
            work_dir=os.path.join(cfg.output_dir, "checkpoints"),
            corpus_fingerprint=context.pretrain_corpus_fingerprint)
        pretrainer.add_upstream_node(anomaly_gate)
        if drift_nodes:
            pretrainer.add_upstream_node(drift_nodes[-1])

    tuner = _tuner(context, task, transform, schema_gen, pretrainer) if cfg.tune.enabled else None
    trainer = tfx.components.Trainer(
        run_fn=RUN_FN,
        hyperparameters=tuner.outputs["best_hyperparameters"] if tuner else None,
        base_model=pretrainer.outputs["checkpoint"] if pretrainer else None,
        examples=transform.outputs["transformed_examples"],
        transform_graph=transform.outputs["transform_graph"],
        schema=schema_gen.outputs["schema"],
        train_args=tfx.proto.TrainArgs(splits=["train"]),
        eval_args=tfx.proto.EvalArgs(splits=["eval"]),
        custom_config=custom_config)

    # The simple baseline, two Evaluators and the gate whose blessing the Pusher reads.
    evaluation = evaluate_and_gate(context, label_counts, example_gen, transform, schema_gen,
                                   trainer, eval_label_counts=eval_label_counts)

    # TFX's Pusher with an atomic copy (write beside, then rename): a killed push never
    # leaves a partial version for TF Serving. Same node id, outputs and properties.
    # It pushes only a model TF Serving can load (its ops) and adds warm-up requests from the
    # eval examples (docs/serving.md).
    pusher = AtomicPusher(
        model=trainer.outputs["model"],
        model_blessing=evaluation.blessing,
        push_destination=tfx.proto.PushDestination(
            filesystem=tfx.proto.PushDestination.Filesystem(base_directory=cfg.serving_dir)),
        examples=example_gen.outputs["examples"],
        custom_config={"serve_text_inputs": task.serving_text_inputs(cfg)},
    ).with_id("Pusher")
    # --registry: every blessed push also becomes a registered model version.
    registry = model_registry.create(
        cfg, pusher, evaluation.blessing, trainer.outputs["model"], example_gen.outputs["examples"],
        checkpoint=context.checkpoint_dir, metadata_store="" if "://" in cfg.output_dir
        else cfg.metadata.mysql or cfg.metadata.config_file or cfg.metadata_path)
    # --predict PATH: BulkInferrer scores PATH with the blessed candidate (OUTPUT/predictions/).
    predict_nodes = bulk_inference.create(
        cfg.predict.data, cfg.output_dir, trainer.outputs["model"], evaluation.blessing,
        row_checks, task.raw_text_columns(cfg), list_inputs=list_inputs)

    return tfx.dsl.Pipeline(
        pipeline_name=cfg.run_pipeline_name,
        pipeline_root=pipeline_root(cfg),
        components=[example_gen, statistics_gen,
                    *([source_schema_gen] if source_schema_gen else []), schema_gen,
                    example_validator, anomaly_gate,
                    *drift_nodes, transform, *([pretrainer] if pretrainer else []),
                    *([tuner] if tuner else []), trainer,
                    *evaluation.components, pusher, *([registry] if registry else []),
                    *predict_nodes],
        enable_cache=cfg.enable_cache,
        metadata_connection_config=metadata_connection_config,
        beam_pipeline_args=beam_pipeline_args if beam_pipeline_args is not None else cfg.beam_args,
    )
