"""Which pushed SavedModel a path names: a version folder, a model's serving folder (its newest
complete version) or `latest` (the newest complete version under a run's `serving/`).

The Pusher publishes `OUTPUT/serving/<model name>/<version>/`, the version a Unix time
(components/atomic_copy.py). A version folder is complete once it holds `saved_model.pb`: a
push that died mid-copy leaves a numeric folder without it (a URI push) or a hidden
`.tmp-<version>-<pid>` folder (a local push); neither is ever chosen here.

Local paths only, standard library only: `electra-tfx predict` resolves `--model` before
TensorFlow loads, so a wrong path is reported in a second.
"""
import os
from typing import List, Optional, Tuple

from components.atomic_copy import SAVED_MODEL_FILES


class ModelNotFoundError(ValueError):
    """`--model` names no complete SavedModel; the message says what was found instead."""


def is_saved_model(directory: str) -> bool:
    return any(os.path.isfile(os.path.join(directory, name)) for name in SAVED_MODEL_FILES)


def complete_versions(base: str) -> List[Tuple[int, str]]:
    """(version, folder) of every complete numeric version under `base`, oldest first."""
    if not os.path.isdir(base):
        return []
    versions = []
    for entry in os.listdir(base):
        path = os.path.join(base, entry)
        if entry.isdigit() and os.path.isdir(path) and is_saved_model(path):
            versions.append((int(entry), path))
    return sorted(versions)


def newest_version(base: str) -> Optional[str]:
    versions = complete_versions(base)
    return versions[-1][1] if versions else None


def latest_pushed(output_dir: str, model_name: Optional[str] = None) -> str:
    """The newest complete version under `output_dir/serving/` (of `model_name`, or of any
    model pushed there: the highest version number, i.e. the most recent push)."""
    serving = os.path.join(output_dir, "serving")
    names = [model_name] if model_name else (
        sorted(os.listdir(serving)) if os.path.isdir(serving) else [])
    found = [v for name in names for v in complete_versions(os.path.join(serving, name))]
    if not found:
        where = os.path.join(serving, model_name) if model_name else serving
        raise ModelNotFoundError(
            f"--model latest: no pushed model under {where} (a version folder with "
            "saved_model.pb); give the run's folder with --output-dir, or a SavedModel "
            "folder with --model DIR")
    return max(found)[1]


def resolve_model(model: str, output_dir: str, model_name: Optional[str] = None) -> str:
    """The SavedModel folder `--model` names: `latest`, a SavedModel folder, or a folder of
    numeric versions (its newest complete one)."""
    if model == "latest":
        return latest_pushed(output_dir, model_name)
    path = os.path.abspath(os.path.expanduser(model))
    if not os.path.exists(path):
        raise ModelNotFoundError(f"--model {model} does not exist")
    if not os.path.isdir(path):
        raise ModelNotFoundError(f"--model {model} is a file; give the SavedModel's folder "
                                 "(the one holding saved_model.pb) or `latest`")
    if is_saved_model(path):
        return path
    newest = newest_version(path)
    if newest:
        return newest
    raise ModelNotFoundError(
        f"--model {model} is not a SavedModel (no saved_model.pb) and holds no complete "
        "numeric version folder; give a version folder, e.g. OUTPUT/serving/<model>/<version>")
