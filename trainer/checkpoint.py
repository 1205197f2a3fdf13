"""Resolves `--checkpoint` to a local HuggingFace-format ELECTRA directory.

`--checkpoint` accepts

- a local directory in HuggingFace format (`config.json` with `model_type: electra`,
  `tf_model.h5`, `vocab.txt`, optionally `tokenizer_config.json`);
- a hub id such as `google/electra-small-discriminator` (the local HuggingFace cache is
  tried first, then the hub with a short timeout);
- `auto`: the default hub checkpoint, and when that cannot be had, a small ELECTRA built
  from scratch with a WordPiece vocabulary learned from the training text (with a loud
  warning: accuracy will be far below a pretrained checkpoint);
- `scratch`: that small from-scratch ELECTRA directly.

Resolution happens once, before the pipeline is built, and always yields a local directory:
Transform reads its `vocab.txt` and `do_lower_case`, Trainer loads it with
`TFElectraForSequenceClassification.from_pretrained(path)`.

Scratch checkpoints are cached under `<work_dir>/checkpoints/scratch-<hash>/`, where the hash
covers the training text and the scratch_* settings: an identical second run reuses the same
directory (so the pipeline cache still hits). They are written to a temporary directory beside
their final place and renamed into it, so an interrupted run never leaves a half-written one.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import os
import random
import re
import shutil
import tempfile
import threading
import unicodedata
import urllib.parse
from typing import Any, Callable, Iterable, List, Optional

from pipeline_config import DEFAULT_HUB_CHECKPOINT

_LOG = logging.getLogger(__name__)

AUTO = "auto"
SCRATCH = "scratch"

CONFIG_FILE = "config.json"
TF_WEIGHTS = "tf_model.h5"
SAFETENSORS_WEIGHTS = "model.safetensors"
PYTORCH_WEIGHTS = "pytorch_model.bin"
VOCAB_FILE = "vocab.txt"
TOKENIZER_CONFIG_FILE = "tokenizer_config.json"
# What is fetched for a hub id: TensorFlow weights only (torch is not installed).
HUB_FILES = [CONFIG_FILE, TF_WEIGHTS, VOCAB_FILE, TOKENIZER_CONFIG_FILE]

# [PAD] must be id 0, as in ELECTRA's own vocabulary (pad_token_id 0).
RESERVED_TOKENS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
_REQUIRED_VOCAB_TOKENS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]"]
SCRATCH_TOKENIZER_CONFIG = {
    "do_lower_case": True, "model_max_length": 512, "tokenizer_class": "ElectraTokenizer"}
SCRATCH_MAX_POSITIONS = 512
SCRATCH_SEED = 42
# Bump when the way scratch checkpoints are built changes, so old cached ones are not reused.
_SCRATCH_FORMAT = 1
# HuggingFace's WordPiece maps longer words to [UNK]; the learner considers words up to this.
_MAX_WORD_CHARS = 100
_JOINER = "##"


class CheckpointError(Exception):
    """A checkpoint that cannot be used: what was asked, what is wrong, what to do."""


@dataclasses.dataclass
class ResolvedCheckpoint:
    path: str            # absolute local directory
    source: str          # "local" | "hub" | "scratch"
    requested: str       # what the user asked for
    lower_case: bool     # from tokenizer_config.json do_lower_case (default True)
    warning: Optional[str] = None  # set when auto fell back to scratch


# --------------------------------------------------------------------------- resolution

def resolve_checkpoint(requested: str, *, work_dir: str, model_config: Any,
                       texts: Callable[[], Iterable[str]]) -> ResolvedCheckpoint:
    """Turns the value of `--checkpoint` into a local, validated checkpoint directory.

    `texts` is called only when a scratch checkpoint is needed (`scratch`, or `auto` without
    the hub); it returns the training text the WordPiece vocabulary is learned from.
    Raises CheckpointError with an actionable message when the checkpoint cannot be had.
    """
    requested = (requested or "").strip()
    if not requested:
        raise CheckpointError(
            "--checkpoint is empty: pass a hub id (e.g. google/electra-small-discriminator), "
            "a local checkpoint directory, 'auto' or 'scratch'")
    timeout = float(getattr(model_config, "hub_timeout_seconds", 10.0))
    keyword = requested.lower()

    if keyword == SCRATCH:
        path = _scratch_checkpoint(texts, work_dir, model_config)
        return ResolvedCheckpoint(path, SCRATCH, requested, True, None)

    if keyword == AUTO:
        try:
            path = _from_hub(DEFAULT_HUB_CHECKPOINT, timeout)
        except _HubUnavailable as e:
            warning = (
                f"WARNING: could not load {DEFAULT_HUB_CHECKPOINT} ({e}); training a small "
                "ELECTRA from scratch with a WordPiece vocabulary learned from the training "
                "text, briefly pre-trained on that text (pretrain.scratch_steps). Accuracy "
                "will be far below a pretrained checkpoint.")
            _LOG.warning(warning)
            path = _scratch_checkpoint(texts, work_dir, model_config)
            return ResolvedCheckpoint(path, SCRATCH, requested, True, warning)
        return ResolvedCheckpoint(path, "hub", requested, read_lower_case(path), None)

    local = os.path.abspath(os.path.expanduser(requested))
    if os.path.isdir(local):
        try:
            validate_checkpoint_dir(local)
        except CheckpointError as e:
            raise CheckpointError(f"--checkpoint {requested}: {e}") from None
        return ResolvedCheckpoint(local, "local", requested, read_lower_case(local), None)
    if os.path.exists(local):
        raise CheckpointError(
            f"--checkpoint {requested}: {local} is a file, not a directory; pass the directory "
            f"that holds {CONFIG_FILE}, {TF_WEIGHTS} and {VOCAB_FILE}")
    if not _is_hub_id(requested):
        raise CheckpointError(
            f"--checkpoint {requested}: no such directory ({local}), and it is not a hub id "
            "either; pass an existing HuggingFace-format ELECTRA directory, a hub id such as "
            f"{DEFAULT_HUB_CHECKPOINT}, 'auto' or 'scratch'")

    try:
        path = _from_hub(requested, timeout)
    except _HubUnavailable as e:
        raise CheckpointError(
            f"could not load {requested} from the hub or the local cache: {e}; pass a "
            "local directory with --checkpoint PATH or use --checkpoint auto") from None
    return ResolvedCheckpoint(path, "hub", requested, read_lower_case(path), None)


def read_lower_case(path: str) -> bool:
    """`do_lower_case` from the checkpoint's tokenizer_config.json (True when absent)."""
    config_path = os.path.join(path, TOKENIZER_CONFIG_FILE)
    if not os.path.isfile(config_path):
        return True
    try:
        with open(config_path, encoding="utf-8") as f:
            value = json.load(f).get("do_lower_case", True)
    except (OSError, ValueError, AttributeError) as e:
        raise CheckpointError(f"{config_path} is not valid JSON ({e}); fix or delete it") from None
    return bool(value)


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


