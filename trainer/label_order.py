"""The order of a model's labels: class ids of text(-pair) classification (single- and
multi-label) and tag ids of token classification.

Ids follow the *natural order* of the label set, never the labels' frequencies: numbers
numerically (labels 0, 1, 2, 10 get ids 0, 1, 2, 3), then every other label by its string
("neg" before "pos"). The same label set always gets the same ids, whatever the counts and
from run to run. The set is known before the pipeline runs: the `--labels` the user declared
(`data.labels`), else the labels the data scan found in the training data. Transform reserves
them in this order at the start of its label vocabulary (`tft.compute_and_apply_vocabulary(
reserved_tokens=...)`), so the vocabulary file the model, the served label table and the
report read is in this order.

No TensorFlow here, and no import of the tasks: the CLI, the data scan and the report use it
too, and the tasks use it; the caller passes the task (its class or instance) whose traits
`has_classes` and `multi_label` decide.
"""
import decimal
import re
from typing import Iterable, List, Mapping, Optional

_NUMBER = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)$")


def _key(label: str):
    text = label.strip()
    if _NUMBER.match(text):
        return (0, decimal.Decimal(text), label)
    return (1, decimal.Decimal(0), label)


def natural_label_order(labels: Iterable[str]) -> List[str]:
    """The distinct labels: numbers numerically (0, 1, 2, 10; -1 and 2.5 too), then the other
    labels by their strings. Numbers that tie (1, 1.0, 01) are ordered by their strings."""
    return sorted(set(labels), key=_key)


def split_cell(cell: str, separator: str) -> List[str]:
    """The labels of one multi-label cell ("a, b" -> ["a", "b"]); empty parts dropped."""
    return [part.strip() for part in cell.split(separator) if part.strip()]


def declared_labels(config) -> Optional[List[str]]:
    """`--labels` (data.labels): the allowed labels, stripped, in natural order; None when
    not declared."""
    labels = getattr(config.data, "labels", None)
    if not labels:
        return None
    return natural_label_order(label.strip() for label in labels if label.strip())


def labels_in_counts(config, label_counts: Mapping[str, int], multi_label: bool) -> List[str]:
    """The distinct labels of the data scan's counts (a multi-label cell's labels split)."""
    if multi_label:
        return [part for cell in label_counts
                for part in split_cell(cell, config.data.label_separator)]
    return list(label_counts)


def label_vocabulary(config, label_counts: Mapping[str, int],
                     label_kind: Optional[str] = None, *, task) -> List[str]:
    """The labels in id order, as Transform's label vocabulary holds them: the declared
    labels, else those of the training data, in natural order ([] for tasks without classes).

    `task`: the task (class or instance, `trainer.tasks.task_class(config)`) whose traits say
    whether it has classes and several labels per row. `label_kind` is the data scan's: float
    labels are written as TensorFlow writes them (tf.strings.as_string: 0.5 -> "0.500000"),
    the strings Transform sees."""
    if not task.has_classes:
        return []
    labels = declared_labels(config) or natural_label_order(
        labels_in_counts(config, label_counts, task.multi_label))
    if label_kind == "float":
        labels = list(dict.fromkeys(f"{float(label):f}" if _NUMBER.match(label.strip())
                                    else label for label in labels))
    return labels


def in_id_order(labels: Iterable[str], label_names: Iterable[str] = ()) -> List[str]:
    """`labels` (e.g. those counted in a split) as the model numbers them: first those of
    `label_names` (the label vocabulary, in id order), then any other in natural order."""
    labels = set(labels)
    known = [label for label in label_names if label in labels]
    return known + natural_label_order(labels - set(known))
