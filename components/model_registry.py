"""ModelRegistry: after the Pusher, every blessed push becomes a new version of one registered
model (docs/registry.md); a candidate that was not blessed or not pushed is never registered.

    Pusher ─(pushed_model)─► ModelRegistry ◄─(blessing)─ blessing_gate
                                 │
                                 └─► registered_model (RegisteredModel: registry, name, version)

A TFX component like the others, so it runs where the pipeline runs (locally, or on the
cluster of a compiled pipeline). Two registries:

- `mlflow` (components/mlflow_registry.py): the SavedModel is logged to an MLflow run with the
  decision's metrics and tags that lead back to the run (ML Metadata ids, the data's
  fingerprint, the checkpoint, the git commit when known); the version's source is that run's
  artifact; the alias `champion` moves to it.
- `vertex` (components/vertex_registry.py): `aiplatform.Model.upload(parent_model=...)`, a new
  version of one Vertex AI model, made its default version.
"""
import os
import re
import subprocess
from typing import Any, Dict, List, Optional

from absl import logging
from tfx import types
from tfx.dsl.components.base import base_component, base_executor, executor_spec
from tfx.types import artifact_utils, standard_artifacts
from tfx.types.component_spec import ChannelParameter, ComponentSpec, ExecutionParameter

import pipeline_config

MLFLOW, VERTEX = "mlflow", "vertex"
CHAMPION = "champion"
DB_NAME = "mlflow.db"
ARTIFACTS_DIR = "mlflow-artifacts"


class RegisteredModel(types.Artifact):
    """A registered model version: custom properties `registered` (0: nothing registered, the
    candidate was not blessed), `registry`, `model_name`, `version`, `model_uri`, `run_id`."""
    TYPE_NAME = "electra_tfx.RegisteredModel"  # KFP v2 schema titles: <namespace>.<Name>


# ---- settings, resolved when the pipeline is built ----------------------------------------

def model_name(cfg: pipeline_config.PipelineConfig) -> str:
    """The registered model's name: --registry-model, else the pipeline's name in ML Metadata."""
    return cfg.registry.model or cfg.run_pipeline_name


def vertex_model_id(cfg: pipeline_config.PipelineConfig) -> str:
    """--vertex-model-id, else the model name as a Vertex id ([a-z0-9_-], a letter first, at
    most 63 characters)."""
    if cfg.registry.vertex_model_id:
        return cfg.registry.vertex_model_id
    name = re.sub(r"[^a-z0-9_-]+", "-", model_name(cfg).lower()).strip("-_")
    return ("m-" + name if not name[:1].isalpha() else name)[:63]


def tracking_uri(cfg: pipeline_config.PipelineConfig) -> str:
    """--registry-uri, else a SQLite store in the output folder; refused when that folder is a
    URI (a compiled pipeline's gs:// root): SQLite needs a local file."""
    if cfg.registry.uri:
        return cfg.registry.uri
    if "://" in cfg.output_dir:
        raise pipeline_config.ConfigError(
            f"--registry mlflow: the default store sqlite:///OUTPUT/{DB_NAME} needs a local "
            f"output folder, not {cfg.output_dir}; pass --registry-uri http://HOST:5000 (an "
            "MLflow server the cluster can reach)")
    return "sqlite:///" + os.path.join(cfg.output_dir, DB_NAME)