# --------------------------------------------------------------------------- hub

class _HubUnavailable(Exception):
    """The hub checkpoint could not be had; the message is the reason, for the user."""


_HUB_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]*(/[A-Za-z0-9][A-Za-z0-9_.\-]*)?$")


def _is_hub_id(value: str) -> bool:
    return bool(_HUB_ID.match(value)) and ".." not in value and "--" not in value \
        and not value.endswith(".")


def _env_true(name: str) -> bool:
    return os.environ.get(name, "").strip().upper() in ("1", "ON", "YES", "TRUE")


def _hub_offline() -> bool:
    from huggingface_hub import constants
    return _env_true("HF_HUB_OFFLINE") or _env_true("TRANSFORMERS_OFFLINE") \
        or bool(constants.HF_HUB_OFFLINE)


def _from_hub(repo_id: str, timeout: float) -> str:
    """The local snapshot directory of `repo_id`: from the HF cache, else downloaded.

    Raises _HubUnavailable (never hangs: the network is given `timeout` seconds to answer).
    """
    import huggingface_hub
    from huggingface_hub.utils import LocalEntryNotFoundError

    cache_problem = None
    try:
        path = huggingface_hub.snapshot_download(
            repo_id, allow_patterns=HUB_FILES, local_files_only=True)
    except LocalEntryNotFoundError:
        pass
    except Exception as e:  # noqa: BLE001 (a broken cache entry is a reason, not a crash)
        cache_problem = f"the local cache entry is unusable ({_describe(e, '')})"
    else:
        try:
            _validate_hub_snapshot(path)
            _LOG.info("Using %s from the local HuggingFace cache: %s", repo_id, path)
            return os.path.abspath(path)
        except CheckpointError as e:
            cache_problem = f"the cached copy is incomplete ({e})"

    if _hub_offline():
        raise _HubUnavailable(
            (cache_problem or "it is not in the local HuggingFace cache")
            + ", and HF_HUB_OFFLINE=1 forbids downloading it")

    endpoint = os.environ.get("HF_ENDPOINT", "").strip().rstrip("/") or None
    where = endpoint or huggingface_hub.constants.ENDPOINT
    api = huggingface_hub.HfApi(endpoint=endpoint)
    try:
        # model_info gets a timeout (snapshot_download's own look-up has none), and the thread
        # bounds the whole call, including a DNS look-up that socket timeouts do not cover.
        info = _call_with_deadline(lambda: api.model_info(repo_id, timeout=timeout),
                                   timeout + 2.0, where)
    except Exception as e:  # noqa: BLE001
        raise _HubUnavailable(_describe(e, where, repo_id)) from None
    files = {s.rfilename for s in (info.siblings or [])}
    if files and TF_WEIGHTS not in files:
        raise _HubUnavailable(
            f"the hub repository has no TensorFlow weights ({TF_WEIGHTS}), and torch is not "
            "installed to use its PyTorch weights")
    try:
        _LOG.info("Downloading %s from %s", repo_id, where)
        path = huggingface_hub.snapshot_download(
            # No pinned revision: the download must record refs/main, which the offline
            # cache look-up above (and the next run) resolves.
            repo_id, allow_patterns=HUB_FILES, etag_timeout=timeout,
            endpoint=endpoint)
        _validate_hub_snapshot(path)
    except CheckpointError as e:
        raise _HubUnavailable(str(e)) from None
    except Exception as e:  # noqa: BLE001
        raise _HubUnavailable(_describe(e, where, repo_id)) from None
    return os.path.abspath(path)


