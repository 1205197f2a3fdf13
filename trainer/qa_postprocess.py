"""Extractive question answering: SQuAD's answer normalisation, EM/F1, and n-best span decoding.

Pure Python/NumPy reference implementations. The serving graph decodes spans with the same
rules in TensorFlow (`trainer.qa_features.decode_spans`); tests check that both agree.

Span decoding (the rules of the SQuAD reference scripts, per example over all of its windows):

* in each window, the `n_best_size` highest start logits and end logits among the *context*
  tokens are candidates; a pair (start, end) is valid when end >= start and it spans at most
  `max_answer_length` tokens; its score is start_logit + end_logit;
* the null ("no answer") score is the smallest start_logit[0] + end_logit[0] ([CLS]) over the
  windows (SQuAD 2.0 convention);
* the answer is the best valid span unless null_score - best_score > null_score_threshold (or
  there is no valid span), in which case it is the empty string.
"""
import collections
import dataclasses
import re
import string
from typing import Iterable, List, Optional, Sequence, Tuple

import numpy as np

_ARTICLES = re.compile(r"\b(a|an|the)\b", re.UNICODE)
_PUNCTUATION = frozenset(string.punctuation)


# ---- SQuAD evaluation (the official evaluate-v2.0.py definitions) ---------------------------

def normalize_answer(text: str) -> str:
    """Lower case, no punctuation, no articles (a, an, the), single spaces."""
    text = text.lower()
    text = "".join(ch for ch in text if ch not in _PUNCTUATION)
    text = _ARTICLES.sub(" ", text)
    return " ".join(text.split())


def _tokens(text: str) -> List[str]:
    return normalize_answer(text).split() if text else []


def exact_match(prediction: str, gold: str) -> float:
    return float(normalize_answer(prediction) == normalize_answer(gold))


def f1(prediction: str, gold: str) -> float:
    pred_tokens, gold_tokens = _tokens(prediction), _tokens(gold)
    if not pred_tokens or not gold_tokens:
        # No answer (or one that normalises to nothing): 1 when both are empty, else 0.
        return float(pred_tokens == gold_tokens)
    common = collections.Counter(pred_tokens) & collections.Counter(gold_tokens)
    same = sum(common.values())
    if same == 0:
        return 0.0
    precision = same / len(pred_tokens)
    recall = same / len(gold_tokens)
    return 2 * precision * recall / (precision + recall)


def _golds(gold_answers: Sequence[str]) -> List[str]:
    # Unanswerable questions have no gold answer: the right prediction is "".
    golds = [a for a in gold_answers if normalize_answer(a)]
    return golds or [""]


def max_over_golds(metric, prediction: str, gold_answers: Sequence[str]) -> float:
    return max(metric(prediction, gold) for gold in _golds(gold_answers))


def squad_scores(predictions: Sequence[str], gold_answers: Sequence[Sequence[str]]
                 ) -> dict:
    """{"exact_match", "f1"} in percent, averaged over examples (max over gold answers)."""
    if len(predictions) != len(gold_answers):
        raise ValueError(f"{len(predictions)} predictions for {len(gold_answers)} examples")
    if not predictions:
        return {"exact_match": 0.0, "f1": 0.0}
    em = [max_over_golds(exact_match, p, g) for p, g in zip(predictions, gold_answers)]
    f = [max_over_golds(f1, p, g) for p, g in zip(predictions, gold_answers)]
    return {"exact_match": 100.0 * float(np.mean(em)), "f1": 100.0 * float(np.mean(f))}


# ---- n-best span decoding -------------------------------------------------------------------

@dataclasses.dataclass
class Window:
    """The model's logits for one window, and the context character span of every token.

    `offsets[i]` is (start, end) in characters of the context (end exclusive) for a context
    token, and (-1, -1) for [CLS], question and [SEP] tokens (and padding).
    """
    start_logits: Sequence[float]
    end_logits: Sequence[float]
    offsets: Sequence[Tuple[int, int]]


@dataclasses.dataclass
class Candidate:
    score: float
    start: int  # character offsets into the context, end exclusive
    end: int
    window: int
    start_token: int
    end_token: int


@dataclasses.dataclass
class Answer:
    text: str
    start: int  # -1 when there is no answer
    end: int
    score: float  # the chosen span's start+end logit (the null score when there is no answer)
    null_score: float
    n_best: List[Candidate]


def _top_context_indices(logits: np.ndarray, is_context: np.ndarray, k: int) -> List[int]:
    masked = np.where(is_context, logits, -np.inf)
    order = np.argsort(-masked, kind="stable")[:k]
    return [int(i) for i in order if is_context[i]]


def window_candidates(window: Window, n_best_size: int, max_answer_length: int,
                      index: int = 0) -> List[Candidate]:
    start_logits = np.asarray(window.start_logits, dtype=np.float64)
    end_logits = np.asarray(window.end_logits, dtype=np.float64)
    offsets = np.asarray(window.offsets, dtype=np.int64).reshape(-1, 2)
    is_context = offsets[:, 0] >= 0
    candidates = []
    for s in _top_context_indices(start_logits, is_context, n_best_size):
        for e in _top_context_indices(end_logits, is_context, n_best_size):
            if e < s or e - s + 1 > max_answer_length:
                continue
            candidates.append(Candidate(
                score=float(start_logits[s] + end_logits[e]),
                start=int(offsets[s, 0]), end=int(offsets[e, 1]),
                window=index, start_token=s, end_token=e))
    return candidates


def decode(context: str, windows: Iterable[Window], n_best_size: int = 20,
           max_answer_length: int = 30, null_score_threshold: float = 0.0) -> Answer:
    """The answer for one example from the logits of all its windows (see the module doc)."""
    candidates: List[Candidate] = []
    null_score: Optional[float] = None
    for index, window in enumerate(windows):
        cls_score = float(window.start_logits[0]) + float(window.end_logits[0])
        null_score = cls_score if null_score is None else min(null_score, cls_score)
        candidates += window_candidates(window, n_best_size, max_answer_length, index)
    if null_score is None:
        raise ValueError("an example needs at least one window")
    candidates.sort(key=lambda c: -c.score)
    n_best = candidates[:n_best_size]
    if not n_best or null_score - n_best[0].score > null_score_threshold:
        return Answer("", -1, -1, null_score, null_score, n_best)
    best = n_best[0]
    return Answer(context[best.start:best.end], best.start, best.end, best.score, null_score,
                  n_best)
