"""One name per TFMA metric key, shared by the blessing gate, the run record and the report.

`accuracy`-style keys keep TFMA's name; a binarized class adds `/class_<id>` (or `/top_<k>`),
a macro-averaged aggregate `/macro` (micro-averaged keeps the plain name: it is the headline of
multi-label runs).
"""
from typing import Dict, Tuple


def metric_name(key) -> str:
    name = key.name
    if key.HasField("sub_key"):
        sub = key.sub_key
        if sub.HasField("class_id"):
            name += f"/class_{sub.class_id.value}"
        elif sub.HasField("top_k"):
            name += f"/top_{sub.top_k.value}"
    if key.HasField("aggregation_type") and key.aggregation_type.macro_average:
        name += "/macro"
    return name


def overall_metrics(evaluation_uri: str) -> Tuple[Dict[str, float], Dict[str, float]]:
    """Overall-slice scalar metrics of the candidate and of the baseline it was compared with
    (TFX's Evaluator names the models "candidate" and "baseline")."""
    import tensorflow_model_analysis as tfma
    candidate, baseline = {}, {}
    for metrics in tfma.load_metrics(evaluation_uri):
        if metrics.slice_key.single_slice_keys:
            continue
        for kv in metrics.metric_keys_and_values:
            if kv.key.is_diff or not kv.value.HasField("double_value"):
                continue
            target = baseline if kv.key.model_name == "baseline" else candidate
            target[metric_name(kv.key)] = kv.value.double_value.value
    return candidate, baseline
