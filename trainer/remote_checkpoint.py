"""Checkpoints that are resolved where the component runs, not where the pipeline was built.

`electra-tfx run` resolves `--checkpoint` to a local directory before the pipeline starts
(trainer/checkpoint.py). A compiled pipeline (`electra-tfx compile`) runs on a cluster that
does not share that disk, so its RunContext carries a *reference* instead:

- a URI of a HuggingFace-format checkpoint directory (`gs://bucket/electra-small`, `s3://...`,
  anything `tf.io.gfile` reads): copied once per machine to a local cache directory, because
  `from_pretrained` reads only local files;
- a hub id (`google/electra-small-discriminator`): the HuggingFace cache, else the hub;
- a local directory: used as it is (e.g. a volume mounted at the same path, or baked into
  the image).

`lower_case` may be None in such a context: it is then read from the checkpoint's
tokenizer_config.json here. Transform's preprocessing_fn and Trainer's run_fn call
`localize` first, so both see the same local directory and casing.
"""
import dataclasses
import hashlib
import os
import tempfile

import tensorflow as tf

from trainer import checkpoint as checkpoint_lib
from trainer.checkpoints.files import (CONFIG_FILE, TF_WEIGHTS, TOKENIZER_CONFIG_FILE, VOCAB_FILE,
                                       CheckpointError, read_lower_case)
from trainer.checkpoints.validate import validate_checkpoint_dir
from trainer.run_context import RunContext
from trainer.uris import is_uri  # noqa: F401  (pipeline/compiler.py calls remote_checkpoint.is_uri)

# Copied from a URI checkpoint; tokenizer_config.json is optional.
_FILES = (CONFIG_FILE, TF_WEIGHTS, VOCAB_FILE, TOKENIZER_CONFIG_FILE)
CACHE_ENV = "ELECTRA_TFX_CHECKPOINT_CACHE"


def localize(context: RunContext) -> RunContext:
    """The context with `checkpoint_dir` a validated local directory and `lower_case` set."""
    reference = context.checkpoint_dir
    if os.path.isdir(reference) and context.lower_case is not None:
        return context  # what `electra-tfx run` passes: already resolved and validated
    if is_uri(reference):
        path = copy_to_local(reference)
    else:
        # A local directory or a hub id; never "scratch"/"auto" (the compiler resolved those).
        path = checkpoint_lib.resolve_checkpoint(
            reference, work_dir=_cache_root(), model_config=context.config.model,
            texts=lambda: []).path
    lower_case = context.lower_case
    if lower_case is None:
        lower_case = read_lower_case(path)
    return dataclasses.replace(context, checkpoint_dir=path, lower_case=lower_case)


def copy_to_local(uri: str) -> str:
    """Copies the checkpoint files under `uri` into a local cache directory (once); returns it."""
    uri = uri.rstrip("/")
    target = os.path.join(_cache_root(), hashlib.sha256(uri.encode()).hexdigest()[:16])
    if not os.path.isfile(os.path.join(target, TF_WEIGHTS)):
        os.makedirs(os.path.dirname(target), exist_ok=True)
        partial = tempfile.mkdtemp(prefix=os.path.basename(target) + ".tmp-",
                                   dir=os.path.dirname(target))
        for name in _FILES:
            source = f"{uri}/{name}"
            if tf.io.gfile.exists(source):
                tf.io.gfile.copy(source, os.path.join(partial, name), overwrite=True)
            elif name != TOKENIZER_CONFIG_FILE:
                raise CheckpointError(
                    f"--checkpoint {uri}: {source} does not exist; a checkpoint URI must name a "
                    f"HuggingFace-format directory with {CONFIG_FILE}, "
                    f"{TF_WEIGHTS} and {VOCAB_FILE}")
        try:
            os.rename(partial, target)
        except OSError:  # another process finished first: keep its copy
            tf.io.gfile.rmtree(partial)
    try:
        validate_checkpoint_dir(target)
    except CheckpointError as e:
        raise CheckpointError(f"--checkpoint {uri}: {e}") from None
    return target


def _cache_root() -> str:
    return os.environ.get(CACHE_ENV) or os.path.join(tempfile.gettempdir(),
                                                     "electra-tfx-checkpoints")
