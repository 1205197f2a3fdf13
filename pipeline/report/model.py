"""What a run report shows, as plain data (no TensorFlow): built from ML Metadata by
`collect.py`, drawn by `plots.py`, rendered by `html_report.py` and `model_card.py`.

Models are columns keyed by their role in the run. `collect.py` fills
`ReportData.models` from every ModelEvaluation of the run:

* "candidate"    — the model this run trained (TFMA model "candidate" of the Evaluator),
* "simple baseline"    — a simple model trained in the same run by another node (the
                         TF-IDF/bag-of-words baseline), evaluated by TFMA like the candidate,
* "last blessed model" — the last blessed model the Evaluator compared with (TFMA's
                         "baseline").

Any other role name becomes one more column. Slices, confusion matrices and calibration
bins are keyed the same way; each section of the report appears only when it has data.
"""
import dataclasses
import os
import re
import statistics
from typing import Dict, List, Optional

from trainer.tasks.outcomes import ExampleView

CANDIDATE = "candidate"
BASELINE = "simple baseline"
LAST_BLESSED = "last blessed model"
# Column order in tables; other roles follow in insertion order.
ROLE_ORDER = (CANDIDATE, BASELINE, LAST_BLESSED)
OVERALL = "Overall"
# How the report names TFMA's metrics.
METRIC_NAMES = {"sparse_categorical_accuracy": "accuracy", "auc": "AUC",
                "expected_calibration_error": "expected calibration error",
                "example_count": "examples", "mean_squared_error": "MSE",
                "mean_absolute_error": "MAE"}


@dataclasses.dataclass
class Anomaly:
    split: str
    feature: str
    description: str
    severity: str = "ERROR"


@dataclasses.dataclass
class SliceMetrics:
    """One TFMA slice (e.g. "label:pos", "words(text):9-16"): role -> metric -> value."""
    name: str
    metrics: Dict[str, Dict[str, float]]


@dataclasses.dataclass
class ConfusionMatrix:
    labels: List[str]
    # counts[actual][predicted], in the order of `labels`.
    counts: List[List[float]]


@dataclasses.dataclass
class CalibrationBin:
    lower: float
    upper: float
    count: float
    # Mean label (observed positive rate) and mean predicted probability in the bin.
    mean_label: float
    mean_prediction: float


@dataclasses.dataclass
class ReliabilityBin:
    """Top-label reliability: eval examples whose confidence (largest class probability) is
    in [lower, upper), their mean confidence and the share of them predicted correctly."""
    lower: float
    upper: float
    count: int
    confidence: float
    accuracy: float


@dataclasses.dataclass
class ExamplePrediction:
    text: Dict[str, str]  # raw text column -> value
    label: str
    predicted: str
    confidence: Optional[float]  # the probability that the prediction is right, if known
    correct: Optional[bool] = None  # None: not right or wrong (regression)
    # What the rows are ranked by (ExampleView.score; None: the confidence).
    score: Optional[float] = None
    # Per word [word, predicted tag, true tag], for tasks that tag words.
    words: List[List[str]] = dataclasses.field(default_factory=list)

    @property
    def shown_score(self) -> float:
        return self.confidence if self.score is None else self.score


@dataclasses.dataclass
class ExamplePredictions:
    """The candidate's predictions on the eval split (pipeline/example_predictions.py)."""
    predicted: int  # examples predicted
    mistakes: Optional[int]  # None: no prediction is right or wrong (view.right_or_wrong)
    first_examples_only: bool  # the split had more examples than were predicted
    # The first mistakes by score, highest first (without right or wrong: the largest scores).
    confident_mistakes: List[ExamplePrediction]
    correct_examples: List[ExamplePrediction]  # (without right or wrong: the smallest scores)
    reliability: List[ReliabilityBin]
    text_columns: List[str] = dataclasses.field(default_factory=list)
    # How the task names and ranks them (trainer/tasks/outcomes.py; the default:
    # single-label classification's, as in files written before there were others).
    view: ExampleView = dataclasses.field(default_factory=ExampleView)
    mean_score: Optional[float] = None  # over every predicted example


