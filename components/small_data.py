"""How many rows a figure needs: the small-data warning and the smallest splits a drift or
skew comparison measures anything on.

No TensorFlow here: the run summary imports it too.

**Small data.** Under `SMALL_DATA_ROWS` rows a run still trains, but its figures are noisy: the
accuracy on n eval rows has a standard error of up to 0.5/sqrt(n) (a share measured on n
independent rows), about ±0.2 on 6 rows and ±0.06 on 60.

**Drift and skew on small splits.** A comparator compares the distributions of two splits (this
run's data with the previous run's, or train with eval). Two samples of the *same*
distribution differ by chance; the comparison only means something when that chance
difference stays below the threshold. For one value's share p, measured on splits of n_a and
n_b rows, the difference of the two measured shares has the standard deviation
sqrt(p(1-p)/n_eff), with n_eff = n_a·n_b/(n_a+n_b), at most 0.5/sqrt(n_eff) (p = 0.5). So
95% of pure-noise L-infinity distances stay under

    noise(n_a, n_b) = 1.96 · 0.5 / sqrt(n_eff)

and a comparison is made only when noise(n_a, n_b) <= its threshold, i.e. n_eff >= (0.98 /
threshold)². For the default data's threshold 0.1 that is n_eff >= 96: about 100 eval rows
beside a large training split, or 193 rows on each side of a drift comparison. The same rule
is used for the Jensen-Shannon divergence of TFDV's text-length histograms, which has no such
closed form. Measured on the default data (pairs of random samples of it, 100 pairs per size),
the 95th percentiles of the two distances against noise():

    rows (n_eff)        L-infinity (label)   Jensen-Shannon (text length)   noise()
    2000 vs 25 (24.7)         0.21                    0.21                   0.20
    50 vs 50 (25)             0.18                    0.15                   0.20
    100 vs 100 (50)           0.14                    0.08                   0.14
    2000 vs 100 (95)          0.10                    0.09                   0.10
    200 vs 200 (100)          0.10                    0.06                   0.10
    2000 vs 200 (182)         0.06                    0.06                   0.07

So at the minimum size about 5% of comparisons of two samples of one distribution still
exceed the threshold (a few more on a tiny split beside a large one), and fewer above it.
A smaller comparison is skipped with a warning and listed in `SKIPPED_FILE` of the drift/skew
anomalies artifact (see `read_skipped`).
"""
import dataclasses
import json
import math
import os
from typing import List, Optional, Sequence

from trainer.uris import is_uri

SMALL_DATA_ROWS = 300
# Two-sided 95% quantile of the standard normal distribution.
Z_95 = 1.96
SKIPPED_FILE = "skipped_comparisons.json"


def accuracy_standard_error(eval_rows: int) -> float:
    """The largest standard error of a share (accuracy) measured on `eval_rows` rows."""
    return 0.5 / math.sqrt(eval_rows) if eval_rows > 0 else float("inf")


def small_data_warning(train_rows: int, eval_rows: Optional[int] = None) -> Optional[str]:
    """The warning for a run on fewer than SMALL_DATA_ROWS rows (train + eval), else None.

    `eval_rows` None: not known (yet)."""
    rows = train_rows + (eval_rows or 0)
    if rows >= SMALL_DATA_ROWS:
        return None
    counted = (f"{train_rows:,} training and {eval_rows:,} eval rows" if eval_rows is not None
               else f"{train_rows:,} training rows")
    text = (f"WARNING: small data: {counted}, under {SMALL_DATA_ROWS}. The run trains, but its "
            "figures are noisy")
    if eval_rows:
        text += (f": an accuracy measured on {eval_rows:,} eval rows is uncertain by up to "
                 f"±{accuracy_standard_error(eval_rows):.2f} (one standard error)")
    return text + ("; drift/skew comparisons on splits too small to measure are skipped. "
                   "More data, above all more eval rows, makes the figures trustworthy.")


def effective_rows(rows_a: int, rows_b: int) -> float:
    """n_a·n_b/(n_a+n_b): the size whose sampling noise two samples of these sizes share."""
    return rows_a * rows_b / (rows_a + rows_b) if rows_a > 0 and rows_b > 0 else 0.0


def noise(rows_a: int, rows_b: int) -> float:
    """The distance two splits of one distribution stay under 95% of the time (L-infinity,
    worst case), on rows_a and rows_b rows."""
    n_eff = effective_rows(rows_a, rows_b)
    return Z_95 * 0.5 / math.sqrt(n_eff) if n_eff else float("inf")


def measurable(threshold: float, rows_a: int, rows_b: int) -> bool:
    """Whether a distance above `threshold` can be told from sampling noise on these splits."""
    return noise(rows_a, rows_b) <= threshold


def minimum_effective_rows(threshold: float) -> float:
    """The smallest n_eff at which `measurable` holds for `threshold`."""
    return (Z_95 * 0.5 / threshold) ** 2


@dataclasses.dataclass
class SkippedComparison:
    check: str        # "drift" or "skew"
    split: str        # the anomalies split: "train", "eval" (drift) or "train_vs_eval" (skew)
    feature: str
    rows: Sequence[int]   # (this split's rows, the compared split's rows)
    threshold: float

    def __str__(self) -> str:
        other = "the previous run's" if self.check == "drift" else "eval"
        first = self.split if self.check == "drift" else "train"
        return (f"{self.check} of '{self.feature}' ({first} {self.rows[0]:,} rows vs "
                f"{other} {self.rows[1]:,}): sampling noise alone reaches "
                f"{noise(*self.rows):.2f} on splits this small, above the threshold "
                f"{self.threshold:g} (a comparison needs n_a·n_b/(n_a+n_b) >= "
                f"{minimum_effective_rows(self.threshold):.0f}); skipped")


def skipped_warning(skipped: Sequence[SkippedComparison]) -> str:
    lines = ["WARNING: splits too small to measure a distribution distance; these drift/skew "
             "comparisons were skipped:"]
    lines += [f"  - {s}" for s in skipped]
    return "\n".join(lines)


def write_skipped(directory: str, skipped: Sequence[SkippedComparison], opener=open) -> None:
    with opener(os.path.join(directory, SKIPPED_FILE), "w") as f:
        f.write(json.dumps([dataclasses.asdict(s) for s in skipped], indent=2) + "\n")


def read_skipped(anomalies_uri: str) -> List[SkippedComparison]:
    """The comparisons a drift/skew check skipped ([] when none, or no such file)."""
    path = os.path.join(anomalies_uri, SKIPPED_FILE)
    if is_uri(path):  # a remote artifact store
        import tensorflow as tf
        if not tf.io.gfile.exists(path):
            return []
        text = tf.io.gfile.GFile(path).read()
    elif not os.path.exists(path):
        return []
    else:
        with open(path) as f:
            text = f.read()
    return [SkippedComparison(**{**item, "rows": tuple(item["rows"])})
            for item in json.loads(text)]
