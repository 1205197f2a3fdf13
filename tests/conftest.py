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
    """A real pretrained ELECTRA-format encoder: the packaged one (MiniLM weights in ELECTRA's
    architecture, which `make setup` installs; converted on first use and cached, see
    trainer/packaged_checkpoint.py). Nothing is downloaded. Falls back to ../shared's copy of
    the same weights when the package is not installed, and skips when neither is there."""
    from trainer import packaged_checkpoint

    if packaged_checkpoint.version() is not None:
        path, _ = packaged_checkpoint.packaged_checkpoint()
        return pathlib.Path(path)
    if not (SHARED_CHECKPOINT / "tf_model.h5").exists():
        pytest.skip(f"the package {packaged_checkpoint.DISTRIBUTION} is not installed (make "
                    f"setup installs it) and {SHARED_CHECKPOINT} is absent")
    return SHARED_CHECKPOINT


@pytest.fixture(scope="session")
def reference_checkpoint() -> pathlib.Path:
    """../shared's conversion of the same MiniLM weights, made elsewhere (skips when absent:
    only development checkouts have ../shared)."""
    if not (SHARED_CHECKPOINT / "tf_model.h5").exists():
        pytest.skip(f"{SHARED_CHECKPOINT} is absent (only in development checkouts)")
    return SHARED_CHECKPOINT
