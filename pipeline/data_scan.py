"""One pass over the training files before the pipeline starts.

It checks that the text and label columns exist, counts labels (the Evaluator's
"better than the majority class" bar and per-class metrics need the label set up front),
finds the labels' type (a row whose label has another type is a bad row), and collects
texts for the scratch checkpoint's WordPiece vocabulary. Bad rows are skipped here; the
ExampleGen applies the --on-bad-rows policy to them (components/bad_rows.py).
"""
import collections
import dataclasses
from typing import Dict, List, Optional

from components.bad_rows import BadRow, RowChecks, label_kind
from components.input_files import resolve_inputs
from components import tfds_example_gen
from components.text_example_gen import read_rows

# Enough text to learn a WordPiece vocabulary; more only slows the learner.
MAX_VOCAB_TEXTS = 200_000


class DataError(ValueError):
    """Training data that cannot be used as configured (e.g. a single class)."""


@dataclasses.dataclass
class DataScan:
    files: List[str]
    num_examples: int
    label_counts: Dict[str, int]
    texts: List[str]
    # "string", "integer" or "float": the type of most training labels (None: no labels).
    label_kind: Optional[str] = None
    # Rows skipped as bad (malformed, no text, a label of another type, ...).
    bad_rows: int = 0


def _value(feature) -> List[str]:
    kind = feature.WhichOneof("kind")
    if kind == "bytes_list":
        return [v.decode("utf-8", errors="replace") for v in feature.bytes_list.value]
    if kind == "int64_list":
        return [str(v) for v in feature.int64_list.value]
    if kind == "float_list":
        return [repr(v) for v in feature.float_list.value]
    return []


def _with_columns(examples, source: str, wanted: List[str]):
    """TFDS examples, checking once that the wanted columns exist (the text readers check
    their files' headers themselves)."""
    for n, example in enumerate(examples):
        if n == 0:
            features = example.features.feature
            missing = [c for c in wanted if c not in features]
            if missing:
                raise DataError(
                    f"{source}: no column {' or '.join(repr(c) for c in missing)}; the columns "
                    f"are {', '.join(repr(c) for c in sorted(features))}. Name them with "
                    "--text-column/--label-column.")
        yield example


def scan(train: str, text_columns: List[str], label_column: Optional[str],
         single_label: bool = False, tfds_data_dir: Optional[str] = None) -> DataScan:
    """Reads every training example once: label counts, texts, and the columns checked.

    `single_label`: the labels are classes; a single one is a DataError, and only labels of
    the majority type count (the others are bad rows).
    """
    # resolve_inputs raises InputError when the path names no usable file; read_rows raises
    # BadInputError for a file that is unusable as a whole (e.g. a missing column).
    checks = RowChecks(text_columns=list(text_columns), label_column=label_column)
    if tfds_example_gen.is_tfds(train):  # a TFDS split, read as TfdsExampleGen reads it
        source = tfds_example_gen.parse_source(train, "train", tfds_data_dir)
        files = [train]
        read = lambda _: _with_columns(tfds_example_gen.read_examples(source), train,  # noqa: E731
                                       list(text_columns) + ([label_column] if label_column else []))
    else:
        files = list(resolve_inputs(train).train_files)
        read = lambda path: read_rows(path, checks)  # noqa: E731
    labels_by_kind: Dict[str, collections.Counter] = collections.defaultdict(collections.Counter)
    texts: List[str] = []
    n = bad = 0
    for path in files:
        for item in read(path):
            if isinstance(item, BadRow):
                bad += 1
                continue
            n += 1
            features = item.features.feature
            if label_column:
                counter = labels_by_kind[label_kind(features[label_column])]
                for value in _value(features[label_column]):
                    counter[value.strip()] += 1
            for column in text_columns:
                if len(texts) < MAX_VOCAB_TEXTS:
                    texts.extend(_value(features[column]))
    if n == 0:
        raise DataError(f"{train}: no usable examples ({bad:,} bad rows)")
    kind = max(labels_by_kind, key=lambda k: sum(labels_by_kind[k].values()), default=None)
    if single_label and kind:
        labels = labels_by_kind[kind]
        other = sum(sum(c.values()) for k, c in labels_by_kind.items() if k != kind)
        n, bad = n - other, bad + other
    else:
        labels = sum(labels_by_kind.values(), collections.Counter())
    if single_label and len(labels) == 1:
        (label, count), = labels.items()
        raise DataError(
            f"{train}: every training row has the label {label!r} ({count:,} rows); a "
            "classifier needs at least two classes. Check --label-column and the data export.")
    return DataScan(files=files, num_examples=n, label_counts=dict(labels), texts=texts,
                    label_kind=kind, bad_rows=bad)
