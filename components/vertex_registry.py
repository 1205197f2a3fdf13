"""Vertex AI Model Registry: every blessed push a new *version* of one model.

TFX's stock Vertex Pusher calls `aiplatform.Model.upload` without `parent_model`, so each push
becomes a new model. Here the first push creates the model under a fixed id
(`--vertex-model-id`); every later one is uploaded with `parent_model=<that model>` and made
its default version (Vertex's "default" alias: what `projects/P/locations/R/models/ID` and an
endpoint deploying the model without a version serve). Run by components/model_registry.py.
"""
import re
from typing import Dict

# Vertex labels: at most 64, keys and values [a-z0-9_-], at most 63 characters.
_LABELS = {"electra_tfx.pipeline": "pipeline", "electra_tfx.pipeline_run": "pipeline_run",
           "electra_tfx.pushed_version": "pushed_version", "electra_tfx.git_commit": "git_commit",
           "mlmd.pushed_model_id": "mlmd_pushed_model_id", "mlmd.model_id": "mlmd_model_id"}


def labels(tags: Dict[str, str]) -> Dict[str, str]:
    out = {}
    for tag, label in _LABELS.items():
        value = re.sub(r"[^a-z0-9_-]+", "-", str(tags.get(tag, "")).lower()).strip("-")[:63]
        if value:
            out[label] = value
    return out


def register(*, project: str, region: str, model_id: str, display_name: str, artifact_uri: str,
             serving_image: str, tags: Dict[str, str]) -> Dict[str, str]:
    """Uploads the SavedModel at `artifact_uri` (gs://) as a new version of model `model_id`
    (created by the first push); returns registry, model_name, version, model_uri."""
    from google.api_core import exceptions
    from google.cloud import aiplatform

    aiplatform.init(project=project, location=region)
    try:
        parent = aiplatform.Model(model_name=model_id, project=project, location=region)
        parent_model = parent.resource_name
    except exceptions.NotFound:
        parent_model = None
    description = "; ".join(f"{key}={value}" for key, value in sorted(tags.items()))
    destination = tags.get("electra_tfx.pushed_destination")
    if parent_model and destination:  # a re-run whose push was cached: registered once
        marker = f"electra_tfx.pushed_destination={destination};"
        for version in parent.versioning_registry.list_versions():
            if marker in (version.version_description or "") + ";":
                return {"registry": "vertex", "model_name": display_name,
                        "version": str(version.version_id),
                        "model_uri": f"{parent_model}@{version.version_id}",
                        "resource_name": parent_model}
    model = aiplatform.Model.upload(
        display_name=display_name,
        artifact_uri=artifact_uri,
        serving_container_image_uri=serving_image,
        parent_model=parent_model,
        model_id=None if parent_model else model_id,
        is_default_version=True,
        version_description=description[:2000],
        description=f"ELECTRA models blessed by electra-tfx pipeline {tags.get('electra_tfx.pipeline', '')}",
        labels=labels(tags),
        project=project,
        location=region,
        sync=True,
    )
    return {"registry": "vertex", "model_name": display_name,
            "version": str(getattr(model, "version_id", "") or ""),
            "model_uri": f"{model.resource_name}@{getattr(model, 'version_id', '') or ''}",
            "resource_name": model.resource_name}
