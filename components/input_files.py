"""Which files `--train` and `--eval` name, and how to hand them to TextExampleGen.

A path is a file, a glob (`data/*.csv`, `gs://bucket/x/part-*`) or a folder (every file
in it with a recognised extension; README.md and the like are ignored). Recognised:

    .csv  .tsv                     CSV with a header row (.tsv: tab-separated)
    .jsonl  .json                  JSON Lines, one object per line
    .tfrecord  .tfrecords          TFRecord of tf.train.Example
    .conll                         CoNLL (token-classification): one token a line, tag last
    any of the above + .gz         gzip-compressed (e.g. data.jsonl.gz, data.tfrecord.gz)

`resolve_inputs` turns the two paths into the `input_base`, `input_config` and
`output_config` of the component, checking up front that every path matches readable files.
URIs (gs://...) go through tf.io.gfile, so the TensorFlow file systems work; local paths do not
load TensorFlow (the CLI resolves them before it loads, pipeline/precheck.py).

`unlisted_inputs` makes the same arguments without reading anything (`electra-tfx compile`
with --label-counts: the data may be unreachable from where the pipeline is compiled); the
files are listed where the pipeline runs, by the ExampleGen. Without a listing a path is read
by its spelling: a path with a glob character is a glob; one ending in a recognised extension
(above) is a file; anything else (`gs://b/data/`, `gs://b/data`, `gs://b/v1.2`) is a folder,
read as `<folder>/*` (its files with a recognised extension).
"""
from __future__ import annotations

import dataclasses
import glob
import math
import os
import posixpath
import re
import sys
from typing import List, NamedTuple, Optional, Sequence, Tuple

from tfx.proto import example_gen_pb2

from trainer.uris import is_uri, split_scheme

# Extension (lower case, without .gz) -> format.
FORMATS = {
    ".csv": "csv",
    ".tsv": "tsv",
    ".jsonl": "jsonl",
    ".json": "jsonl",
    ".tfrecord": "tfrecord",
    ".tfrecords": "tfrecord",
    ".conll": "conll",  # token-classification: one token a line (components/readers/conll.py)
}
RECOGNISED_EXTENSIONS = tuple(sorted(FORMATS)) + tuple(sorted(e + ".gz" for e in FORMATS))

SINGLE_SPLIT = "single_split"
# --train/--eval tfds:NAME[/CONFIG][:SPLIT]: a TensorFlow Datasets split (tfds_example_gen.py).
TFDS_PREFIX = "tfds:"
TRAIN_SPLIT = "train"
EVAL_SPLIT = "eval"

_GLOB_CHARS = re.compile(r"[*?\[]")
_MAX_LISTED = 10


class InputError(ValueError):
    """A --train/--eval path that names no usable input file."""


def is_tfds(path: Optional[str]) -> bool:
    return bool(path) and path.startswith(TFDS_PREFIX)


class FileKind(NamedTuple):
    format: str  # "csv", "tsv", "jsonl" or "tfrecord"
    compressed: bool  # gzip


def file_kind(path: str) -> Optional[FileKind]:
    """The format of `path` from its extension, or None when the extension is not recognised."""
    name = posixpath.basename(path.rstrip("/")).lower()
    compressed = name.endswith(".gz")
    if compressed:
        name = name[: -len(".gz")]
    fmt = FORMATS.get(os.path.splitext(name)[1])
    return FileKind(fmt, compressed) if fmt else None


def list_input_files(pattern: str) -> List[str]:
    """Files matching the glob `pattern` that have a recognised extension, sorted.

    Raises InputError when there are none (naming the pattern and what it does match).
    """
    matches = _glob(pattern)
    files = sorted(m for m in matches if file_kind(m) and not _isdir(m))
    if not files:
        if matches:
            raise InputError(
                f"{pattern} matches no file with a recognised extension "
                f"({', '.join(RECOGNISED_EXTENSIONS)}); it matches: {_names(matches)}")
        raise InputError(f"{pattern} matches no file. {_what_exists(_literal_prefix_dir(pattern))}")
    return files


def resolve_files(path: str, flag: str) -> List[str]:
    """The input files a file, glob or folder names (as --train reads them), sorted; raises
    InputError naming `flag` when there are none."""
    return _resolve_one(path, flag)[2]


@dataclasses.dataclass(frozen=True)
class InputSpec:
    """What to pass to TextExampleGen (and the files that were found, for logging)."""

    input_base: str
    input_config: example_gen_pb2.Input
    # Hash split train:eval when no eval path was given; empty (splits come from the input)
    # otherwise.
    output_config: example_gen_pb2.Output
    train_files: Tuple[str, ...]
    eval_files: Tuple[str, ...] = ()


