"""Bad rows: what is wrong with a row, the policy for them, and the quarantine they go to.

A *row problem* concerns one row (line, record) and can be set aside: malformed CSV or JSON,
a row with the wrong number of fields, the header repeated mid-file, a text that is missing,
blank, not a string, not UTF-8 or holds a NUL, a label that is missing, of another type than
the training labels, not one of the declared labels (`--labels`, any split), or (eval split,
no `--labels`) never seen in training.

A *file problem* makes a whole file (or the data set) unusable and always fails the run:
an empty or header-only file, binary data, a missing text or label column, a corrupt TFRecord,
training data with a single class. Those raise BadInputError / DataError directly.

    checks = RowChecks(text_columns=["text"], label_column="label", label_kind="string")
    checks.problem(example, split="eval")   # None, or "label 'maybe' never occurs in ..."

Policy (`--on-bad-rows`): "fail" (default) stops the run and lists the first offenders;
"quarantine" writes them to OUTPUT/quarantine/<split>.jsonl (as read, with the problem; the
split is "input" when --eval is not given: the rows are set aside before the hash split) and
trains on the rest, unless their share of a split exceeds `max_bad_rows_fraction`. Under
"fail" the same listing is written, for fixing the data.
"""
from __future__ import annotations

import base64
import dataclasses
import json
import os
from typing import TYPE_CHECKING, Dict, Iterable, List, Optional, Sequence, Union

if TYPE_CHECKING:  # the readers' row type; TensorFlow loads only where rows are written
    import tensorflow as tf

FAIL, QUARANTINE = "fail", "quarantine"
POLICIES = (FAIL, QUARANTINE)
# How many offenders an error message lists before counting the rest.
MAX_LISTED = 5
# A bad row's raw text is kept up to this many characters in the quarantine.
MAX_RAW_CHARS = 1_000_000
SUMMARY_FILE = "summary.json"
_KINDS = {"bytes_list": "string", "int64_list": "integer", "float_list": "float"}
_SHOWN = 60


@dataclasses.dataclass(frozen=True)
class BadRow:
    """One row set aside: where it is, what is wrong, and the row as read."""

    file: str
    line: Optional[int]
    problem: str
    unit: str = "line"  # what `line` counts: "line", "row" (CSV, header = row 1), "record"
    raw: Union[str, bytes] = ""  # str (undecodable bytes as surrogate escapes) or bytes
    split: str = ""

    def __str__(self) -> str:
        where = self.file if self.line is None else f"{self.file} {self.unit} {self.line}"
        return f"{where}: {self.problem}"

    def to_json(self) -> str:
        record = {"split": split_label(self.split), "file": self.file, self.unit: self.line,
                  "problem": self.problem}
        raw = self.raw
        if isinstance(raw, str):
            try:
                record["raw"] = raw.encode("utf-8").decode("utf-8")
            except UnicodeEncodeError:  # undecodable input bytes: show them escaped, keep them exact
                record["raw"] = raw.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
                record["raw_base64"] = base64.b64encode(
                    raw.encode("utf-8", "surrogateescape")).decode("ascii")
        else:
            record["raw_base64"] = base64.b64encode(raw).decode("ascii")
        return json.dumps(record, ensure_ascii=False)

    @staticmethod
    def from_json(text: str) -> "BadRow":
        record = json.loads(text)
        unit = next(u for u in ("line", "row", "record") if u in record)
        raw = (base64.b64decode(record["raw_base64"]) if "raw_base64" in record
               else record.get("raw", ""))
        return BadRow(file=record["file"], line=record[unit], problem=record["problem"],
                      unit=unit, raw=raw, split=record.get("split", ""))

    def sort_key(self):
        return (self.file, self.line or 0)


class BadRowsError(ValueError):
    """The run stops because of bad rows; the message lists the first few and counts the rest."""

    def __init__(self, headline: str, rows: Sequence[BadRow], total: int,
                 listing: Optional[str] = None, hint: str = ""):
        self.rows = list(rows)
        self.total = total
        lines = [headline]
        lines += [f"  - {row}" for row in self.rows[:MAX_LISTED]]
        if total > min(len(self.rows), MAX_LISTED):
            lines.append(f"  ... and {total - min(len(self.rows), MAX_LISTED)} more")
        if listing:
            lines.append(f"Every bad row, with its problem: {listing}")
        if hint:
            lines.append(hint)
        super().__init__("\n".join(lines))


