"""One pass over the training files before the pipeline starts.

It checks that the text and label columns exist, counts labels (the Evaluator's
"better than the majority class" bar and per-class metrics need the label set up front),
and collects texts for the scratch checkpoint's WordPiece vocabulary.
"""
import collections
import dataclasses
from typing import Dict, List, Optional

from components.input_files import resolve_inputs
from components import text_example_gen, tfds_example_gen

# Enough text to learn a WordPiece vocabulary; more only slows the learner.
MAX_VOCAB_TEXTS = 200_000


class DataError(ValueError):
    """Training data that cannot be used as configured (e.g. a missing column)."""


@dataclasses.dataclass
class DataScan:
    files: List[str]
    num_examples: int
    label_counts: Dict[str, int]
    texts: List[str]


def _value(feature) -> List[str]:
    kind = feature.WhichOneof("kind")
    if kind == "bytes_list":
        return [v.decode("utf-8", errors="replace") for v in feature.bytes_list.value]
    if kind == "int64_list":
        return [str(v) for v in feature.int64_list.value]
    if kind == "float_list":
        return [repr(v) for v in feature.float_list.value]
    return []


def scan(train: str, text_columns: List[str], label_column: Optional[str],
         tfds_data_dir: Optional[str] = None) -> DataScan:
    """Reads every training example once: label counts, texts, and the columns checked."""
    if tfds_example_gen.is_tfds(train):  # a TFDS split, read as TfdsExampleGen reads it
        source = tfds_example_gen.parse_source(train, "train", tfds_data_dir)
        files = [train]
        read_file = lambda _: tfds_example_gen.read_examples(source)  # noqa: E731
    else:
        # resolve_inputs raises InputError when the path names no usable file.
        files = list(resolve_inputs(train).train_files)
        read_file = text_example_gen.read_file
    labels = collections.Counter()
    texts: List[str] = []
    n = 0
    for path in files:
        for example in read_file(path):
            features = example.features.feature
            if n == 0:
                wanted = list(text_columns) + ([label_column] if label_column else [])
                missing = [c for c in wanted if c not in features]
                if missing:
                    raise DataError(
                        f"{path}: no column {' or '.join(repr(c) for c in missing)}; the columns "
                        f"are {', '.join(repr(c) for c in sorted(features))}. Name them with "
                        "--text-column/--label-column.")
            n += 1
            if label_column and label_column in features:
                for value in _value(features[label_column]):
                    labels[value.strip()] += 1
            for column in text_columns:
                if column in features and len(texts) < MAX_VOCAB_TEXTS:
                    texts.extend(_value(features[column]))
    if n == 0:
        raise DataError(f"{train}: no examples (the files are empty)")
    return DataScan(files=files, num_examples=n, label_counts=dict(labels), texts=texts)
