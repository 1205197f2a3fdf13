"""A small ELECTRA built from scratch: a WordPiece vocabulary learned from the training text
and freshly initialised weights, cached under `<work_dir>/checkpoints/scratch-<hash>/`.

The hash covers the training text and the scratch_* settings: an identical second run reuses
the same directory (so the pipeline cache still hits). The directory is assembled in a
temporary one beside it and renamed into place, so an interrupted run never leaves a
half-written one.
"""
import hashlib
import json
import logging
import os
import random
import shutil
from typing import Any, Callable, Iterable, List

from trainer.checkpoints.files import (TOKENIZER_CONFIG_FILE, CheckpointError,
                                       write_tokenizer_files)
from trainer.checkpoints.temp_dirs import assembled_beside
from trainer.checkpoints.validate import validate_checkpoint_dir
from trainer.checkpoints.wordpiece import RESERVED, learn_wordpiece_vocabulary

_LOG = logging.getLogger(__name__)

SCRATCH_TOKENIZER_CONFIG = {
    "do_lower_case": True, "model_max_length": 512, "tokenizer_class": "ElectraTokenizer"}
SCRATCH_MAX_POSITIONS = 512
SCRATCH_SEED = 42
# Bump when the way scratch checkpoints are built changes, so old cached ones are not reused.
_SCRATCH_FORMAT = 1


def scratch_checkpoint(texts: Callable[[], Iterable[str]], work_dir: str,
                       model_config: Any) -> str:
    """The scratch checkpoint for these texts and settings: reused when complete, else built."""
    corpus = _as_text_list(texts())
    out_dir = os.path.join(os.path.abspath(work_dir), "checkpoints",
                           f"scratch-{scratch_fingerprint(corpus, model_config)}")
    if os.path.isdir(out_dir):
        if _is_complete_scratch(out_dir):
            _LOG.info("Reusing the scratch checkpoint %s", out_dir)
            return out_dir
        _LOG.warning("Rebuilding the incomplete scratch checkpoint %s", out_dir)
        shutil.rmtree(out_dir)
    return build_scratch_checkpoint(corpus, out_dir, model_config)


def _is_complete_scratch(path: str) -> bool:
    try:
        validate_checkpoint_dir(path)
    except CheckpointError:
        return False
    return os.path.isfile(os.path.join(path, TOKENIZER_CONFIG_FILE))


def _scratch_settings(model_config: Any) -> dict:
    return {
        "vocab_size": int(model_config.scratch_vocab_size),
        "hidden_size": int(model_config.scratch_hidden_size),
        "num_layers": int(model_config.scratch_num_layers),
        "num_heads": int(model_config.scratch_num_heads),
        "intermediate_size": int(model_config.scratch_intermediate_size),
    }


def scratch_fingerprint(texts: Iterable[str], model_config: Any) -> str:
    """12 hex digits of the sha256 of the texts and the scratch settings."""
    digest = hashlib.sha256()
    digest.update(json.dumps({"format": _SCRATCH_FORMAT, "seed": SCRATCH_SEED,
                              "reserved": RESERVED,
                              **_scratch_settings(model_config)}, sort_keys=True).encode())
    for text in texts:
        data = text.encode("utf-8")
        digest.update(len(data).to_bytes(8, "little"))
        digest.update(data)
    return digest.hexdigest()[:12]


def _as_text_list(texts: Iterable[Any]) -> List[str]:
    out = []
    for text in texts:
        if text is None:
            continue
        if isinstance(text, bytes):
            text = text.decode("utf-8", errors="replace")
        out.append(str(text))
    return out


def build_scratch_checkpoint(texts: Iterable[str], out_dir: str, model_config: Any) -> str:
    """Writes a freshly initialised small ELECTRA with a vocabulary learned from `texts`.

    `out_dir` (which must not exist yet) receives config.json, tf_model.h5, vocab.txt and
    tokenizer_config.json; it is assembled in a temporary directory beside it and renamed into
    place. Same texts and settings give the same vocabulary and the same weights.
    Returns the absolute `out_dir`.
    """
    corpus = _as_text_list(texts)
    settings = _scratch_settings(model_config)
    if settings["hidden_size"] % settings["num_heads"]:
        raise CheckpointError(
            f"scratch_hidden_size {settings['hidden_size']} is not a multiple of "
            f"scratch_num_heads {settings['num_heads']}; change one with --set model.scratch_...")
    out_dir = os.path.abspath(out_dir)
    if os.path.exists(out_dir):
        raise CheckpointError(f"cannot build a scratch checkpoint in {out_dir}: it already exists")
    with assembled_beside(out_dir, _is_complete_scratch) as tmp:
        vocab = learn_wordpiece_vocabulary(corpus, settings["vocab_size"])
        write_tokenizer_files(tmp, vocab, SCRATCH_TOKENIZER_CONFIG)
        _save_initialised_electra(tmp, len(vocab), settings)
        check_tokenizer_loads(tmp)
        validate_checkpoint_dir(tmp)
    _LOG.info("Built a scratch ELECTRA checkpoint (vocabulary of %d) in %s", len(vocab), out_dir)
    return out_dir


def _save_initialised_electra(out_dir: str, vocab_size: int, settings: dict) -> None:
    import numpy as np
    import tf_keras
    from transformers import ElectraConfig, TFElectraForPreTraining

    config = ElectraConfig(
        vocab_size=vocab_size,
        embedding_size=settings["hidden_size"],
        hidden_size=settings["hidden_size"],
        num_hidden_layers=settings["num_layers"],
        num_attention_heads=settings["num_heads"],
        intermediate_size=settings["intermediate_size"],
        max_position_embeddings=SCRATCH_MAX_POSITIONS,
        type_vocab_size=2,
        pad_token_id=0,
    )
    # set_random_seed also reseeds Python's and NumPy's global generators: give them back.
    py_state, np_state = random.getstate(), np.random.get_state()
    try:
        tf_keras.utils.set_random_seed(SCRATCH_SEED)
        # A fixed name: weight names in tf_model.h5 embed it, and Keras would otherwise number
        # a second model built in the same process (tf_electra_for_pre_training_1).
        model = TFElectraForPreTraining(config, name="tf_electra_for_pre_training")
        model(model.dummy_inputs, training=False)
        model.save_pretrained(out_dir)
    finally:
        random.setstate(py_state)
        np.random.set_state(np_state)


def check_tokenizer_loads(path: str) -> None:
    from transformers import ElectraTokenizerFast

    tokenizer = ElectraTokenizerFast.from_pretrained(path)
    if tokenizer.pad_token_id != 0 or tokenizer.unk_token_id is None:
        raise CheckpointError(f"the scratch tokenizer in {path} has [PAD] at "
                              f"{tokenizer.pad_token_id}, expected 0")
    tokenizer("a check")