def git_commit() -> str:
    """The commit of the code building the pipeline: $ELECTRA_TFX_GIT_COMMIT (set it when
    building an image), else `git rev-parse HEAD` of this checkout (with `-dirty` when it has
    uncommitted changes), else ""."""
    if os.environ.get("ELECTRA_TFX_GIT_COMMIT"):
        return os.environ["ELECTRA_TFX_GIT_COMMIT"]
    root = pipeline_config.PACKAGE_ROOT
    try:
        head = subprocess.run(["git", "-C", root, "rev-parse", "HEAD"], capture_output=True,
                              text=True, timeout=10, check=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", root, "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return ""
    return head + ("-dirty" if dirty else "")


# ---- the component ----------------------------------------------------------------------

class ModelRegistrySpec(ComponentSpec):
    PARAMETERS = {
        "registry": ExecutionParameter(type=str),
        "model_name": ExecutionParameter(type=str),
        "tracking_uri": ExecutionParameter(type=str, optional=True),
        "vertex_project": ExecutionParameter(type=str, optional=True),
        "vertex_region": ExecutionParameter(type=str, optional=True),
        "vertex_model_id": ExecutionParameter(type=str, optional=True),
        "serving_image": ExecutionParameter(type=str, optional=True),
        # What the tags say of the run.
        "pipeline_name": ExecutionParameter(type=str, optional=True),
        "checkpoint": ExecutionParameter(type=str, optional=True),
        "git_commit": ExecutionParameter(type=str, optional=True),
        "metadata_store": ExecutionParameter(type=str, optional=True),
    }
    INPUTS = {
        "pushed_model": ChannelParameter(type=standard_artifacts.PushedModel),
        "model_blessing": ChannelParameter(type=standard_artifacts.ModelBlessing),
        "model": ChannelParameter(type=standard_artifacts.Model, optional=True),
        "examples": ChannelParameter(type=standard_artifacts.Examples, optional=True),
    }
    OUTPUTS = {"registered_model": ChannelParameter(type=RegisteredModel)}


def _single(input_dict: Dict[str, List[types.Artifact]], key: str) -> Optional[types.Artifact]:
    artifacts = input_dict.get(key) or []
    return artifacts[0] if artifacts else None


def _custom(artifact: Optional[types.Artifact], name: str) -> Any:
    if artifact is None or not artifact.has_custom_property(name):
        return None
    return artifact.get_custom_property(name)


def decision_metrics(rules_json: str) -> Dict[str, float]:
    """The metrics the blessing gate decided on (each rule's checks: the measured value),
    by metric name, the first rule's when several rules read one metric."""
    import json
    metrics: Dict[str, float] = {}
    try:
        rules = json.loads(rules_json or "[]")
    except ValueError:
        return metrics
    for rule in rules:
        for check in rule.get("checks") or []:
            name, value = check.get("metric"), check.get("value")
            if name and isinstance(value, (int, float)) and name not in metrics:
                metrics[str(name)] = float(value)
    return metrics


def run_tags(input_dict: Dict[str, List[types.Artifact]], exec_properties: Dict[str, Any],
             pipeline_run_id: Optional[str]) -> Dict[str, str]:
    """Tags that lead back from a registered version to the run that made it."""
    pushed = _single(input_dict, "pushed_model")
    blessing = _single(input_dict, "model_blessing")
    model = _single(input_dict, "model")
    examples = _single(input_dict, "examples")
    tags = {
        "electra_tfx.pipeline": exec_properties.get("pipeline_name") or "",
        "electra_tfx.pipeline_run": pipeline_run_id or "",
        "electra_tfx.pushed_destination": _custom(pushed, "pushed_destination") or "",
        "electra_tfx.pushed_version": _custom(pushed, "pushed_version") or "",
        "electra_tfx.decided_by": _custom(blessing, "decided_by") or "",
        "electra_tfx.data_fingerprint": _custom(examples, "input_fingerprint") or "",
        "electra_tfx.data_uri": examples.uri if examples is not None else "",
        "electra_tfx.model_uri": model.uri if model is not None else "",
        "electra_tfx.checkpoint": exec_properties.get("checkpoint") or "",
        "electra_tfx.git_commit": exec_properties.get("git_commit") or "",
        "mlmd.store": exec_properties.get("metadata_store") or "",
    }
    for key, artifact in (("pushed_model", pushed), ("model", model),
                          ("model_blessing", blessing), ("examples", examples)):
        if artifact is not None and artifact.id:
            tags[f"mlmd.{key}_id"] = str(artifact.id)
    return {key: str(value) for key, value in tags.items() if value not in (None, "")}


class ModelRegistryExecutor(base_executor.BaseExecutor):
    """Registers the pushed model when it was blessed and pushed; records nothing else."""

    def Do(self, input_dict: Dict[str, List[types.Artifact]],
           output_dict: Dict[str, List[types.Artifact]],
           exec_properties: Dict[str, Any]) -> None:
        registered = artifact_utils.get_single_instance(output_dict["registered_model"])
        registry = exec_properties["registry"]
        registered.set_string_custom_property("registry", registry)
        registered.set_string_custom_property("model_name", exec_properties["model_name"])
        pushed = _single(input_dict, "pushed_model")
        blessing = _single(input_dict, "model_blessing")
        if not (_custom(pushed, "pushed") and _custom(blessing, "blessed")):
            logging.info("ModelRegistry: the candidate was not blessed and pushed; nothing "
                         "is registered")
            registered.set_int_custom_property("registered", 0)
            return
        run_id = getattr(getattr(self, "_context", None), "pipeline_run_id", None)
        # A local run reads its commit here (not a parameter: a commit would key the cache).
        exec_properties = {**exec_properties,
                           "git_commit": exec_properties.get("git_commit") or git_commit()}
        tags = run_tags(input_dict, exec_properties, run_id)
        metrics = decision_metrics(_custom(blessing, "rules") or "")
        if _custom(blessing, "baseline_gap") is not None:
            metrics["baseline_gap"] = float(_custom(blessing, "baseline_gap"))
        if registry == MLFLOW:
            from components import mlflow_registry
            version = mlflow_registry.register(
                tracking_uri=exec_properties["tracking_uri"],
                model_name=exec_properties["model_name"], model_dir=pushed.uri,
                metrics=metrics, tags=tags,
                decision={"decided_by": _custom(blessing, "decided_by"),
                          "rules": _custom(blessing, "rules")})
        elif registry == VERTEX:
            from components import vertex_registry
            version = vertex_registry.register(
                project=exec_properties["vertex_project"],
                region=exec_properties["vertex_region"],
                model_id=exec_properties["vertex_model_id"],
                display_name=exec_properties["model_name"],
                artifact_uri=pushed.uri, serving_image=exec_properties["serving_image"],
                tags=tags)
        else:
            raise ValueError(f"unknown registry {registry!r}")
        registered.set_int_custom_property("registered", 1)
        for key, value in version.items():
            registered.set_string_custom_property(key, str(value))
        logging.info("ModelRegistry: registered %s", version)


class ModelRegistry(base_component.BaseComponent):
    """Registers every blessed push (see the module docstring)."""

    SPEC_CLASS = ModelRegistrySpec
    EXECUTOR_SPEC = executor_spec.ExecutorClassSpec(ModelRegistryExecutor)

    def __init__(self, pushed_model, model_blessing, registry: str, model_name: str,
                 model=None, examples=None, tracking_uri: str = "", vertex_project: str = "",
                 vertex_region: str = "", vertex_model_id: str = "", serving_image: str = "",
                 pipeline_name: str = "", checkpoint: str = "", git_commit: str = "",
                 metadata_store: str = ""):
        from tfx.types import channel_utils
        super().__init__(spec=ModelRegistrySpec(
            pushed_model=pushed_model, model_blessing=model_blessing, model=model,
            examples=examples, registry=registry, model_name=model_name,
            tracking_uri=tracking_uri, vertex_project=vertex_project,
            vertex_region=vertex_region, vertex_model_id=vertex_model_id,
            serving_image=serving_image, pipeline_name=pipeline_name, checkpoint=checkpoint,
            git_commit=git_commit, metadata_store=metadata_store,
            registered_model=channel_utils.as_channel([RegisteredModel()])))


def create(cfg: pipeline_config.PipelineConfig, pusher, blessing, model, examples,
           checkpoint: str, metadata_store: str = "") -> Optional[ModelRegistry]:
    """The registering step of `cfg.registry`, or None (--registry none)."""
    registry = cfg.registry.kind
    if registry in ("", "none", None):
        return None
    common = dict(pushed_model=pusher.outputs["pushed_model"], model_blessing=blessing,
                  model=model, examples=examples, registry=registry,
                  model_name=model_name(cfg), pipeline_name=cfg.run_pipeline_name,
                  checkpoint=checkpoint,
                  # Compiled: the commit that built the spec; a local run reads it when it runs.
                  git_commit=git_commit() if "://" in cfg.output_dir else "",
                  metadata_store=metadata_store)
    if registry == MLFLOW:
        return ModelRegistry(tracking_uri=tracking_uri(cfg), **common)
    if "://" not in cfg.serving_dir:
        raise pipeline_config.ConfigError(
            "--registry vertex registers the pushes of compiled pipelines only (`electra-tfx "
            "compile --pipeline-root gs://...`): Vertex AI reads models from Cloud Storage, not "
            f"from {cfg.serving_dir}")
    return ModelRegistry(vertex_project=cfg.registry.vertex_project,
                         vertex_region=cfg.registry.vertex_region,
                         vertex_model_id=vertex_model_id(cfg),
                         serving_image=cfg.registry.serving_image, **common)


def after_run(cfg: pipeline_config.PipelineConfig, pushed_path: Optional[str],
              card_files: List[str]) -> Optional[str]:
    """After a local run (`electra-tfx run`): the model card, written once the pipeline has
    ended, is added to the run of the version its push was registered as (compiled pipelines
    write no card: their runs carry decision.json). Returns the line the console prints."""
    if cfg.registry.kind != MLFLOW or not pushed_path:
        return None
    from components import mlflow_registry
    uri, name = tracking_uri(cfg), model_name(cfg)
    version = mlflow_registry.find_push(uri, name, pushed_path)
    if version is None:
        return None
    mlflow_registry.attach_files(uri, version.run_id, card_files)
    return (f"Registered: models:/{name}/{version.version} (alias {CHAMPION} on version "
            f"{mlflow_registry.champion_version(uri, name)}) in {uri}")
