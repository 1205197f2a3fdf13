"""The report's plots, drawn with matplotlib into PNG files beside the HTML.

Each function returns the file name it wrote (relative to `out_dir`), or None when the run has
no data for that plot. Figures are built with `matplotlib.figure.Figure` (no pyplot global
state, no display needed: the Agg canvas renders in memory).
"""
import os
from typing import List, Optional

from matplotlib.figure import Figure

from pipeline.report import tuning
from pipeline.report.model import ConfusionMatrix, ReliabilityBin, ReportData
from trainer.label_order import in_id_order

_DPI = 100
_COLORS = {"train": "#1f77b4", "eval": "#ff7f0e"}


def _save(fig: Figure, out_dir: str, name: str) -> str:
    fig.tight_layout()
    fig.savefig(os.path.join(out_dir, name), dpi=_DPI, format="png")
    return name


def data_summary(data: ReportData, out_dir: str) -> Optional[str]:
    """Label counts per split (bars) and words per text per split (histogram)."""
    has_labels = any(data.label_counts.values())
    has_lengths = any(data.text_lengths.values())
    if not has_labels and not has_lengths:
        return None
    panels = int(has_labels) + int(has_lengths)
    fig = Figure(figsize=(5.5 * panels, 3.6))
    index = 1
    if has_labels:
        ax = fig.add_subplot(1, panels, index)
        index += 1
        splits = [s for s in sorted(data.label_counts) if data.label_counts[s]]
        labels = in_id_order({label for s in splits for label in data.label_counts[s]},
                             data.label_names)[:30]
        width = 0.8 / max(1, len(splits))
        for i, split in enumerate(splits):
            xs = [j + i * width for j in range(len(labels))]
            ax.bar(xs, [data.label_counts[split].get(label, 0) for label in labels],
                   width=width, label=split)
        ax.set_xticks([j + 0.4 - width / 2 for j in range(len(labels))])
        ax.set_xticklabels(labels, rotation=30 if len(labels) > 4 else 0, ha="right"
                           if len(labels) > 4 else "center")
        ax.set_ylabel("examples")
        ax.set_title("Examples per label and split")
        ax.legend()
    if has_lengths:
        ax = fig.add_subplot(1, panels, index)
        splits = [s for s in sorted(data.text_lengths) if data.text_lengths[s]]
        top = max(max(data.text_lengths[s]) for s in splits)
        bins = min(40, max(5, top))
        for split in splits:
            ax.hist(data.text_lengths[split], bins=bins, range=(0, top), alpha=0.6, label=split,
                    density=True)
        ax.set_xlabel("words per text")
        ax.set_ylabel("share of examples")
        ax.set_title("Text length")
        ax.legend()
    return _save(fig, out_dir, "data_summary.png")


def training_curves(data: ReportData, out_dir: str) -> Optional[str]:
    """Loss and each Keras metric per epoch, train and eval ("val_" keys) on one panel each."""
    history = data.history
    names = [k for k in history if not k.startswith("val_") and k not in ("lr", "learning_rate")]
    if not names:
        return None
    names.sort(key=lambda k: (k != "loss", k))
    fig = Figure(figsize=(5 * len(names), 3.6))
    for i, name in enumerate(names, start=1):
        ax = fig.add_subplot(1, len(names), i)
        for series, key in (("train", name), ("eval", f"val_{name}")):
            values = history.get(key)
            if values:
                epochs = list(range(1, len(values) + 1))
                ax.plot(epochs, values, marker="o", color=_COLORS[series], label=series)
        ax.set_xlabel("epoch")
        ax.set_title(name)
        ax.xaxis.get_major_locator().set_params(integer=True)
        ax.legend()
    return _save(fig, out_dir, "training_curves.png")


