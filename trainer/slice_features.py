"""An evaluation slice TFMA cannot take from a raw column: the length of the text, in buckets.

TFMA slices on features; the raw examples have the text but not its length. The Evaluator is
given `module_path="trainer.slice_features"`, so TFX calls `custom_extractors` below, which
returns TFMA's default extractors plus one, placed just before slicing, that adds to every
example the feature named by `length_feature(columns)`, e.g. `words(text)` or
`words(text+text_pair)`: the number of whitespace-separated words in those raw columns (for a
list column such as token-classification's `tokens`, the number of its values' words), as a
power-of-two bucket ("1-8", "9-16", ..., "513+"). The column names travel in the feature's
name because TFX hands `custom_extractors` nothing but the EvalConfig.
"""
import re
from typing import List, Optional, Sequence

import apache_beam as beam
import numpy as np
import tensorflow_model_analysis as tfma

_PATTERN = re.compile(r"^words\((.+)\)$")
BUCKET_BOUNDS = (8, 16, 32, 64, 128, 256, 512)


def length_feature(columns: Sequence[str]) -> str:
    """The slice feature holding the word-count bucket of these raw columns."""
    return f"words({'+'.join(columns)})"


def length_feature_columns(feature: str) -> Optional[List[str]]:
    match = _PATTERN.match(feature)
    return match.group(1).split("+") if match else None


def length_bucket(words: int) -> str:
    lower = 1
    for bound in BUCKET_BOUNDS:
        if words <= bound:
            return "0" if words == 0 else f"{lower}-{bound}"
        lower = bound + 1
    return f"{lower}+"


def word_count(value) -> int:
    """Whitespace-separated words in a raw feature value (a string or a list of strings)."""
    if value is None:
        return 0
    total = 0
    for item in np.asarray(value, dtype=object).reshape(-1):
        if isinstance(item, bytes):
            item = item.decode("utf-8", errors="replace")
        total += len(str(item).split())
    return total


def add_length_buckets(extracts: tfma.Extracts, features: Sequence[str]) -> tfma.Extracts:
    """A copy of one (unbatched) example's extracts with the length-bucket features added."""
    raw = extracts.get(tfma.FEATURES_KEY) or {}
    added = {}
    for feature in features:
        words = sum(word_count(raw.get(column)) for column in length_feature_columns(feature))
        added[feature] = np.array([length_bucket(words).encode()], dtype=object)
    result = dict(extracts)
    result[tfma.FEATURES_KEY] = {**raw, **added}
    return result


def length_bucket_extractor(features: Sequence[str]) -> tfma.extractors.Extractor:
    return tfma.extractors.Extractor(
        stage_name="AddTextLengthBuckets",
        ptransform=beam.Map(add_length_buckets, features=list(features)))


def custom_extractors(eval_shared_model, eval_config, tensor_adapter_config):
    """TFX Evaluator's hook: TFMA's default extractors with the length buckets before slicing."""
    extractors = tfma.default_extractors(eval_shared_model=eval_shared_model,
                                         eval_config=eval_config,
                                         tensor_adapter_config=tensor_adapter_config)
    features = sorted({key for spec in eval_config.slicing_specs for key in spec.feature_keys
                       if length_feature_columns(key)})
    if not features:
        return extractors
    stages = [extractor.stage_name for extractor in extractors]
    index = stages.index(tfma.extractors.SLICE_KEY_EXTRACTOR_STAGE_NAME)
    return extractors[:index] + [length_bucket_extractor(features)] + extractors[index:]
