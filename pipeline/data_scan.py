"""One pass over the training (and evaluation) files before the pipeline starts.

It checks that the text and label columns exist, counts labels (the Evaluator's
"better than the majority class" bar and per-class metrics need the label set up front),
finds the labels' type (a row whose label has another type is a bad row), and collects
texts for the scratch checkpoint's WordPiece vocabulary. Bad rows are skipped here; the
ExampleGen applies the --on-bad-rows policy to them (components/bad_rows.py).

Labels: with `--labels` (declared) a row with another label is a bad row here as in the
ExampleGen, and a declared label that no training row has is listed (`missing_labels`).
Without it, a label seen in a tiny share of the rows is a *suspect* (`suspect_labels`,
with the rows that have it): a stray value such as '7' or 'positive' among 0/1 labels would
otherwise become a class of its own. The run prints them before training, with the
`--labels` flag that turns them into bad rows.

It also counts the labels of the eval split the ExampleGen will write: the --eval files,
or, without --eval, the --train rows that TFX's hash split sends to "eval" (the same
partition function on the same serialized tf.Examples, so the same rows).
"""
import collections
import dataclasses
import itertools
from typing import Dict, List, Mapping, NamedTuple, Optional, Sequence

from tfx.components.example_gen import base_example_gen_executor
from tfx.components.example_gen import utils as example_gen_utils

from components.bad_rows import BadRow, RowChecks, label_kind
from components.input_files import EVAL_SPLIT, resolve_inputs
from components import tfds_example_gen
from components.readers import read_located_rows
from trainer.label_order import natural_label_order, split_cell

# Enough text to learn a WordPiece vocabulary; more only slows the learner.
MAX_VOCAB_TEXTS = 200_000
# A label is a suspect when it is in under this share of the labelled rows (or in one row),
# and the most frequent label is at least SUSPECT_RATIO times as frequent.
SUSPECT_SHARE = 0.01
SUSPECT_RATIO = 10
# Rows listed per suspect label.
MAX_SUSPECT_ROWS = 5


class DataError(ValueError):
    """Training data that cannot be used as configured (e.g. a single class)."""


@dataclasses.dataclass
class SuspectLabel:
    """A label in a tiny share of the training rows: a likely stray value."""

    label: str
    count: int
    # Where the first rows with it are: "FILE line 17", "FILE row 5", "tfds:NAME record 3".
    rows: List[str] = dataclasses.field(default_factory=list)


@dataclasses.dataclass
class DataScan:
    files: List[str]
    # Good rows of the --train input (both splits of a hash split).
    num_examples: int
    # Label value -> rows of the --train input having it (both splits of a hash split): the
    # stripped value as a string ("0", "pos"; a multi-label cell as written, "a,b"; for
    # token classification every tag of every row). Bad rows are not counted.
    label_counts: Dict[str, int]
    texts: List[str]
    # "string", "integer" or "float": the type of most training labels (None: no labels).
    label_kind: Optional[str] = None
    # Rows skipped as bad (malformed, no text, a label of another type, with --labels an
    # undeclared label, ...).
    bad_rows: int = 0
    # The same counts (same value strings) over the rows of the eval split the ExampleGen
    # writes: the --eval files' good rows (with --labels not those with an undeclared label;
    # without it, single-label, not those whose label never occurs in training: bad rows
    # there), or without --eval the good --train rows that the hash split sends to "eval".
    eval_label_counts: Dict[str, int] = dataclasses.field(default_factory=dict)
    # Good rows of that eval split.
    eval_num_examples: int = 0
    # Without --labels: labels in a tiny share of the training rows (SUSPECT_SHARE), in
    # natural order; single- and multi-label classification only (a multi-label cell's
    # labels one by one).
    suspect_labels: List[SuspectLabel] = dataclasses.field(default_factory=list)
    # With --labels: declared labels that no training row has, in natural order.
    missing_labels: List[str] = dataclasses.field(default_factory=list)


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


