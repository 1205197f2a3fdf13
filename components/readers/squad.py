"""SQuAD input for question-answering: the official JSON file, and nested answers in JSON Lines.

A SQuAD JSON file (`{"version": ..., "data": [{"title", "paragraphs": [{"context", "qas":
[{"id", "question", "answers": [{"text", "answer_start"}], "is_impossible"}]}]}]}`, SQuAD 1.1
or 2.0) is recognised by its name (`*.squad.json`, optionally `.gz`) or by its content (a
`.json` file that is one JSON document with a "data" list rather than JSON Lines). Every
question becomes one tf.train.Example with

    id, title, question, context   bytes
    answers_text                   bytes list (empty/missing: unanswerable)
    answers_start                  int64 list (character offsets into the context)

JSON Lines records in the Hugging Face `datasets` layout carry the answers as a nested object
`"answers": {"text": [...], "answer_start": [...]}`; `set_nested_feature` stores it as the
same two features, `<key>_text` and `<key>_start`.
"""
from __future__ import annotations

import json
import posixpath
from typing import TYPE_CHECKING, Any, Iterator

if TYPE_CHECKING:  # is_squad_file is used before TensorFlow loads (components/readers/head.py)
    import tensorflow as tf

from components.readers.errors import BadInputError
from components.readers.lines import open_bytes

SQUAD_SUFFIXES = (".squad.json", ".squad.json.gz")


def is_squad_file(path: str, compressed: bool = False) -> bool:
    """True for a SQuAD JSON document (by name, or a .json file whose first line is not a JSON
    object on its own, or is one object with a "data" list)."""
    name = posixpath.basename(path).lower()
    if name.endswith(SQUAD_SUFFIXES):
        return True
    if not (name.endswith(".json") or name.endswith(".json.gz")):
        return False
    try:
        with open_bytes(path, compressed) as f:
            for line in f:
                text = line.decode("utf-8", errors="replace").lstrip("\ufeff").strip()
                if not text:
                    continue
                try:
                    first = json.loads(text)
                except ValueError:
                    # A pretty-printed document: SQuAD if the whole file is one with "data".
                    return text.startswith("{") and _is_squad_document(path, compressed)
                return isinstance(first, dict) and isinstance(first.get("data"), list)
    except (OSError, EOFError):
        return False
    return False


def _is_squad_document(path: str, compressed: bool) -> bool:
    try:
        with open_bytes(path, compressed) as f:
            document = json.loads(f.read().decode("utf-8-sig"))
    except (ValueError, OSError, EOFError):
        return False
    return isinstance(document, dict) and isinstance(document.get("data"), list)


def read_squad(path: str, compressed: bool = False) -> Iterator[tf.train.Example]:
    """One example per question of a SQuAD 1.1/2.0 JSON file."""
    import tensorflow as tf
    try:
        with open_bytes(path, compressed) as f:
            document = json.loads(f.read().decode("utf-8-sig"))
    except ValueError as e:
        raise BadInputError(path, None, f"not a SQuAD JSON document ({e})") from None
    if not isinstance(document, dict) or not isinstance(document.get("data"), list):
        raise BadInputError(path, None, 'a SQuAD JSON document needs a top-level "data" list')
    for a, article in enumerate(document["data"]):
        title = str(article.get("title", "")) if isinstance(article, dict) else ""
        paragraphs = article.get("paragraphs") if isinstance(article, dict) else None
        if not isinstance(paragraphs, list):
            raise BadInputError(path, None, f'data[{a}] has no "paragraphs" list')
        for p, paragraph in enumerate(paragraphs):
            where = f"data[{a}].paragraphs[{p}]"
            if not isinstance(paragraph, dict) or not isinstance(paragraph.get("context"), str):
                raise BadInputError(path, None, f'{where} has no "context" string')
            for q, qa in enumerate(paragraph.get("qas") or []):
                if not isinstance(qa, dict) or not isinstance(qa.get("question"), str):
                    raise BadInputError(path, None, f'{where}.qas[{q}] has no "question"')
                answers = [] if qa.get("is_impossible") else (qa.get("answers") or [])
                example = tf.train.Example()
                features = example.features.feature
                features["id"].bytes_list.value.append(
                    str(qa.get("id", f"{a}-{p}-{q}")).encode("utf-8"))
                if title:
                    features["title"].bytes_list.value.append(title.encode("utf-8"))
                features["question"].bytes_list.value.append(qa["question"].encode("utf-8"))
                features["context"].bytes_list.value.append(paragraph["context"].encode("utf-8"))
                try:
                    _set_answers(features, "answers",
                                 [x.get("text") for x in answers],
                                 [x.get("answer_start") for x in answers])
                except (AttributeError, ValueError) as e:
                    raise BadInputError(path, None, f"{where}.qas[{q}]: {e}") from None
                yield example


def _set_answers(features: Any, key: str, texts, starts) -> None:
    if len(texts) != len(starts):
        raise ValueError(f"{len(texts)} answer texts but {len(starts)} answer starts")
    for text, start in zip(texts, starts):
        if not isinstance(text, str) or isinstance(start, bool) or not isinstance(start, int):
            raise ValueError(f"an answer needs a text string and an integer answer_start, "
                             f"got {text!r}, {start!r}")
        if start < 0:
            raise ValueError(f"negative answer_start {start}")
    if texts:
        features[f"{key}_text"].bytes_list.value.extend(t.encode("utf-8") for t in texts)
        features[f"{key}_start"].int64_list.value.extend(int(s) for s in starts)


def set_nested_feature(features: Any, key: str, value: dict) -> None:
    """A nested JSON object: only SQuAD-style answers {"text": [...], "answer_start": [...]}
    are supported (stored as `<key>_text` and `<key>_start`)."""
    if set(value) != {"text", "answer_start"}:
        raise ValueError('nested objects are not supported (except SQuAD-style answers '
                         '{"text": [...], "answer_start": [...]})')
    texts, starts = value["text"], value["answer_start"]
    if not isinstance(texts, list) or not isinstance(starts, list):
        raise ValueError('"text" and "answer_start" must be lists')
    _set_answers(features, key, texts, starts)
