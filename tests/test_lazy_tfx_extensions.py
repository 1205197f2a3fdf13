"""TFX's Google Cloud extensions (and the Vertex AI SDK they import) load only when used."""
import subprocess
import sys

from tests.conftest import REPO_ROOT

_CHECK = """
import sys
import components  # any of the project's packages, before TFX
from tfx import v1 as tfx
print("loaded at import:", "google.cloud.aiplatform" in sys.modules)
print("extension:", tfx.extensions.google_cloud_ai_platform.Trainer.__name__)
print("loaded on use:", "google.cloud.aiplatform" in sys.modules)
"""


def test_cloud_extensions_load_on_first_use_only():
    done = subprocess.run([sys.executable, "-c", _CHECK], cwd=REPO_ROOT, capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.splitlines() == ["loaded at import: False", "extension: Trainer",
                                        "loaded on use: True"], done.stdout
