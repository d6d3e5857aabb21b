"""Fit the matched set's dense floor on a shop's judgments.

The floor decides which products a query matches beyond those holding its words
(search_engine/matching.py). Too low, and a price-sorted page fills with products that are
merely near the query; too high, and products that say it in other words drop out. The
criterion is the matched set's F1 over the judged products: recall = the relevant products
(grade >= RELEVANT_GRADE) it holds, precision = the share of the judged products it holds
that are relevant. Judged products are the ones some system once ranked high for the query,
so the judged irrelevant ones are exactly the near misses a floor must keep out.

Pure functions over precomputed per-query material, so a grid of floors costs no retrieval.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping, Sequence

from search_engine.metrics import RELEVANT_GRADE, mean, ndcg_at_k

FLOORS = tuple(round(0.2 + 0.01 * i, 2) for i in range(61))  # 0.20 .. 0.80


@dataclass(frozen=True)
class QueryMaterial:
    """What one judged query's matched set is made of, by product id."""

    keyword: frozenset[str]  # products holding every word (or their typos)
    dense: tuple[tuple[str, float], ...]  # the most similar products with their similarity, best first
    ranked: tuple[str, ...]  # the engine's ranked candidates (fused order), best first
    grades: Mapping[str, float]  # judged products of this catalog (ids it lacks left out)


@dataclass(frozen=True)
class SetQuality:
    f1: float | None
    recall: float | None
    precision: float | None  # among judged products in the set
    ndcg: float | None  # nDCG@10 of the ranked candidates kept by the set
    size: int


def matched(material: QueryMaterial, floor: float) -> set[str]:
    return set(material.keyword) | {pid for pid, score in material.dense if score >= floor}


def set_quality(material: QueryMaterial, floor: float) -> SetQuality:
    members = matched(material, floor)
    relevant = {pid for pid, g in material.grades.items() if g >= RELEVANT_GRADE}
    judged_in = [pid for pid in material.grades if pid in members]
    kept = [pid for pid in material.ranked if pid in members]
    ndcg = ndcg_at_k(kept, material.grades, 10)
    if not relevant:
        return SetQuality(None, None, None, ndcg, len(members))
    hits = len(relevant & members)
    recall = hits / len(relevant)
    precision = hits / len(judged_in) if judged_in else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return SetQuality(f1, recall, precision, ndcg, len(members))


def mean_quality(materials: Sequence[QueryMaterial], floor: float) -> dict[str, float | None]:
    qualities = [set_quality(m, floor) for m in materials]
    sizes = sorted(q.size for q in qualities)
    return {"f1": mean(q.f1 for q in qualities), "recall": mean(q.recall for q in qualities),
            "precision": mean(q.precision for q in qualities), "ndcg@10": mean(q.ndcg for q in qualities),
            "median size": float(sizes[len(sizes) // 2]) if sizes else None}


def fit_floor(materials: Sequence[QueryMaterial], floors: Sequence[float] = FLOORS) -> float:
    """The floor with the best mean F1; ties go to the lower floor (it keeps more)."""
    return max(floors, key=lambda f: (mean_quality(materials, f)["f1"] or 0.0, -f))


def materials_by_query(judgments: Mapping[str, Mapping[str, float]], keyword: Mapping[str, frozenset[str]],
                       dense: Mapping[str, tuple], ranked: Mapping[str, tuple], catalog_ids: set[str]
                       ) -> dict[str, QueryMaterial]:
    return {q: QueryMaterial(keyword[q], dense[q], ranked[q],
                             {pid: g for pid, g in grades.items() if pid in catalog_ids})
            for q, grades in judgments.items()}