# ------------------------------------------------------------------------------ row checks


@dataclasses.dataclass
class RowChecks:
    """What a usable row needs, from the task and the pre-pipeline scan of the training data."""

    text_columns: List[str] = dataclasses.field(default_factory=list)
    label_column: Optional[str] = None
    # "string", "integer" or "float": a label of another kind is a bad row (None: any kind).
    label_kind: Optional[str] = None
    # The training labels; an eval row with another label is a bad row (None: no check). With
    # `label_separator` (multi-label) each label of a cell is checked.
    known_labels: Optional[List[str]] = None
    # The declared labels (--labels); a row of any split with another label is a bad row
    # (None: no check). With `label_separator` (multi-label) each label of a cell is checked.
    allowed_labels: Optional[List[str]] = None
    label_separator: Optional[str] = None
    on_bad_rows: str = FAIL
    max_bad_rows_fraction: float = 0.05
    # Where bad rows are written (OUTPUT/quarantine); None: nowhere.
    quarantine_dir: Optional[str] = None

    @property
    def required_columns(self) -> List[str]:
        return list(self.text_columns) + ([self.label_column] if self.label_column else [])

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: Optional[str]) -> Optional["RowChecks"]:
        return cls(**json.loads(text)) if text else None

    def problem(self, example: tf.train.Example, split: str = "") -> Optional[str]:
        """What makes `example` unusable, or None."""
        features = example.features.feature
        for column in self.text_columns:
            problem = _text_problem(column, features)
            if problem:
                return problem
        if self.label_column:
            return self._label_problem(features, split)
        return None

    def _label_problem(self, features, split: str) -> Optional[str]:
        column = self.label_column
        values = _values(features[column]) if column in features else []
        if not values:
            return _missing(column, features)
        kind = _KINDS[features[column].WhichOneof("kind")]
        if kind == "string":
            decoded = []
            for value in values:
                try:
                    decoded.append(value.decode("utf-8"))
                except UnicodeDecodeError:
                    return f"the label {_show(value)} is not valid UTF-8"
            if not "".join(decoded).strip():
                return "the label is blank"
            values = decoded
        if self.label_kind and kind != self.label_kind:
            return (f"the label {_show(values[0])} is {_article(kind)}, but the training labels "
                    f"are {self.label_kind}s")
        if self.allowed_labels is not None:
            problem = self._undeclared(values)
            if problem:
                return problem
        if self.known_labels is not None and split == "eval":
            known = set(self.known_labels)
            for label in self._labels_of(values):
                if label not in known:
                    shown = ", ".join(repr(k) for k in sorted(known)[:10])
                    more = f", ... ({len(known)} in all)" if len(known) > 10 else ""
                    return (f"the label {label!r} never occurs in the training data "
                            f"(its labels: {shown}{more})")
        return None

    def _labels_of(self, values) -> List[str]:
        """The labels of a row's label values (a multi-label cell's one by one)."""
        labels = []
        for value in values:
            label = value.strip() if isinstance(value, str) else str(value)
            labels += ([p.strip() for p in label.split(self.label_separator) if p.strip()]
                       if self.label_separator else [label])
        return labels

    def _undeclared(self, values) -> Optional[str]:
        allowed = set(self.allowed_labels)
        for part in self._labels_of(values):
            if part not in allowed:
                shown = ",".join(self.allowed_labels[:10])
                more = f",... ({len(allowed)} in all)" if len(allowed) > 10 else ""
                return (f"the label {part!r} is not one of the declared labels "
                        f"(--labels {shown}{more})")
        return None


def label_kind(feature) -> Optional[str]:
    """"string", "integer" or "float" for a feature with values, else None."""
    kind = feature.WhichOneof("kind")
    return _KINDS[kind] if kind and _values(feature) else None


def _values(feature) -> list:
    kind = feature.WhichOneof("kind")
    return list(getattr(feature, kind).value) if kind else []