def tuning_trials(data: ReportData, out_dir: str) -> Optional[str]:
    """--tune: the objective on the tuning split per trial, in the order they ran, the best
    one marked."""
    best = tuning.best_trial(data.tuning)
    if best is None:
        return None
    trials = [t for t in data.tuning["trials"] if t.get("score") is not None]
    objective = data.tuning.get("objective") or {}
    label = objective.get("label") or objective.get("metric") or "objective"
    fig = Figure(figsize=(5.5, 3.6))
    ax = fig.add_subplot(1, 1, 1)
    ax.plot([t["trial"] for t in trials], [t["score"] for t in trials], marker="o",
            color=_COLORS["train"], label="trial")
    ax.scatter([best["trial"]], [best["score"]], marker="*", s=260, color="#d62728", zorder=3,
               label=f"best (trial {best['trial']}): {best['score']:.4g}")
    ax.set_xlabel("trial")
    ax.set_ylabel(f"{label} ({'lower' if objective.get('direction') == 'min' else 'higher'}"
                  " is better)")
    ax.set_title(f"Tuning: {label} on the tuning split")
    ax.xaxis.get_major_locator().set_params(integer=True)
    ax.legend()
    return _save(fig, out_dir, "tuning_trials.png")


def confusion_matrix(role: str, matrix: ConfusionMatrix, out_dir: str) -> str:
    n = len(matrix.labels)
    size = min(9.0, 2.5 + 0.6 * n)
    fig = Figure(figsize=(size + 1, size))
    ax = fig.add_subplot(1, 1, 1)
    image = ax.imshow(matrix.counts, cmap="Blues")
    fig.colorbar(image, ax=ax, fraction=0.046)
    ax.set_xticks(range(n))
    ax.set_yticks(range(n))
    ax.set_xticklabels(matrix.labels, rotation=30 if n > 4 else 0)
    ax.set_yticklabels(matrix.labels)
    ax.set_xlabel("predicted")
    ax.set_ylabel("actual")
    ax.set_title(f"Confusion matrix ({role}, eval split)")
    peak = max((v for row in matrix.counts for v in row), default=0)
    if n <= 20:
        for a, row in enumerate(matrix.counts):
            for p, value in enumerate(row):
                ax.text(p, a, f"{value:g}", ha="center", va="center",
                        color="white" if value > peak / 2 else "black")
    return _save(fig, out_dir, f"confusion_{_slug(role)}.png")


def reliability(bins: List[ReliabilityBin], xlabel: str, ylabel: str, title: str,
                out_dir: str) -> Optional[str]:
    """Reliability diagram: per confidence bin, the share predicted correctly (bars) against
    the diagonal of perfect calibration, each bar labelled with its number of examples; below,
    the examples per bin."""
    bins = [b for b in bins if b.count > 0]
    if not bins:
        return None
    fig = Figure(figsize=(6.4, 5.6))
    top = fig.add_subplot(4, 1, (1, 3))
    bottom = fig.add_subplot(4, 1, 4, sharex=top)
    lefts = [b.lower for b in bins]
    widths = [b.upper - b.lower for b in bins]
    top.plot([0, 1], [0, 1], linestyle="--", color="grey", label="perfectly calibrated")
    top.bar(lefts, [b.accuracy for b in bins], width=widths, align="edge", color="#1f77b4",
            edgecolor="white", alpha=0.85, label="observed")
    top.scatter([b.confidence for b in bins], [b.confidence for b in bins], marker="_", s=300,
                color="#d62728", zorder=3, label="mean confidence in the bin")
    # Top-label confidence of n classes is at least 1/n: the axis starts at the first bin.
    start = min(b.lower for b in bins)
    top.set_xlim(start, 1)
    top.set_ylim(0, 1.25)  # room for the legend above the bars
    top.set_yticks([0, 0.2, 0.4, 0.6, 0.8, 1.0])
    top.set_ylabel(ylabel)
    top.set_title(title)
    top.legend(loc="upper left", fontsize=8, ncol=2)
    counts = bottom.bar(lefts, [b.count for b in bins], width=widths, align="edge",
                        color="#7f7f7f", edgecolor="white")
    bottom.bar_label(counts, labels=[f"{b.count:,}" for b in bins], fontsize=8, padding=1)
    bottom.set_ylim(0, max(b.count for b in bins) * 1.35)
    bottom.set_ylabel("examples")
    bottom.set_xlabel(xlabel)
    return _save(fig, out_dir, "calibration.png")


def _slug(text: str) -> str:
    return "".join(c if c.isalnum() else "_" for c in text)
