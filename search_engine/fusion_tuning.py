"""Fit the hybrid fusion weight from judgments, globally or per kind of query.

Pure functions over precomputed leg results, so a weight grid costs no retrieval. A query
is scored on the page the engine serves: the fused order kept by the matched set
(search_engine/matching.py: products holding every word, or at least the dense floor similar).
Kinds come from query understanding (QueryAnalysis.kind: a model code, else a brand the
catalog knows, else descriptive); the caller passes each query's kind.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping, Sequence

from search_engine.fusion import Ranking, linear_fusion
from search_engine.metrics import mean, ndcg_at_k

WEIGHTS = tuple(round(w * 0.05, 2) for w in range(21))  # 0.00 .. 1.00


@dataclass(frozen=True)
class Leg:
    """One leg's results for one query."""

    ranking: Ranking  # its best products, as many as the engine fuses
    matched: frozenset[int]  # its part of the matched set: holding every word, or at least the dense floor similar


Legs = tuple[Leg, Leg]  # (dense, keyword) of one query


def served_ndcg(dense: Leg, keyword: Leg, grades: Mapping[str, float], doc_ids: Sequence[str],
                dense_weight: float) -> float | None:
    """nDCG@10 of the fused order kept by the matched set: the page the engine would serve
    (when nothing matches, the engine serves the nearest products: the fused order whole)."""
    fused = linear_fusion(dense.ranking, keyword.ranking, dense_weight)
    matched = keyword.matched | dense.matched
    kept = [doc_ids[doc] for doc, _ in fused if doc in matched or not matched]
    return ndcg_at_k(kept[:10], grades, 10)


def fused_ndcg(legs: Mapping[str, Legs], judgments: Mapping[str, Mapping[str, float]],
               doc_ids: Sequence[str], weight_of) -> float | None:
    """Mean served nDCG@10 when each query is fused with weight_of(query)."""
    return mean(served_ndcg(dense, keyword, judgments[query], doc_ids, weight_of(query))
                for query, (dense, keyword) in legs.items())


def fit_weight(legs: Mapping[str, Legs], judgments, doc_ids: Sequence[str],
               weights: Sequence[float] = WEIGHTS) -> float:
    """The weight with the best mean nDCG@10; ties go to the weight nearest 0.5."""
    scored = [(fused_ndcg(legs, judgments, doc_ids, lambda q, w=w: w) or 0.0, -abs(w - 0.5), w) for w in weights]
    return max(scored)[2]


def fit_weights_by_kind(legs: Mapping[str, Legs], judgments, doc_ids: Sequence[str], kinds: Mapping[str, str],
                        weights: Sequence[float] = WEIGHTS) -> dict[str, float]:
    """One weight per kind of query (kinds[query]); a kind without queries gets the global one."""
    fallback = fit_weight(legs, judgments, doc_ids, weights)
    by_kind = {}
    for kind in sorted(set(kinds.values())):
        subset = {q: l for q, l in legs.items() if kinds[q] == kind}
        by_kind[kind] = fit_weight(subset, judgments, doc_ids, weights) if subset else fallback
    return by_kind