def _text_problem(column: str, features) -> Optional[str]:
    values = _values(features[column]) if column in features else []
    if not values:
        return _missing(column, features)
    kind = features[column].WhichOneof("kind")
    if kind != "bytes_list":
        return f"{column!r} is a number ({_show(values[0])}), not a text"
    texts = []
    for value in values:
        try:
            text = value.decode("utf-8")
        except UnicodeDecodeError as e:
            return (f"{column!r} is not valid UTF-8 (byte {value[e.start:e.start + 1]!r} at byte "
                    f"{e.start + 1}): {_show(value.decode('utf-8', 'replace'))}")
        if "\x00" in text:
            return f"{column!r} holds a NUL character at position {text.index(chr(0)) + 1}"
        texts.append(text)
    if not "".join(texts).strip():
        return f"{column!r} is {'empty' if not ''.join(texts) else 'blank (only whitespace)'}"
    return None


def _missing(column: str, features) -> str:
    present = ", ".join(repr(name) for name in sorted(features)) or "nothing"
    return f"no value for {column!r} (empty, null or absent; the row has {present})"


def _show(value) -> str:
    text = repr(value.decode("utf-8", "replace") if isinstance(value, bytes) else value)
    return text if len(text) <= _SHOWN else text[:_SHOWN] + "..."


def _article(kind: str) -> str:
    return f"an {kind}" if kind[0] in "aeiou" else f"a {kind}"


# ------------------------------------------------------------------------------ quarantine


@dataclasses.dataclass
class SplitCounts:
    rows: int = 0  # rows read, good and bad
    bad: int = 0

    @property
    def fraction(self) -> float:
        return self.bad / self.rows if self.rows else 0.0


def split_label(split: str) -> str:
    """How a split is named to a user ("single_split" is the input before the hash split)."""
    return "input" if split == "single_split" else split


def decide(counts: Dict[str, SplitCounts], first_rows: Sequence[BadRow], checks: RowChecks,
           listing: Optional[str]) -> None:
    """Raises BadRowsError when the policy says the run must stop."""
    total = sum(c.bad for c in counts.values())
    if not total:
        return
    read = sum(c.rows for c in counts.values())
    if checks.on_bad_rows == FAIL:
        raise BadRowsError(
            f"{total:,} of {read:,} rows are bad; the run stopped before training "
            "(--on-bad-rows fail):", first_rows, total, listing,
            hint="Fix them, or rerun with --on-bad-rows quarantine to set them aside and "
                 f"train on the rest (at most {checks.max_bad_rows_fraction:.0%} of a split).")
    over = {split: c for split, c in counts.items() if c.fraction > checks.max_bad_rows_fraction}
    if over:
        shares = "; ".join(f"{split_label(s)}: {c.bad:,} of {c.rows:,} rows ({c.fraction:.1%})"
                           for s, c in sorted(over.items()))
        raise BadRowsError(
            f"Too many bad rows to train on the rest: {shares}, above the limit of "
            f"{checks.max_bad_rows_fraction:.0%} (--max-bad-rows-fraction); the run stopped "
            "before training:", first_rows, total, listing,
            hint="Fix the data, or raise --max-bad-rows-fraction if so many bad rows are expected.")


def write_summary(directory: str, counts: Dict[str, SplitCounts], checks: RowChecks,
                  examples_uri: str) -> None:
    summary = {"on_bad_rows": checks.on_bad_rows,
               "max_bad_rows_fraction": checks.max_bad_rows_fraction,
               "examples": examples_uri,
               "splits": {split_label(s): dataclasses.asdict(c) for s, c in sorted(counts.items())}}
    import tensorflow as tf
    with tf.io.gfile.GFile(os.path.join(directory, SUMMARY_FILE), "w") as f:
        f.write(json.dumps(summary, indent=2) + "\n")


def read_bad_rows(paths: Iterable[str]) -> Iterable[BadRow]:
    import tensorflow as tf
    for path in paths:
        with tf.io.gfile.GFile(path) as f:
            for line in f:
                if line.strip():
                    yield BadRow.from_json(line)
