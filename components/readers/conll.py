"""CoNLL files for token classification: one token a line, its tag in the last column.

    EU B-ORG
    rejects O
    German B-MISC

    Peter B-PER

Columns are separated by whitespace (spaces or tabs); the first column is the token, the last
the tag (CoNLL-2003's POS and chunk columns in between are ignored). A blank line ends a
sentence; `-DOCSTART-` lines (and the blank line after them) are skipped. Each sentence becomes
one tf.train.Example with the bytes-list features `tokens` and `tags`.
"""
from typing import Iterator, List

import tensorflow as tf

from components.readers.errors import BadInputError, snippet
from components.readers.lines import text_lines

TOKENS_FEATURE = "tokens"
TAGS_FEATURE = "tags"


def read_conll(path: str, compressed: bool = False, tokens_feature: str = TOKENS_FEATURE,
               tags_feature: str = TAGS_FEATURE) -> Iterator[tf.train.Example]:
    tokens: List[str] = []
    tags: List[str] = []

    def sentence() -> tf.train.Example:
        example = tf.train.Example()
        features = example.features.feature
        features[tokens_feature].bytes_list.value.extend(t.encode("utf-8") for t in tokens)
        features[tags_feature].bytes_list.value.extend(t.encode("utf-8") for t in tags)
        return example

    for number, line in enumerate(text_lines(path, compressed), 1):
        fields = line.split()
        if not fields:
            if tokens:
                yield sentence()
                tokens, tags = [], []
            continue
        if fields[0] == "-DOCSTART-":
            if tokens:
                raise BadInputError(path, number, "-DOCSTART- inside a sentence (a blank line "
                                    "must end the sentence before it)")
            continue
        if len(fields) < 2:
            raise BadInputError(path, number, "expected a token and its tag separated by "
                                f"whitespace, got one column: {snippet(line.rstrip())}")
        tokens.append(fields[0])
        tags.append(fields[-1])
    if tokens:
        yield sentence()
