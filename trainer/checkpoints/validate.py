"""Is a directory a loadable TensorFlow ELECTRA checkpoint in HuggingFace format?"""
import json
import os
from typing import Any, List

from trainer.checkpoints.files import (CONFIG_FILE, PYTORCH_WEIGHTS, SAFETENSORS_WEIGHTS,
                                       TF_WEIGHTS, TOKENIZER_CONFIG_FILE, VOCAB_FILE,
                                       CheckpointError)

_REQUIRED_VOCAB_TOKENS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]"]


def validate_checkpoint_dir(path: str) -> None:
    """Checks that `path` holds a loadable TensorFlow ELECTRA checkpoint in HuggingFace format.

    Raises CheckpointError naming every problem found (missing files, wrong model_type,
    PyTorch-only weights, a vocabulary without the special tokens).
    """
    if not os.path.isdir(path):
        raise CheckpointError(f"checkpoint directory {path} does not exist")
    problems: List[str] = []
    has = lambda name: os.path.isfile(os.path.join(path, name))  # noqa: E731

    missing = [name for name in (CONFIG_FILE, VOCAB_FILE) if not has(name)]
    if missing:
        problems.append("missing " + ", ".join(missing))

    if has(CONFIG_FILE):
        try:
            with open(os.path.join(path, CONFIG_FILE), encoding="utf-8") as f:
                config = json.load(f)
            if not isinstance(config, dict):
                raise ValueError("not a JSON object")
        except (OSError, ValueError) as e:
            problems.append(f"{CONFIG_FILE} is not valid JSON ({e})")
            config = None
        if config is not None:
            model_type = config.get("model_type")
            if model_type != "electra":
                problems.append(
                    f"{CONFIG_FILE} has model_type {model_type!r}, but only ELECTRA checkpoints "
                    "(model_type 'electra') are supported")
            elif has(VOCAB_FILE):
                problems += _vocab_problems(os.path.join(path, VOCAB_FILE),
                                            config.get("vocab_size"))

    if not has(TF_WEIGHTS):
        torch_weights = [name for name in (SAFETENSORS_WEIGHTS, PYTORCH_WEIGHTS) if has(name)]
        if torch_weights:
            problems.append(
                f"only PyTorch weights ({', '.join(torch_weights)}) are present, but TensorFlow "
                f"weights {TF_WEIGHTS} are needed because torch is not installed; convert them "
                "where torch is available with TFElectraForPreTraining.from_pretrained(dir, "
                "from_pt=True).save_pretrained(dir)")
        else:
            problems.append(f"missing weights: expected {TF_WEIGHTS}")

    if problems:
        raise CheckpointError(
            f"{path} is not a usable ELECTRA checkpoint: " + "; ".join(problems) + ". Expected "
            f"a HuggingFace-format directory with {CONFIG_FILE} (model_type electra), "
            f"{TF_WEIGHTS} and {VOCAB_FILE} (optionally {TOKENIZER_CONFIG_FILE}).")


def _vocab_problems(vocab_path: str, vocab_size: Any) -> List[str]:
    try:
        with open(vocab_path, encoding="utf-8") as f:
            tokens = [line.rstrip("\n") for line in f]
    except (OSError, UnicodeDecodeError) as e:
        return [f"{VOCAB_FILE} cannot be read ({e})"]
    problems = []
    absent = [t for t in _REQUIRED_VOCAB_TOKENS if t not in set(tokens)]
    if absent:
        problems.append(f"{VOCAB_FILE} lacks the special tokens {', '.join(absent)}")
    if isinstance(vocab_size, int) and len(tokens) > vocab_size:
        problems.append(f"{VOCAB_FILE} has {len(tokens)} tokens but {CONFIG_FILE} vocab_size is "
                        f"{vocab_size}; they must come from the same checkpoint")
    return problems
