"""Hub checkpoints (`google/electra-small-discriminator`): the local HuggingFace cache first,
then the hub, never waiting longer than the timeout (a thread bounds even a DNS look-up)."""
import logging
import os
import re
import threading
import urllib.parse
from typing import Any, Callable

from trainer import console
from trainer.checkpoints.files import CONFIG_FILE, TF_WEIGHTS, TOKENIZER_CONFIG_FILE, VOCAB_FILE
from trainer.checkpoints.files import CheckpointError
from trainer.checkpoints.validate import validate_checkpoint_dir

_LOG = logging.getLogger(__name__)

# What is fetched for a hub id: TensorFlow weights only (torch is not installed).
HUB_FILES = [CONFIG_FILE, TF_WEIGHTS, VOCAB_FILE, TOKENIZER_CONFIG_FILE]


class HubUnavailable(Exception):
    """The hub checkpoint could not be had; the message is the reason, for the user."""


_HUB_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]*(/[A-Za-z0-9][A-Za-z0-9_.\-]*)?$")


def is_hub_id(value: str) -> bool:
    return bool(_HUB_ID.match(value)) and ".." not in value and "--" not in value \
        and not value.endswith(".")


def _env_true(name: str) -> bool:
    return os.environ.get(name, "").strip().upper() in ("1", "ON", "YES", "TRUE")


def _hub_offline() -> bool:
    from huggingface_hub import constants
    return _env_true("HF_HUB_OFFLINE") or _env_true("TRANSFORMERS_OFFLINE") \
        or bool(constants.HF_HUB_OFFLINE)


def from_hub(repo_id: str, timeout: float) -> str:
    """The local snapshot directory of `repo_id`: from the HF cache, else downloaded.

    Raises HubUnavailable (never hangs: the network is given `timeout` seconds to answer).
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
        raise HubUnavailable(
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
        raise HubUnavailable(_describe(e, where, repo_id)) from None
    files = {s.rfilename for s in (info.siblings or [])}
    if files and TF_WEIGHTS not in files:
        raise HubUnavailable(
            f"the hub repository has no TensorFlow weights ({TF_WEIGHTS}), and torch is not "
            "installed to use its PyTorch weights")
    try:
        _LOG.info("Downloading %s from %s", repo_id, where)
        if console.active():  # before TensorFlow loads (pipeline/precheck.py): say why we wait
            console.say(f"Downloading {repo_id} from {where} ...")
        path = huggingface_hub.snapshot_download(
            # No pinned revision: the download must record refs/main, which the offline
            # cache look-up above (and the next run) resolves.
            repo_id, allow_patterns=HUB_FILES, etag_timeout=timeout,
            endpoint=endpoint)
        _validate_hub_snapshot(path)
    except CheckpointError as e:
        raise HubUnavailable(str(e)) from None
    except Exception as e:  # noqa: BLE001
        raise HubUnavailable(_describe(e, where, repo_id)) from None
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
