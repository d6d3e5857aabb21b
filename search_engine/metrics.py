"""Relevance metrics over graded judgments, as pure functions.

For one query, `ranked` is the engine's list of product ids, best first, and `grades` maps
judged ids to their 0-3 rating; unjudged products count as grade 0.

- nDCG@k  = DCG@k / IDCG@k with DCG@k = sum_{i=1..k} grade_i / log2(i + 1) (gain = the
  rating itself) and IDCG@k the DCG of the judged products sorted by grade. Undefined
  (None) when no judged product has a grade above 0.
- Recall@k = |relevant in top k| / |relevant|, relevant meaning grade >= 2. None when the
  query has no relevant product.
- MRR: 1 / rank of the first relevant product in the list (0 when none appears); None when
  the query has no relevant product.
Averages over queries skip the None values, so queries no ranking could do well on do not
count against every configuration alike.
"""
from __future__ import annotations

import math
from typing import Iterable, Mapping, Sequence

RELEVANT_GRADE = 2


def dcg(gains: Iterable[float]) -> float:
    return sum(g / math.log2(i + 2) for i, g in enumerate(gains))


def ndcg_at_k(ranked: Sequence[str], grades: Mapping[str, float], k: int = 10) -> float | None:
    ideal = dcg(sorted(grades.values(), reverse=True)[:k])
    if ideal <= 0:
        return None
    return dcg(grades.get(doc, 0) for doc in ranked[:k]) / ideal


def recall_at_k(ranked: Sequence[str], grades: Mapping[str, float], k: int = 100) -> float | None:
    relevant = {doc for doc, g in grades.items() if g >= RELEVANT_GRADE}
    if not relevant:
        return None
    return len(relevant.intersection(ranked[:k])) / len(relevant)


def reciprocal_rank(ranked: Sequence[str], grades: Mapping[str, float]) -> float | None:
    if not any(g >= RELEVANT_GRADE for g in grades.values()):
        return None
    for rank, doc in enumerate(ranked, start=1):
        if grades.get(doc, 0) >= RELEVANT_GRADE:
            return 1.0 / rank
    return 0.0


def mean(values: Iterable[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return sum(present) / len(present) if present else None