def _validate_hub_snapshot(path: str) -> None:
    if not os.path.isfile(os.path.join(path, TF_WEIGHTS)):
        raise CheckpointError(f"{path} has no {TF_WEIGHTS}")
    validate_checkpoint_dir(path)


def _call_with_deadline(fn: Callable[[], Any], seconds: float, where: str) -> Any:
    result: dict = {}

    def run():
        try:
            result["value"] = fn()
        except BaseException as e:  # noqa: BLE001 (handed to the caller)
            result["error"] = e

    thread = threading.Thread(target=run, name="electra-tfx-hub-lookup", daemon=True)
    thread.start()
    thread.join(seconds)
    if thread.is_alive():
        raise TimeoutError(f"no answer from {where} within {seconds:.0f} s")
    if "error" in result:
        raise result["error"]
    return result["value"]


def _describe(error: BaseException, where: str, repo_id: str = "") -> str:
    """A one-line, human-sized reason for a hub failure."""
    from huggingface_hub import errors as hub_errors

    text = str(error)
    if isinstance(error, hub_errors.RepositoryNotFoundError):
        return f"repository {repo_id} was not found on {where} (or it is private or gated)"
    if isinstance(error, hub_errors.GatedRepoError):
        return f"repository {repo_id} on {where} is gated and needs an access token"
    if isinstance(error, hub_errors.OfflineModeIsEnabled):
        return "HF_HUB_OFFLINE=1 forbids downloading"
    if isinstance(error, TimeoutError):
        return text
    if ("Failed to resolve" in text or "NameResolutionError" in text
            or "Name or service not known" in text or "nodename nor servname" in text
            or "Temporary failure in name resolution" in text):
        host = urllib.parse.urlparse(where).hostname or where
        return f"cannot resolve {host} (no DNS or no network)"
    if "Connection refused" in text:
        return f"connection to {where} refused"
    if "timed out" in text.lower() or "Timeout" in type(error).__name__:
        return f"{where} did not answer in time"
    first_line = text.strip().splitlines()[0] if text.strip() else ""
    return f"{type(error).__name__}: {first_line[:300]}" if first_line else type(error).__name__


# --------------------------------------------------------------------------- scratch

def _scratch_checkpoint(texts: Callable[[], Iterable[str]], work_dir: str,
                        model_config: Any) -> str:
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
                              "reserved": RESERVED_TOKENS,
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
    parent, name = os.path.split(out_dir)
    os.makedirs(parent, exist_ok=True)
    _remove_stale_temp_dirs(parent, name)
    tmp = tempfile.mkdtemp(prefix=f".{name}.tmp-{os.getpid()}-", dir=parent)
    try:
        os.chmod(tmp, 0o755)
        vocab = learn_wordpiece_vocabulary(corpus, settings["vocab_size"])
        with open(os.path.join(tmp, VOCAB_FILE), "w", encoding="utf-8", newline="\n") as f:
            f.write("\n".join(vocab) + "\n")
        with open(os.path.join(tmp, TOKENIZER_CONFIG_FILE), "w", encoding="utf-8") as f:
            json.dump(SCRATCH_TOKENIZER_CONFIG, f, indent=2, sort_keys=True)
            f.write("\n")
        _save_initialised_electra(tmp, len(vocab), settings)
        _check_tokenizer_loads(tmp)
        validate_checkpoint_dir(tmp)
        try:
            os.rename(tmp, out_dir)
        except OSError:
            if _is_complete_scratch(out_dir):  # another run finished the same one first
                shutil.rmtree(tmp, ignore_errors=True)
                return out_dir
            raise
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    _LOG.info("Built a scratch ELECTRA checkpoint (vocabulary of %d) in %s", len(vocab), out_dir)
    return out_dir


