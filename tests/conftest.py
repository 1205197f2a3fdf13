"""Shared test set-up: the environment TensorFlow needs, and paths to shared material."""
import os

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import pathlib  # noqa: E402

import pytest  # noqa: E402

REPO_ROOT = pathlib.Path(__file__).resolve().parent.parent
SHARED = REPO_ROOT.parent / "shared"
SHARED_CHECKPOINT = SHARED / "checkpoints" / "electra-format-minilm-l6-h384-uncased"
EMBEDDED_DATA = REPO_ROOT / "data" / "sentiment_sentences"


@pytest.fixture(scope="session")
def shared_checkpoint() -> pathlib.Path:
    """The real pretrained ELECTRA-format encoder from ../shared (skips when absent)."""
    if not (SHARED_CHECKPOINT / "tf_model.h5").exists():
        pytest.skip(f"{SHARED_CHECKPOINT} is absent (only in development checkouts)")
    return SHARED_CHECKPOINT
