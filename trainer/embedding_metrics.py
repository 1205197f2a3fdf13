"""TFMA metric for the embedding task: how alike the embeddings of different texts are.

`MeanCosineSimilarity`: the mean cosine similarity over every pair of different eval texts,
computed exactly from running sums: for unit vectors v_i with sum S,
sum_{i != j} v_i . v_j = |S|^2 - sum_i |v_i|^2. A model that maps every text to the same vector
scores 1; the blessing gate requires less (trainer/gate_bars.py, `embedding_bars`). TFMA has
no metric over predictions alone, hence this one.
Imported by TFMA through MetricConfig(module="trainer.embedding_metrics", class_name=...).
"""
from typing import Dict, Iterable

import numpy as np
from tensorflow_model_analysis.metrics import metric_types

from trainer import combiner_metrics


class _Combiner(combiner_metrics.Combiner):
    def create_accumulator(self):
        return [None, 0.0, 0]  # sum of unit vectors, sum of squared norms, count

    def add_input(self, accumulator, element: metric_types.StandardMetricInputs):
        vectors = np.asarray(combiner_metrics.single_value(
            element.prediction, self._key.model_name, self._key.output_name,
            self._prediction_key), dtype=np.float64)
        vectors = vectors.reshape(-1, vectors.shape[-1])
        norms = np.linalg.norm(vectors, axis=1, keepdims=True)
        units = np.divide(vectors, norms, out=np.zeros_like(vectors), where=norms > 0)
        total = units.sum(axis=0)
        accumulator[0] = total if accumulator[0] is None else accumulator[0] + total
        accumulator[1] += float((units * units).sum())
        accumulator[2] += units.shape[0]
        return accumulator

    def merge_accumulators(self, accumulators: Iterable):
        merged = self.create_accumulator()
        for total, squares, count in accumulators:
            if total is not None:
                merged[0] = total if merged[0] is None else merged[0] + total
            merged[1] += squares
            merged[2] += count
        return merged

    def extract_output(self, accumulator) -> Dict[metric_types.MetricKey, float]:
        total, squares, count = accumulator
        if total is None or count < 2:
            return {self._key: float("nan")}
        return {self._key: float((total @ total - squares) / (count * (count - 1)))}


class MeanCosineSimilarity(combiner_metrics.CombinerMetric):
    combiner_class = _Combiner
    quantity = "mean_cosine_similarity"
    default_name = "mean_cosine_similarity"


metric_types.register_metric(MeanCosineSimilarity)