class _HashSplit:
    """Which output split TFX's ExampleGen sends an example to (without --eval): the
    executor's own partition function, with the buckets it computes from the output config."""

    def __init__(self, input_config, output_config):
        self._split_config = output_config.split_config
        self._buckets = list(itertools.accumulate(
            s.hash_buckets for s in output_config.split_config.splits))
        self._names = example_gen_utils.generate_output_split_names(input_config, output_config)

    def __call__(self, example) -> str:
        index = base_example_gen_executor._PartitionFn(  # pylint: disable=protected-access
            example, len(self._buckets), self._buckets, self._split_config)
        return self._names[index]


def scan(train: str, text_columns: List[str], label_column: Optional[str],
         single_label: bool = False, tfds_data_dir: Optional[str] = None,
         eval: Optional[str] = None, eval_percent: int = 20,  # noqa: A002
         labels: Optional[Sequence[str]] = None, label_separator: Optional[str] = None,
         find_suspects: bool = False) -> DataScan:
    """Reads every training example once: label counts, texts, and the columns checked;
    then the eval split's label counts (the --eval examples, or the hash split's share of
    --train; `eval_percent` as in the config).

    `single_label`: the labels are classes; a single one is a DataError, and only labels of
    the majority type count (the others are bad rows). `labels`: the declared labels, a row
    with another one is a bad row; `label_separator`: multi-label cells are split by it for
    that check and for the suspects; `find_suspects`: list the labels in a tiny share of rows.
    """
    # resolve_inputs raises InputError when the path names no usable file; read_rows raises
    # BadInputError for a file that is unusable as a whole (e.g. a missing column).
    checks = RowChecks(text_columns=list(text_columns), label_column=label_column)
    columns = list(text_columns) + ([label_column] if label_column else [])
    if tfds_example_gen.is_tfds(train):  # a TFDS split, read as TfdsExampleGen reads it
        source = tfds_example_gen.parse_source(train, "train", tfds_data_dir)
        files = [train]
        read = lambda _: _located(_with_columns(  # noqa: E731
            tfds_example_gen.read_examples(source), train, columns), train)
        eval_sources = [eval] if eval else []
        read_eval = lambda name: _located(_with_columns(  # noqa: E731
            tfds_example_gen.read_examples(tfds_example_gen.parse_source(
                name, "test", tfds_data_dir)), name, columns), name)
        hash_split = None if eval else _HashSplit(*tfds_example_gen.input_configs(
            train, None, eval_percent, tfds_data_dir))
    else:
        inputs = resolve_inputs(train, eval, eval_percent)
        files = list(inputs.train_files)
        read = read_eval = lambda path: read_located_rows(path, checks)  # noqa: E731
        eval_sources = list(inputs.eval_files)
        hash_split = None if eval else _HashSplit(inputs.input_config, inputs.output_config)
    declared = set(labels) if labels is not None else None

    def label_values(features) -> Optional[List[str]]:
        """The row's label values, or None when one is not declared (a bad row)."""
        values = [value.strip() for value in _value(features[label_column])]
        if declared is not None:
            for value in values:
                parts = split_cell(value, label_separator) if label_separator else [value]
                if any(part not in declared for part in parts):
                    return None
        return values

    labels_by_kind: Dict[str, collections.Counter] = collections.defaultdict(collections.Counter)
    eval_by_kind: Dict[str, collections.Counter] = collections.defaultdict(collections.Counter)
    eval_rows_by_kind: collections.Counter = collections.Counter()
    # (kind, label) -> where its first rows are (a multi-label cell's labels one by one).
    places: Dict[tuple, List[str]] = collections.defaultdict(list)
    texts: List[str] = []
    n = bad = 0
    for path in files:
        for item in read(path):
            if isinstance(item, BadRow):
                bad += 1
                continue
            example = item.example
            features = example.features.feature
            kind = values = None
            if label_column:
                kind = label_kind(features[label_column])
                values = label_values(features)
                if values is None:
                    bad += 1
                    continue
            n += 1
            to_eval = hash_split is not None and hash_split(example) == EVAL_SPLIT
            if label_column:
                labels_by_kind[kind].update(values)
                if to_eval:
                    eval_by_kind[kind].update(values)
                if find_suspects:
                    for value in values:
                        for part in split_cell(value, label_separator) if label_separator \
                                else [value]:
                            where = places[(kind, part)]
                            if len(where) < MAX_SUSPECT_ROWS:
                                where.append(f"{path} {item.unit} {item.line}")
            if to_eval:
                eval_rows_by_kind[kind] += 1
            for column in text_columns:
                if len(texts) < MAX_VOCAB_TEXTS:
                    texts.extend(_value(features[column]))
    if n == 0:
        raise DataError(f"{train}: no usable examples ({bad:,} bad rows)")
    for source in eval_sources:
        for item in read_eval(source):
            if isinstance(item, BadRow):
                continue
            features = item.example.features.feature
            kind = None
            if label_column:
                kind = label_kind(features[label_column])
                values = label_values(features)
                if values is None:
                    continue
                eval_by_kind[kind].update(values)
            eval_rows_by_kind[kind] += 1
    kind = max(labels_by_kind, key=lambda k: sum(labels_by_kind[k].values()), default=None)
    if single_label and kind:
        counts = labels_by_kind[kind]
        other = sum(sum(c.values()) for k, c in labels_by_kind.items() if k != kind)
        n, bad = n - other, bad + other
        # Rows of another label type are bad rows in the eval split too; with --eval and no
        # --labels so are rows whose label never occurs in training (RowChecks.known_labels).
        eval_labels = eval_by_kind[kind]
        eval_n = eval_rows_by_kind[kind]
        if eval_sources and declared is None:
            unseen = [value for value in eval_labels if value not in counts]
            eval_n -= sum(eval_labels.pop(value) for value in unseen)
    else:
        counts = sum(labels_by_kind.values(), collections.Counter())
        eval_labels = sum(eval_by_kind.values(), collections.Counter())
        eval_n = sum(eval_rows_by_kind.values())
    if single_label and len(counts) == 1:
        (label, count), = counts.items()
        raise DataError(
            f"{train}: every training row has the label {label!r} ({count:,} rows); a "
            "classifier needs at least two classes. Check --label-column and the data export.")
    parts = collections.Counter()
    for value, count in counts.items():
        for part in split_cell(value, label_separator) if label_separator else [value]:
            parts[part] += count
    suspects = []
    if find_suspects and declared is None:
        kinds = [kind] if single_label else list(labels_by_kind)
        suspects = [SuspectLabel(label, parts[label], [
            where for k in kinds for where in places.get((k, label), [])][:MAX_SUSPECT_ROWS])
            for label in suspect_values(parts, n)]
    missing = natural_label_order(declared - set(parts)) if declared is not None else []
    return DataScan(files=files, num_examples=n, label_counts=dict(counts), texts=texts,
                    label_kind=kind, bad_rows=bad, eval_label_counts=dict(eval_labels),
                    eval_num_examples=eval_n, suspect_labels=suspects, missing_labels=missing)


def suspect_values(counts: Mapping[str, int], rows: int) -> List[str]:
    """The labels in a tiny share of `rows` (under SUSPECT_SHARE, or a single row) while the
    most frequent one is at least SUSPECT_RATIO times as frequent; natural order. None when
    every label would be a suspect."""
    if not counts:
        return []
    top = max(counts.values())
    found = [label for label, count in counts.items()
             if (count == 1 or count < SUSPECT_SHARE * rows) and top >= SUSPECT_RATIO * count]
    return natural_label_order(found) if len(found) < len(counts) else []


class _Located(NamedTuple):
    example: object
    line: int
    unit: str


def _located(examples, source: str):
    """TFDS examples with their record number, as the file readers give their rows."""
    for number, example in enumerate(examples, 1):
        yield _Located(example, number, "record")