@dataclasses.dataclass
class LineageStep:
    """One hop of lineage, newest first: an artifact and the execution that produced it."""
    artifact_type: str
    uri: str
    producer: str
    run_id: str
    details: Dict[str, str] = dataclasses.field(default_factory=dict)


@dataclasses.dataclass
class ComponentTime:
    name: str
    state: str
    seconds: float


@dataclasses.dataclass
class ReportData:
    run_id: str
    started: str = ""  # ISO-8601, local time
    task: str = ""
    pipeline_name: str = ""
    model_name: str = ""  # the served model's name (the serving directory)
    output_dir: str = ""
    data_sources: Dict[str, str] = dataclasses.field(default_factory=dict)  # split -> path
    checkpoint: Dict[str, str] = dataclasses.field(default_factory=dict)
    max_seq_length: Optional[int] = None
    hyperparameters: Dict[str, str] = dataclasses.field(default_factory=dict)
    # The task's raw text columns of the first eval example (for the model card's requests).
    example_features: Dict[str, List[str]] = dataclasses.field(default_factory=dict)
    # Data: examples per split, label -> count per split, words per text per split.
    split_counts: Dict[str, int] = dataclasses.field(default_factory=dict)
    label_counts: Dict[str, Dict[str, int]] = dataclasses.field(default_factory=dict)
    text_lengths: Dict[str, List[int]] = dataclasses.field(default_factory=dict)
    anomalies: List[Anomaly] = dataclasses.field(default_factory=list)
    # Trainer: Keras history (loss, accuracy, val_loss, val_accuracy, ...), one value an epoch.
    history: Dict[str, List[float]] = dataclasses.field(default_factory=dict)
    steps_per_epoch: Optional[int] = None
    # ELECTRA pre-training steps this run's model had (ElectraPretrainer; 0: none).
    pretraining_steps: int = 0
    # --tune: run_record.RunRecord.tuning (the objective, every trial, the best values, the
    # search's settings under "settings"); None without --tune.
    tuning: Optional[Dict] = None
    # Evaluation: role -> overall metric -> value; what each role is (e.g. its Model URI).
    models: Dict[str, Dict[str, float]] = dataclasses.field(default_factory=dict)
    model_descriptions: Dict[str, str] = dataclasses.field(default_factory=dict)
    slices: List[SliceMetrics] = dataclasses.field(default_factory=list)
    confusion: Dict[str, ConfusionMatrix] = dataclasses.field(default_factory=dict)
    calibration: Dict[str, List[CalibrationBin]] = dataclasses.field(default_factory=dict)
    calibration_label: str = ""  # the class TFMA's calibration histogram is of
    # The candidate's per-example predictions (None: not recorded for this run).
    predictions: Optional[ExamplePredictions] = None
    # The Evaluators' change thresholds on the headline metric, by the role compared with
    # (LAST_BLESSED: minus eval.max_accuracy_drop; BASELINE: eval.baseline_margin):
    # {"metric": name, "change": candidate minus the other must be at least (higher is
    # better) or at most (lower is better) this, "higher_is_better": bool}.
    change_thresholds: Dict[str, Dict] = dataclasses.field(default_factory=dict)
    label_names: List[str] = dataclasses.field(default_factory=list)
    # Decision.
    blessed: Optional[bool] = None
    failed_checks: List[str] = dataclasses.field(default_factory=list)
    deciding_rule: Optional[str] = None
    # Every blessing rule in order, when a blessing gate recorded them:
    # {"rule": str, "applied": bool, "passed": bool, "detail": str, "checks": [...]}, each
    # check {"metric", "value", "threshold", "higher_is_better", "reason", "passed", "text"}.
    blessing_rules: List[Dict] = dataclasses.field(default_factory=list)
    # Beating the simple baseline required (False: waived), and the candidate's lead over it
    # on the headline metric (negative: worse).
    require_beat_baseline: Optional[bool] = None
    baseline_gap: Optional[float] = None
    # Warnings the banner shows (small data, the checkpoint's weights, a waived baseline).
    warnings: List[str] = dataclasses.field(default_factory=list)
    quick_note: str = ""  # a --quick run's pipeline_config.quick_note (also among the warnings)
    stopped_at: Optional[str] = None  # the component where the run stopped, if it did
    pushed_path: Optional[str] = None
    not_pushed_reason: Optional[str] = None  # the Pusher's TF Serving check refused the model
    components: List[ComponentTime] = dataclasses.field(default_factory=list)
    lineage: List[LineageStep] = dataclasses.field(default_factory=list)

    @property
    def pushed_version(self) -> Optional[str]:
        return self.pushed_path.rstrip("/").rsplit("/", 1)[-1] if self.pushed_path else None

    def roles(self) -> List[str]:
        """Model roles with metrics, in display order."""
        ordered = [r for r in ROLE_ORDER if r in self.models]
        return ordered + [r for r in self.models if r not in ordered]

    def decision_text(self) -> str:
        if self.stopped_at:
            return f"Stopped at {self.stopped_at}: nothing was trained or pushed."
        if self.blessed is None:
            return "Not evaluated: the run stopped before the Evaluator."
        if self.blessed:
            text = "BLESSED: every threshold passed."
        else:
            text = "NOT BLESSED: " + ("; ".join(self.failed_checks) or "a threshold failed") + "."
        if self.deciding_rule:
            text += f" Deciding rule: {self.deciding_rule}."
        worse = self.worse_than_baseline_text()
        if worse:
            text += " " + worse
        return text

    @property
    def epochs_trained(self) -> int:
        return max((len(v) for v in self.history.values()), default=0)

    def worse_than_baseline_text(self) -> Optional[str]:
        """Said plainly wherever the decision is shown, when beating the baseline was waived
        and the candidate lost to it."""
        if self.require_beat_baseline is False and self.baseline_gap is not None \
                and self.baseline_gap < 0:
            return (f"This model is worse than the simple baseline by {-self.baseline_gap:.4g} "
                    "(beating it was waived with --no-require-beat-baseline).")
        return None

    def push_text(self) -> str:
        if self.pushed_path:
            return f"Pushed version {self.pushed_version} to {self.pushed_path}."
        if self.not_pushed_reason:
            return f"Nothing pushed: {self.not_pushed_reason}."
        return "Nothing pushed."

    def metric_label(self, name: str) -> str:
        """'precision/class_1' -> 'precision (pos)' when the label names are known."""
        base, _, sub = name.partition("/class_")
        label = METRIC_NAMES.get(base, base)
        if sub.isdigit() and int(sub) < len(self.label_names):
            return f"{label} ({self.label_names[int(sub)]})"
        return label + name[len(base):]


def predictions_file(run_output_dir: str, run_id: str) -> str:
    """Where the run's per-example predictions are (pipeline/example_predictions.py writes
    them after the run; the report reads them): RUN_OUTPUT/report/predictions/<run id>.json."""
    return os.path.join(run_output_dir, "report", "predictions",
                        re.sub(r"[^A-Za-z0-9._-]", "_", run_id) + ".json")


def length_summary(lengths: List[int]) -> Dict[str, float]:
    """min, median, 90th/99th percentile, max and mean of a list of lengths."""
    if not lengths:
        return {}
    ordered = sorted(lengths)

    def pct(p):
        return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))]
    return {"min": ordered[0], "median": statistics.median(ordered), "p90": pct(90),
            "p99": pct(99), "max": ordered[-1], "mean": round(statistics.fmean(ordered), 2)}
