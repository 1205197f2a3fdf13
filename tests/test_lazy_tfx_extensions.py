"""TFX's Google Cloud extensions (and the Vertex AI SDK they import), the components a run does
not use (the Tuner's KerasTuner, the InfraValidator's Kubernetes client) and the Kubeflow
runner (the KFP SDK) load only when used (trainer/lazy_tfx_extensions.py)."""
import subprocess
import sys

from tests.conftest import REPO_ROOT

_CHECK = """
import sys
import components  # any of the project's packages, before TFX
from tfx import v1 as tfx
from tfx.components import Transform
HEAVY = ("google.cloud.aiplatform", "keras_tuner", "kfp",
         "tfx.components.infra_validator.component")
print("loaded at import:", [m for m in HEAVY if m in sys.modules])
print("extension:", tfx.extensions.google_cloud_ai_platform.Trainer.__name__)
print("component:", tfx.components.Tuner.__module__, Transform is tfx.components.Transform)
print("runner:", tfx.orchestration.experimental.KubeflowV2DagRunner.__name__,
      tfx.orchestration.LocalDagRunner.__name__)
print("loaded on use:", [m for m in HEAVY if m in sys.modules])
print("names:", sorted(set(tfx.components.__all__) - set(dir(tfx.components))))
"""


def test_unused_tfx_modules_load_on_first_use_only():
    done = subprocess.run([sys.executable, "-c", _CHECK], cwd=REPO_ROOT, capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.splitlines() == [
        "loaded at import: []",
        "extension: Trainer",
        "component: tfx.components.tuner.component True",
        "runner: KubeflowV2DagRunner LocalDagRunner",
        "loaded on use: ['google.cloud.aiplatform', 'keras_tuner', 'kfp']",
        "names: []"], done.stdout
