"""An MLflow model registry: one registered model, a version per blessed push, `champion` on
the newest (components/model_registry.py runs it; docs/registry.md).

Each push is an MLflow run of the experiment named as the model: the decision's metrics, the
tags that lead back to the TFX run, `decision.json` (the gate's rules), and the SavedModel
under the run's artifact path `model/`. The version's source is that artifact URI
(`MlflowClient.create_model_version(source=..., run_id=...)`: MLflow 3's `register_model`
takes no plain folder), so `models:/NAME@champion` downloads a SavedModel that TensorFlow
loads, whatever folder the push went to. With a SQLite store (`sqlite:///OUTPUT/mlflow.db`)
artifacts go to `OUTPUT/mlflow-artifacts/`; with a server, where the server keeps them.
"""
import json
import os
import re
from typing import Dict, Optional

ARTIFACT_PATH = "model"
DECISION_FILE = "decision.json"
CHAMPION = "champion"
# Tags identifying a push: a version carrying the same is the same push, registered once.
PUSH_KEYS = ("electra_tfx.pushed_destination", "mlmd.pushed_model_id")
_MAX_TAG = 5000


def client(tracking_uri: str):
    from mlflow import MlflowClient
    return MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)


def _artifact_location(tracking_uri: str, experiment: str) -> Optional[str]:
    """A SQLite store's artifacts beside its database (MLflow's default is ./mlruns under
    the working directory); None for a server, which decides."""
    if not tracking_uri.startswith("sqlite:///"):
        return None
    db = tracking_uri[len("sqlite:///"):]
    safe = re.sub(r"[^A-Za-z0-9_.-]+", "_", experiment)
    from pathlib import Path
    return Path(os.path.dirname(os.path.abspath(db)), "mlflow-artifacts", safe).as_uri()


def _metric_key(name: str) -> str:
    """MLflow keys: letters, digits, _ - . space / : only."""
    return re.sub(r"[^A-Za-z0-9_\-. /:]", "_", name)


def _experiment_id(mlflow_client, name: str, tracking_uri: str) -> str:
    experiment = mlflow_client.get_experiment_by_name(name)
    if experiment is not None:
        return experiment.experiment_id
    return mlflow_client.create_experiment(
        name, artifact_location=_artifact_location(tracking_uri, name),
        tags={"electra_tfx.registered_model": name})


def _ensure_registered_model(mlflow_client, name: str) -> None:
    from mlflow.exceptions import MlflowException
    try:
        mlflow_client.get_registered_model(name)
    except MlflowException as exc:
        if getattr(exc, "error_code", "") != "RESOURCE_DOES_NOT_EXIST":
            raise
        mlflow_client.create_registered_model(
            name, description="ELECTRA models blessed by electra-tfx: a version per blessed "
            f"push, the alias {CHAMPION} on the newest")


def _existing_version(mlflow_client, name: str, tags: Dict[str, str]):
    """The version already registered for this push (a re-run whose push was cached)."""
    keys = [key for key in PUSH_KEYS if tags.get(key)]
    if not keys:
        return None
    for version in mlflow_client.search_model_versions(f"name = '{name}'"):
        if all(version.tags.get(key) == tags[key] for key in keys):
            return version
    return None


def register(*, tracking_uri: str, model_name: str, model_dir: str, metrics: Dict[str, float],
             tags: Dict[str, str], decision: Optional[Dict] = None) -> Dict[str, str]:
    """Logs `model_dir` (a SavedModel) to a new run, registers it as a new version of
    `model_name` and moves `champion` to it; returns registry, model_name, version, model_uri
    and run_id."""
    mlflow_client = client(tracking_uri)
    tags = {key: str(value)[:_MAX_TAG] for key, value in tags.items()}
    _ensure_registered_model(mlflow_client, model_name)
    version = _existing_version(mlflow_client, model_name, tags)
    if version is None:
        experiment_id = _experiment_id(mlflow_client, model_name, tracking_uri)
        run_name = "push-" + (tags.get("electra_tfx.pushed_version") or "model")
        run = mlflow_client.create_run(experiment_id, run_name=run_name, tags=tags)
        run_id = run.info.run_id
        try:
            for key, value in sorted(metrics.items()):
                mlflow_client.log_metric(run_id, _metric_key(key), float(value))
            if decision:
                mlflow_client.log_text(run_id, json.dumps(decision, indent=1, sort_keys=True),
                                       DECISION_FILE)
            mlflow_client.log_artifacts(run_id, model_dir, ARTIFACT_PATH)
            source = f"{run.info.artifact_uri.rstrip('/')}/{ARTIFACT_PATH}"
            version = mlflow_client.create_model_version(
                model_name, source=source, run_id=run_id, tags=tags,
                description=f"electra-tfx push {tags.get('electra_tfx.pushed_version', '')} "
                f"of pipeline run {tags.get('electra_tfx.pipeline_run', '?')}")
        except BaseException:
            mlflow_client.set_terminated(run_id, status="FAILED")
            raise
        mlflow_client.set_terminated(run_id)
    mlflow_client.set_registered_model_alias(model_name, CHAMPION, version.version)
    return {"registry": "mlflow", "model_name": model_name, "version": str(version.version),
            "model_uri": f"models:/{model_name}/{version.version}",
            "run_id": version.run_id or "", "tracking_uri": tracking_uri}


def find_push(tracking_uri: str, model_name: str, pushed_destination: str):
    """The version registered for the push to `pushed_destination`, or None."""
    return _existing_version(client(tracking_uri), model_name,
                             {"electra_tfx.pushed_destination": pushed_destination})


def attach_files(tracking_uri: str, run_id: str, paths, pipeline_run: str = "") -> None:
    """Adds files written after the pipeline (the model card) to a registered version's run,
    at the top and beside the SavedModel (`model/`), and tags the run with the pipeline run."""
    mlflow_client = client(tracking_uri)
    for path in paths:
        if os.path.isfile(path):
            mlflow_client.log_artifact(run_id, path)
            mlflow_client.log_artifact(run_id, path, ARTIFACT_PATH)
    if pipeline_run:
        mlflow_client.set_tag(run_id, "electra_tfx.pipeline_run", pipeline_run)


def champion_version(tracking_uri: str, model_name: str) -> str:
    return str(client(tracking_uri).get_model_version_by_alias(model_name, CHAMPION).version)


def download_champion(tracking_uri: str, model_name: str, dst_path: str) -> str:
    """`models:/NAME@champion` downloaded to `dst_path`; returns the SavedModel directory."""
    import mlflow
    # models:/ URIs resolve against the global registry URI (MLflow's default is ./mlflow.db
    # in the working directory), whatever tracking_uri is passed: set it for the download.
    previous = mlflow.get_tracking_uri(), mlflow.get_registry_uri()
    mlflow.set_tracking_uri(tracking_uri)
    mlflow.set_registry_uri(tracking_uri)
    try:
        return mlflow.artifacts.download_artifacts(
            artifact_uri=f"models:/{model_name}@{CHAMPION}", dst_path=dst_path)
    finally:
        mlflow.set_tracking_uri(previous[0])
        mlflow.set_registry_uri(previous[1])
