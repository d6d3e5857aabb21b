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
- Judged nDCG@k (condensed lists, Sakai 2007): nDCG@k of the list with its unjudged
  products left out. A judgment list is pooled from the systems that existed when it was
  made, so a system that finds products nobody judged is marked down for them; this figure
  asks only how the judged products were ordered. Read it beside Judged@k.
- Judged@k: the share of the top k that are judged (of the whole list when it is shorter;
  None for an empty list): how far the other figures can be trusted for this system.
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


def judged_ndcg_at_k(ranked: Sequence[str], grades: Mapping[str, float], k: int = 10) -> float | None:
    return ndcg_at_k([doc for doc in ranked if doc in grades], grades, k)


def judged_at_k(ranked: Sequence[str], grades: Mapping[str, float], k: int = 10) -> float | None:
    top = ranked[:k]
    return sum(doc in grades for doc in top) / len(top) if top else None


_SCORED = {  # name -> metric of one query's ranking, in the order tables show them
    "ndcg@10": lambda ranked, grades: ndcg_at_k(ranked, grades, 10),
    "recall@100": lambda ranked, grades: recall_at_k(ranked, grades, 100),
    "mrr": reciprocal_rank,
    "judged_ndcg@10": lambda ranked, grades: judged_ndcg_at_k(ranked, grades, 10),
    "judged@10": lambda ranked, grades: judged_at_k(ranked, grades, 10),
}
METRICS = tuple(_SCORED)


def scores(ranked: Sequence[str], grades: Mapping[str, float]) -> dict[str, float | None]:
    """Every metric of METRICS for one query's ranking."""
    return {name: metric(ranked, grades) for name, metric in _SCORED.items()}
