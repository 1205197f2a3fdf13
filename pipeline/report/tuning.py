"""--tune in words: what the summary, the report and the model card say of the search
(run_record.RunRecord.tuning: the objective, every trial in the order it ran, the best values).
No TensorFlow."""
from typing import Dict, List, Mapping, Optional

ALGORITHM_NAMES = {"random": "random search", "bayesian": "Bayesian optimization",
                   "hyperband": "Hyperband"}
# The searched train fields, in the order tables show them (trainer/tuning.py SEARCHED).
SEARCHED = ("learning_rate", "layer_decay", "warmup_ratio", "epochs", "batch_size")


def best_trial(tuning: Optional[Mapping]) -> Optional[dict]:
    """The trial with the best score (in the objective's direction), or None."""
    scored = [t for t in (tuning or {}).get("trials", []) if t.get("score") is not None]
    if not scored:
        return None
    lower = (tuning.get("objective") or {}).get("direction") == "min"
    return (min if lower else max)(scored, key=lambda t: t["score"])


def objective_label(tuning: Mapping) -> str:
    objective = tuning.get("objective") or {}
    return objective.get("label") or objective.get("metric") or "the objective"


def searched_names(tuning: Mapping) -> List[str]:
    """The hyper-parameters the trials have, searched ones first."""
    names = {k for t in tuning.get("trials", []) for k in t if k not in ("trial", "score")}
    return [n for n in SEARCHED if n in names] + sorted(names - set(SEARCHED))


def hyperparameters_text(values: Mapping) -> str:
    """E.g. "learning_rate 0.00021, layer_decay 0.83, epochs 3"."""
    return ", ".join(f"{k} {v:.3g}" if isinstance(v, float) else f"{k} {v}"
                     for k, v in values.items())


def tuning_text(settings: Mapping, tuning: Mapping) -> str:
    """What --tune did: the trials, the objective, the best trial and the values trained with.
    `settings`: the config's tune section (as a dict)."""
    label = objective_label(tuning)
    trials = tuning.get("trials") or []
    cached = ", cached from an earlier run" if tuning.get("cached") else ""
    algorithm = settings.get("algorithm")
    text = (f"Tuned (--tune{cached}): {len(trials)} trial{'s' * (len(trials) != 1)}"
            + (f" of {ALGORITHM_NAMES.get(algorithm, algorithm)}" if algorithm else "")
            + (f", at most {settings['steps_per_trial']} training steps each"
               if settings.get("steps_per_trial") else "")
            + f", scored by {label} on "
            + (f"{settings['holdout_percent']}% of " if settings.get("holdout_percent") else "")
            + "the training split held out (not the eval split)")
    best = best_trial(tuning)
    if best is not None:
        text += f"; best: trial {best['trial']}, {label} {best['score']:.4g}"
    if tuning.get("best"):
        text += f"; the Trainer used {hyperparameters_text(tuning['best'])}"
    return text + "."
