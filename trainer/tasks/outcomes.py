"""What a task's predictions on single eval examples mean, for the run report's examples
(`Task.example_outcomes`, pipeline/example_predictions.py).

No TensorFlow here: the report reads an `ExampleView` back from the predictions file, and the
raw examples are read as `tf.train.Example` protocol buffers (protobuf only).
"""
import dataclasses
from typing import Any, List, NamedTuple, Optional, Tuple


@dataclasses.dataclass(frozen=True)
class ExampleView:
    """How the report names and orders a task's example outcomes. The defaults are
    single-label classification's."""
    # The column of the score the rows are ranked by (highest first).
    score: str = "confidence"
    # The column of the true label.
    label: str = "true label"
    # The first table: the first rows of the mistakes ranked by score ("The 10 ...").
    mistakes: str = "most confident mistakes"
    mistakes_order: str = "most confident first"
    # The second table: a few right predictions, and how they were picked.
    correct: str = "Correct examples"
    correct_order: str = "From the most to the least confident correct prediction."
    # False: no prediction is right or wrong (regression): every row is ranked by its error,
    # the first table shows the largest, the second the smallest.
    right_or_wrong: bool = True
    # What the confidence is, when the model gives the probability that a prediction is right
    # (the reliability diagram's axis); None: no reliability diagram.
    confidence: Optional[str] = "confidence (largest class probability)"
    # The score is a count ("%d") or a real number ("%.4f").
    score_format: str = "%.4f"


@dataclasses.dataclass
class ExampleOutcome:
    """One eval example's prediction next to its true label, as the report shows it."""
    predicted: str
    label: str
    # None when nothing is right or wrong (ExampleView.right_or_wrong False).
    correct: Optional[bool]
    # The mistakes are shown highest score first.
    score: float
    # The model's probability that the prediction is right (the reliability diagram's bins).
    confidence: Optional[float] = None
    # Per word (word, predicted tag, true tag), for tasks that tag words.
    words: Optional[List[Tuple[str, str, str]]] = None


def values(example: Any, column: str) -> List[Any]:
    """The values of a `tf.train.Example`'s feature (strings decoded; [] when absent)."""
    if column not in example.features.feature:
        return []
    feature = example.features.feature[column]
    if feature.bytes_list.value:
        return [v.decode("utf-8", "replace") for v in feature.bytes_list.value]
    return list(feature.int64_list.value or feature.float_list.value)


def text(value: Any) -> str:
    """A served string output (bytes) or a number as text."""
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


class ExampleOutcomes(NamedTuple):
    """A batch's outcomes (one per example, in order; None for an example that has none, e.g.
    no true label) and how the report shows them."""
    view: ExampleView
    rows: List[Optional[ExampleOutcome]]