def resolve_inputs(train: str, eval: Optional[str] = None,  # noqa: A002  (the flag's name)
                   eval_percent: int = 20) -> InputSpec:
    """Resolves `--train` and optional `--eval` paths into TextExampleGen arguments.

    Without `eval`, one input split "single_split" is split by a deterministic hash of each
    example into train:eval = (100 - eval_percent):eval_percent. With `eval`, the input has
    the splits "train" and "eval", with patterns relative to their common directory.
    """
    if not train:
        raise InputError("no --train path given")
    train_dir, train_pattern, train_files = _resolve_one(train, "--train")
    if not eval:
        return _single_split(train_dir, train_pattern, eval_percent, train_files)
    eval_dir, eval_pattern, eval_files = _resolve_one(eval, "--eval")
    shared = sorted(set(train_files) & set(eval_files))
    if shared:
        raise InputError(
            f"--train {train} and --eval {eval} both match {_names(shared)}; "
            "a file can be in only one of them")
    base = _common_dir(train_dir, eval_dir)
    if base is None:
        raise InputError(f"--train {train} and --eval {eval} must be on the same file system")
    return _two_splits(base, train_dir, train_pattern, eval_dir, eval_pattern,
                       train_files, eval_files)


def _single_split(directory: str, pattern: str, eval_percent: int,
                  files: Sequence[str]) -> InputSpec:
    if not isinstance(eval_percent, int) or isinstance(eval_percent, bool) \
            or not 0 < eval_percent < 100:
        raise ValueError(f"eval_percent must be an integer from 1 to 99, got {eval_percent!r}")
    divisor = math.gcd(100 - eval_percent, eval_percent)
    return InputSpec(
        input_base=directory,
        input_config=example_gen_pb2.Input(splits=[
            example_gen_pb2.Input.Split(name=SINGLE_SPLIT, pattern=pattern)]),
        output_config=example_gen_pb2.Output(split_config=example_gen_pb2.SplitConfig(splits=[
            example_gen_pb2.SplitConfig.Split(
                name=TRAIN_SPLIT, hash_buckets=(100 - eval_percent) // divisor),
            example_gen_pb2.SplitConfig.Split(
                name=EVAL_SPLIT, hash_buckets=eval_percent // divisor),
        ])),
        train_files=tuple(files))


def _two_splits(base: str, train_dir: str, train_pattern: str, eval_dir: str, eval_pattern: str,
                train_files: Sequence[str], eval_files: Sequence[str]) -> InputSpec:
    return InputSpec(
        input_base=base,
        input_config=example_gen_pb2.Input(splits=[
            example_gen_pb2.Input.Split(
                name=TRAIN_SPLIT, pattern=_relative_pattern(base, train_dir, train_pattern)),
            example_gen_pb2.Input.Split(
                name=EVAL_SPLIT, pattern=_relative_pattern(base, eval_dir, eval_pattern)),
        ]),
        output_config=example_gen_pb2.Output(),
        train_files=tuple(train_files),
        eval_files=tuple(eval_files))


def unlisted_inputs(train: str, eval: Optional[str] = None,  # noqa: A002  (the flag's name)
                    eval_percent: int = 20) -> InputSpec:
    """`resolve_inputs` without touching any file system (see the module docstring): the same
    input_base, splits and patterns; `train_files`/`eval_files` are empty."""
    if not train:
        raise InputError("no --train path given")
    train_dir, train_pattern = _spelled_out(train)
    if not eval:
        return _single_split(train_dir, train_pattern, eval_percent, ())
    eval_dir, eval_pattern = _spelled_out(eval)
    if (train_dir, train_pattern) == (eval_dir, eval_pattern):
        raise InputError(f"--train {train} and --eval {eval} name the same files")
    base = _common_dir(train_dir, eval_dir)
    if base is None:
        raise InputError(f"--train {train} and --eval {eval} must be on the same file system")
    return _two_splits(base, train_dir, train_pattern, eval_dir, eval_pattern, (), ())


def _spelled_out(path: str) -> Tuple[str, str]:
    """(directory, glob pattern relative to it) of a user path, from its spelling alone."""
    folder = path.endswith("/")
    path = _absolute(path)
    if _GLOB_CHARS.search(split_scheme(path)[1]):
        directory = _literal_prefix_dir(path)
        return directory, _relative(directory, path)
    if not folder and file_kind(path):
        directory, name = posixpath.split(path)
        return _literal_base(directory, _escape_glob(name))
    directory = path.rstrip("/") or path
    return _literal_base(directory, "*")


def _resolve_one(path: str, flag: str) -> Tuple[str, str, List[str]]:
    """(directory, glob pattern relative to it, matched files) for one user path."""
    try:
        return _resolve_path(_absolute(path), flag)
    except (OSError, *_file_system_errors()) as e:  # e.g. no access to a gs:// bucket
        raise InputError(f"{flag} {path} cannot be read: {getattr(e, 'message', e)}") from None


def _resolve_path(path: str, flag: str) -> Tuple[str, str, List[str]]:
    if _isdir(path):
        directory = path.rstrip("/") if path.rstrip("/") else path
        entries = sorted(e.rstrip("/") for e in _listdir(directory))
        files = [posixpath.join(directory, e) for e in entries if file_kind(e)]
        files = [f for f in files if not _isdir(f)]
        if not files:
            listing = _names(entries) if entries else "nothing (it is empty)"
            raise InputError(
                f"{flag} folder {path} holds no file with a recognised extension "
                f"({', '.join(RECOGNISED_EXTENSIONS)}); it holds: {listing}")
        return _literal_base(directory, "*") + (files,)

    if _exists(path):
        if not file_kind(path):
            raise InputError(
                f"{flag} file {path} has an unrecognised extension; expected one of "
                f"{', '.join(RECOGNISED_EXTENSIONS)}")
        directory, name = posixpath.split(path)
        return _literal_base(directory, _escape_glob(name)) + ([path],)

    if _GLOB_CHARS.search(split_scheme(path)[1]):
        directory = _literal_prefix_dir(path)
        pattern = _relative(directory, path)
        try:
            files = list_input_files(path)
        except InputError as e:
            raise InputError(f"{flag} {e}") from None
        return directory, pattern, files

    raise InputError(f"{flag} {path} does not exist. {_what_exists(posixpath.dirname(path))}")


def _literal_base(directory: str, pattern: str) -> Tuple[str, str]:
    """Moves any part of `directory` holding glob characters (escaped) into `pattern`, as
    TFX globs `os.path.join(input_base, pattern)`."""
    scheme, rest = split_scheme(directory)
    parts = rest.split("/")
    for i, part in enumerate(parts):
        if _GLOB_CHARS.search(part):
            base = "/".join(parts[:i]) or ("/" if rest.startswith("/") else "")
            return scheme + base, posixpath.join(_escape_glob_path("/".join(parts[i:])), pattern)
    return directory, pattern


def _absolute(path: str) -> str:
    return path if is_uri(path) else os.path.abspath(os.path.expanduser(path))


def _literal_prefix_dir(pattern: str) -> str:
    """The longest directory at the start of `pattern` that holds no glob character."""
    scheme, rest = split_scheme(pattern)
    parts = rest.split("/")
    literal = []
    for part in parts[:-1]:
        if _GLOB_CHARS.search(part):
            break
        literal.append(part)
    directory = "/".join(literal)
    if not directory and rest.startswith("/"):
        directory = "/"
    return scheme + directory


def _relative(directory: str, path: str) -> str:
    return path[len(directory):].lstrip("/")


def _relative_pattern(base: str, directory: str, pattern: str) -> str:
    sub = _relative(base, directory)
    return posixpath.join(_escape_glob_path(sub), pattern) if sub else pattern


def _common_dir(a: str, b: str) -> Optional[str]:
    scheme_a, rest_a = split_scheme(a)
    scheme_b, rest_b = split_scheme(b)
    if scheme_a != scheme_b:
        return None
    parts_a, parts_b = rest_a.rstrip("/").split("/"), rest_b.rstrip("/").split("/")
    common = []
    for x, y in zip(parts_a, parts_b):
        if x != y:
            break
        common.append(x)
    directory = "/".join(common)
    if not directory and rest_a.startswith("/"):
        directory = "/"
    if scheme_a and not directory:
        return None  # different buckets
    return scheme_a + directory


def _escape_glob(name: str) -> str:
    """`name` as a glob that matches only itself."""
    return re.sub(r"([*?\[])", r"[\1]", name)


def _escape_glob_path(path: str) -> str:
    return "/".join(_escape_glob(part) for part in path.split("/"))


def _names(paths: Sequence[str]) -> str:
    names = [posixpath.basename(p.rstrip("/")) or p for p in paths]
    shown = ", ".join(names[:_MAX_LISTED])
    if len(names) > _MAX_LISTED:
        shown += f", ... ({len(names)} in all)"
    return shown


def _what_exists(directory: str) -> str:
    if not directory:
        return ""
    try:
        if not _isdir(directory):
            return f"Its folder {directory} does not exist either."
        entries = sorted(_listdir(directory))
    except (OSError, *_file_system_errors()):
        return ""
    if not entries:
        return f"{directory} is empty."
    return f"{directory} holds: {_names(entries)}"


# The file system: os and glob for a local path, tf.io.gfile (loaded then) for a URI.

def _gfile():
    import tensorflow as tf
    return tf.io.gfile


def _isdir(path: str) -> bool:
    return _gfile().isdir(path) if is_uri(path) else os.path.isdir(path)


def _exists(path: str) -> bool:
    return _gfile().exists(path) if is_uri(path) else os.path.exists(path)


def _listdir(path: str) -> List[str]:
    return _gfile().listdir(path) if is_uri(path) else os.listdir(path)


def _glob(pattern: str) -> List[str]:
    return _gfile().glob(pattern) if is_uri(pattern) else glob.glob(pattern)


def _file_system_errors() -> tuple:
    """TensorFlow's file-system errors, when it is loaded (a URI loads it)."""
    tf = sys.modules.get("tensorflow")
    return (tf.errors.OpError,) if tf is not None and hasattr(tf, "errors") else ()