def _remove_stale_temp_dirs(parent: str, name: str) -> None:
    """Deletes temporary directories left by killed builds of the same checkpoint."""
    prefix = f".{name}.tmp-"
    for entry in os.listdir(parent):
        if not entry.startswith(prefix):
            continue
        try:
            pid = int(entry[len(prefix):].split("-", 1)[0])
        except ValueError:
            continue
        if pid != os.getpid() and not _pid_alive(pid):
            shutil.rmtree(os.path.join(parent, entry), ignore_errors=True)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)  # signal 0: only checks that the process exists
    except ProcessLookupError:
        return False
    except OSError:
        return True
    return True


def _normalized_words(texts: List[str]) -> Iterable[str]:
    """The words HuggingFace's ElectraTokenizerFast (uncased) feeds to WordPiece."""
    from tokenizers import normalizers, pre_tokenizers

    normalizer = normalizers.BertNormalizer(
        clean_text=True, handle_chinese_chars=True, strip_accents=None, lowercase=True)
    pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    for text in texts:
        for word, _ in pre_tokenizer.pre_tokenize_str(normalizer.normalize_str(text)):
            yield word


def _usable_token(token: str) -> bool:
    return bool(token) and not any(
        c.isspace() or unicodedata.category(c) in ("Cc", "Cs") for c in token)


def learn_wordpiece_vocabulary(texts: List[str], vocab_size: int) -> List[str]:
    """A lower-cased BERT WordPiece vocabulary of at most ~`vocab_size` tokens.

    Learned with TensorFlow Text's `bert_vocab_from_dataset`; [PAD], [UNK], [CLS], [SEP],
    [MASK] come first ([PAD] = 0). Every character seen in the text, and its `##` form, is in
    the vocabulary (they are kept even if that exceeds `vocab_size`), so no word of the
    training text maps to [UNK]. Small corpora give a smaller vocabulary.
    """
    import tensorflow as tf
    from tensorflow_text.tools.wordpiece_vocab.bert_vocab_from_dataset import (
        bert_vocab_from_dataset)

    texts = [t for t in texts if t.strip()]
    if not texts:
        raise CheckpointError(
            "cannot build a scratch checkpoint: the training data has no text to learn a "
            "vocabulary from")
    dataset = tf.data.Dataset.from_tensor_slices(tf.constant(texts, dtype=tf.string)).batch(1024)
    learned = bert_vocab_from_dataset(
        dataset, vocab_size=vocab_size, reserved_tokens=RESERVED_TOKENS,
        bert_tokenizer_params={"lower_case": True},
        learn_params={
            # Words seen twice may become tokens (the default, 10, starves small corpora).
            "lower_thresh": 2,
            # Keep every character (the default drops all but the 1000 most frequent).
            "max_unique_chars": 1 << 30,
            "max_token_length": _MAX_WORD_CHARS,
        })
    learned = [t for t in learned if t not in RESERVED_TOKENS and _usable_token(t)]

    # Characters as HuggingFace normalises them (which may differ from TensorFlow Text's
    # NFKC case folding), so neither tokenizer meets a character outside the vocabulary.
    chars = {t for t in learned if len(t) == 1}
    chars.update(c for word in _normalized_words(texts) for c in word if _usable_token(c))
    char_tokens = sorted(chars) + sorted(_JOINER + c for c in chars)
    is_char = set(char_tokens)
    pieces = [t for t in learned if t not in is_char]  # most frequent first
    room = max(0, vocab_size - len(RESERVED_TOKENS) - len(char_tokens))
    if len(char_tokens) + len(RESERVED_TOKENS) > vocab_size:
        _LOG.warning("The training text has %d distinct characters: the scratch vocabulary "
                     "holds all of them (with ## forms), more than scratch_vocab_size=%d",
                     len(chars), vocab_size)
    return RESERVED_TOKENS + char_tokens + pieces[:room]


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


def _check_tokenizer_loads(path: str) -> None:
    from transformers import ElectraTokenizerFast

    tokenizer = ElectraTokenizerFast.from_pretrained(path)
    if tokenizer.pad_token_id != 0 or tokenizer.unk_token_id is None:
        raise CheckpointError(f"the scratch tokenizer in {path} has [PAD] at "
                              f"{tokenizer.pad_token_id}, expected 0")
    tokenizer("a check")
