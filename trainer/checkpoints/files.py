"""What a HuggingFace-format ELECTRA checkpoint directory holds, read once (TensorFlow-free).

The file names, the special tokens of its vocabulary, and `CheckpointInfo`: the figures of its
config.json and tokenizer_config.json that the runner, the trainer and the report need.
"""
import dataclasses
import json
import os
from typing import Any, Dict, List, Optional

from trainer.uris import is_uri

CONFIG_FILE = "config.json"
TF_WEIGHTS = "tf_model.h5"
SAFETENSORS_WEIGHTS = "model.safetensors"
PYTORCH_WEIGHTS = "pytorch_model.bin"
VOCAB_FILE = "vocab.txt"
TOKENIZER_CONFIG_FILE = "tokenizer_config.json"

# ELECTRA's (BERT's) special tokens, in the order a learned vocabulary starts with them: [PAD]
# must be id 0 (pad_token_id 0). Never masked nor sampled in pre-training; matched whole in raw
# text by the tokenizer.
SPECIAL_TOKENS = ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")
UNK_TOKEN = "[UNK]"


class CheckpointError(Exception):
    """A checkpoint that cannot be used: what was asked, what is wrong, what to do."""


def _read_json(path: str) -> Optional[Any]:
    """The JSON document at `path` (local or a URI), None when there is no such file."""
    if is_uri(path):
        import tensorflow as tf
        if not tf.io.gfile.exists(path):
            return None
        with tf.io.gfile.GFile(path, "r") as f:
            return json.load(f)
    if not os.path.isfile(path):
        return None
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def read_lower_case(checkpoint_dir: str) -> bool:
    """`do_lower_case` from the checkpoint's tokenizer_config.json (True when absent)."""
    config_path = os.path.join(checkpoint_dir, TOKENIZER_CONFIG_FILE)
    try:
        config = _read_json(config_path)
        value = True if config is None else config.get("do_lower_case", True)
    except (OSError, ValueError, AttributeError) as e:
        raise CheckpointError(f"{config_path} is not valid JSON ({e}); fix or delete it") from None
    return bool(value)


@dataclasses.dataclass(frozen=True)
class CheckpointInfo:
    """A checkpoint's config.json figures and casing (None: config.json does not say)."""

    path: str
    hidden_size: Optional[int]
    num_hidden_layers: Optional[int]
    vocab_size: Optional[int]
    model_type: Optional[str]
    lower_case: bool
    config: Dict[str, Any]  # the whole config.json

    @classmethod
    def read(cls, checkpoint_dir: str) -> "CheckpointInfo":
        """Reads config.json (which must exist) and tokenizer_config.json once."""
        config_path = os.path.join(checkpoint_dir, CONFIG_FILE)
        try:
            config = _read_json(config_path)
        except (OSError, ValueError) as e:
            raise CheckpointError(f"{config_path} is not valid JSON ({e})") from None
        if config is None:
            raise CheckpointError(f"{checkpoint_dir} has no {CONFIG_FILE}")
        if not isinstance(config, dict):
            raise CheckpointError(f"{config_path} is not a JSON object")

        def number(key: str) -> Optional[int]:
            value = config.get(key)
            return int(value) if value is not None else None

        return cls(path=checkpoint_dir, hidden_size=number("hidden_size"),
                   num_hidden_layers=number("num_hidden_layers"),
                   vocab_size=number("vocab_size"), model_type=config.get("model_type"),
                   lower_case=read_lower_case(checkpoint_dir), config=config)


def write_tokenizer_files(directory: str, vocab: List[str], tokenizer_config: Dict[str, Any]
                          ) -> None:
    """Writes vocab.txt (one token a line, in id order) and tokenizer_config.json."""
    with open(os.path.join(directory, VOCAB_FILE), "w", encoding="utf-8", newline="\n") as f:
        f.write("\n".join(vocab) + "\n")
    with open(os.path.join(directory, TOKENIZER_CONFIG_FILE), "w", encoding="utf-8") as f:
        json.dump(tokenizer_config, f, indent=2, sort_keys=True)
        f.write("\n")
