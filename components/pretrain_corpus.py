"""The unlabelled text ELECTRA pre-training reads: `--pretrain-corpus` files and the text
columns of the training examples.

`--pretrain-corpus` is a file, a folder or a glob of

    .txt                 plain text, one text a line (blank lines skipped)
    .jsonl .json         JSON Lines: the `text_column` field of each object
    .csv .tsv            CSV/TSV with a header row: the `text_column` column
    .tfrecord            tf.train.Example records: the `text_column` feature
    any of these + .gz   gzip-compressed

JSON Lines, CSV and TFRecord go through the same readers as the training data
(components/readers/), so a malformed file gets the same "FILE line N: problem"
error; a missing text column names the file and the columns it has.
"""
from __future__ import annotations

import gzip
import hashlib
import os
import posixpath
import re
from typing import Iterable, Iterator, List, Sequence

import tensorflow as tf

from components.input_files import InputError, file_kind
from components.readers import read_file
from trainer.uris import is_uri

TEXT_EXTENSIONS = (".txt", ".txt.gz")
_GLOB_CHARS = re.compile(r"[*?\[]")


class CorpusError(InputError):
    """A --pretrain-corpus that cannot be read as configured (a user error: exit 2)."""


def _is_corpus_file(path: str) -> bool:
    name = posixpath.basename(path).lower()
    return name.endswith(TEXT_EXTENSIONS) or file_kind(path) is not None


def list_corpus_files(path: str) -> List[str]:
    """The corpus files a path names: the file itself, the recognised files of a folder, or
    the recognised files a glob matches. Raises CorpusError when there are none."""
    flag = "--pretrain-corpus"
    if tf.io.gfile.isdir(path):
        files = sorted(posixpath.join(path, e.rstrip("/")) for e in tf.io.gfile.listdir(path))
        files = [f for f in files if _is_corpus_file(f) and not tf.io.gfile.isdir(f)]
        if not files:
            raise CorpusError(f"{flag} folder {path} holds no .txt, .jsonl, .csv, .tsv or "
                              ".tfrecord file")
        return files
    if tf.io.gfile.exists(path):
        if not _is_corpus_file(path):
            raise CorpusError(f"{flag} file {path} has an unrecognised extension; expected .txt, "
                              ".jsonl, .json, .csv, .tsv or .tfrecord (optionally .gz)")
        return [path]
    if _GLOB_CHARS.search(path):
        files = sorted(f for f in tf.io.gfile.glob(path)
                       if _is_corpus_file(f) and not tf.io.gfile.isdir(f))
        if files:
            return files
        raise CorpusError(f"{flag} {path} matches no .txt, .jsonl, .csv, .tsv or .tfrecord file")
    raise CorpusError(f"{flag} {path} does not exist")


def _text_lines(path: str) -> Iterator[str]:
    with tf.io.gfile.GFile(path, "rb") as raw:
        data = raw.read()
    if path.lower().endswith(".gz"):
        data = gzip.decompress(data)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        line = data[:e.start].count(b"\n") + 1
        raise CorpusError(f"{path} line {line}: not UTF-8 text ({e.reason})") from None
    yield from text.splitlines()


def example_texts(example: tf.train.Example, columns: Sequence[str]) -> List[str]:
    """The text of `columns` in one tf.train.Example (a list feature's items joined by
    spaces, e.g. the words of token-classification data)."""
    texts = []
    features = example.features.feature
    for column in columns:
        if column in features and features[column].WhichOneof("kind") == "bytes_list":
            values = [v.decode("utf-8", errors="replace")
                      for v in features[column].bytes_list.value]
            if values:
                texts.append(" ".join(values))
    return texts


def read_corpus_file(path: str, text_column: str) -> Iterator[str]:
    if posixpath.basename(path).lower().endswith(TEXT_EXTENSIONS):
        for line in _text_lines(path):
            if line.strip():
                yield line
        return
    for number, example in enumerate(read_file(path), 1):
        if number == 1 and text_column not in example.features.feature:
            raise CorpusError(
                f"{path}: no text column {text_column!r} (it has "
                f"{', '.join(repr(c) for c in sorted(example.features.feature)) or 'none'}); "
                "name it with --set pretrain.corpus_text_column=NAME")
        yield from example_texts(example, [text_column])


def read_corpus(path: str, text_column: str = "text") -> List[str]:
    """Every text of `--pretrain-corpus PATH`, in file order. Raises CorpusError (or the
    readers' BadInputError) naming the file and line of a problem."""
    texts = []
    for file in list_corpus_files(path):
        texts.extend(read_corpus_file(file, text_column))
    if not texts:
        raise CorpusError(f"--pretrain-corpus {path} holds no text")
    return texts


def read_examples_text(file_pattern: str, columns: Sequence[str]) -> List[str]:
    """The text columns of the gzipped tf.train.Example TFRecords ExampleGen wrote."""
    files = sorted(tf.io.gfile.glob(file_pattern))
    texts = []
    for record in tf.data.TFRecordDataset(files, compression_type="GZIP").as_numpy_iterator():
        texts.extend(example_texts(tf.train.Example.FromString(record), columns))
    return texts


def fingerprint(texts: Iterable[str]) -> str:
    """16 hex digits of the sha256 of the texts (a cache key for the corpus' content)."""
    digest = hashlib.sha256()
    for text in texts:
        data = text.encode("utf-8")
        digest.update(len(data).to_bytes(8, "little"))
        digest.update(data)
    return digest.hexdigest()[:16]


def absolute(path: str) -> str:
    """`path` made absolute unless it is a URL-like path (gs://...)."""
    return path if is_uri(path) else os.path.abspath(os.path.expanduser(path))
