"""Fusion of ranked lists: pure functions over (doc, score) lists, best first.

- Reciprocal rank fusion: score(d) = sum over lists of 1 / (rrf_k + rank(d)), rank 1-based.
  Ignores raw scores, so it needs no calibration between BM25 and cosine similarity.
- Normalized linear (convex) fusion: score(d) = w * norm(dense(d)) + (1 - w) * norm(kw(d)),
  with min-max normalisation inside each list; a doc missing from a list gets 0 there.
"""
from __future__ import annotations

from typing import Sequence

Ranking = Sequence[tuple[int, float]]

DEFAULT_RRF_K = 60
FUSION_METHODS = ("rrf", "linear")


def reciprocal_rank_fusion(rankings: Sequence[Ranking], rrf_k: int = DEFAULT_RRF_K) -> list[tuple[int, float]]:
    scores: dict[int, float] = {}
    for ranking in rankings:
        for rank, (doc, _) in enumerate(ranking, start=1):
            scores[doc] = scores.get(doc, 0.0) + 1.0 / (rrf_k + rank)
    return _sorted(scores)


def min_max(ranking: Ranking) -> dict[int, float]:
    """Scores mapped onto [0, 1]; a list whose scores are all equal maps to 1."""
    if not ranking:
        return {}
    scores = [s for _, s in ranking]
    low, high = min(scores), max(scores)
    if high == low:
        return {doc: 1.0 for doc, _ in ranking}
    return {doc: (s - low) / (high - low) for doc, s in ranking}


def linear_fusion(dense: Ranking, keyword: Ranking, dense_weight: float) -> list[tuple[int, float]]:
    if not 0.0 <= dense_weight <= 1.0:
        raise ValueError(f"dense_weight must be within [0, 1], got {dense_weight}")
    dense_norm, keyword_norm = min_max(dense), min_max(keyword)
    scores = {
        doc: dense_weight * dense_norm.get(doc, 0.0) + (1 - dense_weight) * keyword_norm.get(doc, 0.0)
        for doc in dense_norm.keys() | keyword_norm.keys()
    }
    return _sorted(scores)


def fuse(method: str, dense: Ranking, keyword: Ranking, dense_weight: float, rrf_k: int = DEFAULT_RRF_K
         ) -> list[tuple[int, float]]:
    """The two legs fused as an engine configured with this method ("rrf" or "linear") does."""
    if method == "rrf":
        return reciprocal_rank_fusion([dense, keyword], rrf_k)
    return linear_fusion(dense, keyword, dense_weight)


def _sorted(scores: dict[int, float]) -> list[tuple[int, float]]:
    # Ties break by doc number so a fused order is deterministic.
    return sorted(scores.items(), key=lambda item: (-item[1], item[0]))
