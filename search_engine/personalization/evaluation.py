"""Measure personalization on held-out sessions: did the shopper's clicks and purchases rank higher?

For each held-out search with an outcome, the candidates are the engine's unpersonalized top
`depth` for its query; gains are what the shopper did with what it showed (purchase 3, add to
cart 2, click 1: attributed as training attributes them); the profile is built from the
shopper's events before it (before its first page, for a later page), the session's earlier
searches and clicks included.
"""
from __future__ import annotations

from collections import defaultdict
from typing import Mapping, Sequence

import numpy as np

from search_engine.metrics import mean, ndcg_at_k
from search_engine.personalization.profiles import CatalogReader, FirstPages, build_profile, price_places
from search_engine.personalization.reranker import PreferenceReranker, confidence
from search_engine.personalization.simulator import SimulatedShopper
from search_engine.personalization.training import in_causal_order, logged_lists
from search_engine.types import Event, Query


def _measured(sessions: Sequence[Event], depth: int) -> list[tuple[Event, dict[str, float]]]:
    """Each search of the held-out sessions with what the shopper did with what it showed
    (product id -> gain), outcomes attributed to searches as training attributes them
    (training.logged_lists); searches with no outcome are left out."""
    return [(logged.search, {pid: float(label) for pid, label in logged.labels.items()})
            for logged in logged_lists(sessions, depth)]


KNOWN_TASTE_WEIGHTS = (0.3, 1.0, 3.0)  # the true fit's weight against the taste-free score


def session_ndcg(engine, reranker: PreferenceReranker, history: Sequence[Event], sessions: Sequence[Event],
                 depth: int = 100, shoppers: Mapping[str, SimulatedShopper] | None = None,
                 weights: Sequence[float] = KNOWN_TASTE_WEIGHTS) -> dict:
    """nDCG@10 of each session's actions in the unpersonalized order and the personalized one
    (per_session: (user, unpersonalized, personalized)), and in two yardsticks:
    taste_free_per_session, the model's order without reading the shopper (an empty profile's
    features, at the shopper's confidence): what it does for anyone; and, for SIMULATED
    shoppers whose tastes are given, known_taste_per_session (per weight): that taste-free
    score plus weight x the shopper's true fit (the simulator's own, with the prices of what
    the session showed), what reading the taste exactly would add."""
    by_user: dict[str, list[Event]] = defaultdict(list)
    for event in in_causal_order(list(history) + list(sessions)):
        by_user[event.user_id].append(event)
    products = engine.index.products
    catalog = CatalogReader.of_snapshot(engine.index.snapshot())
    per_session, taste_free = [], []
    known: dict[float, list[tuple[str, float, float]]] = {w: [] for w in weights} if shoppers else {}
    cold = 0
    for search, gains in _measured(sessions, depth):
        candidates = [h.candidate for h in engine.search(Query(search.query, k=depth)).hits if h.candidate.ranked]
        listed = [products.product(c.doc) for c in candidates]
        ids = [p.id for p in listed]
        events = by_user[search.user_id]
        now = FirstPages.of(events, search.timestamp).profile_time(
            search.timestamp, search.query, search.position or 1, search.session_id)
        profile = build_profile(events, catalog, reranker.model.bands, now=now, half_life_days=reranker.half_life_days)
        cold += profile.empty
        reranked = reranker.rerank(search.query, profile, list(candidates), products.product, catalog)
        plain = ndcg_at_k(ids, gains, 10)
        per_session.append((search.user_id, plain, ndcg_at_k([products.product(c.doc).id for c in reranked], gains, 10)))
        free = reranker.taste_free_scores(search.query, candidates, listed, catalog,
                                          confidence(profile, reranker.evidence)) if not profile.empty else None
        taste_free.append((search.user_id, plain, plain if free is None else _ndcg_in_order(ids, free, gains)))
        shopper = shoppers.get(search.user_id) if shoppers else None
        if shopper is not None and free is not None:
            places = price_places([catalog.product_of(pid) for pid in search.shown])
            fit = np.array([shopper.fit(p, places) for p in listed])
            for weight in weights:
                known[weight].append((search.user_id, plain, _ndcg_in_order(ids, free + weight * fit, gains)))
    return {"sessions": len(per_session), "cold_start_sessions": cold,
            "unpersonalized_ndcg@10": mean([r[1] for r in per_session]),
            "personalized_ndcg@10": mean([r[2] for r in per_session]),
            "per_session": per_session, "taste_free_per_session": taste_free, "known_taste_per_session": known}


def _ndcg_in_order(ids: Sequence[str], scores: np.ndarray, gains: Mapping[str, float]) -> float | None:
    """nDCG@10 of the ids sorted by score, best first (ties keep their order)."""
    return ndcg_at_k([ids[i] for i in np.argsort(-scores, kind="stable")], gains, 10)


def by_group(per_session: Sequence[tuple[str, float, float]], group_of: Mapping[str, str]) -> dict[str, dict]:
    """Per group of shoppers (group_of: user id -> group; others are "unlabelled"): sessions,
    both nDCG@10 means and the relative change, and the shares of shoppers whose mean nDCG@10
    over their sessions got worse or better. The "all" row holds every session."""
    sessions: dict[str, list[tuple[str, float, float]]] = defaultdict(list)
    for row in per_session:
        sessions[group_of.get(row[0], "unlabelled")].append(row)
        sessions["all"].append(row)
    report = {}
    for group, rows in sorted(sessions.items(), key=lambda item: (item[0] == "all", item[0])):
        plain, personal = mean([r[1] for r in rows]), mean([r[2] for r in rows])
        per_shopper: dict[str, list[float]] = defaultdict(list)
        for user, before, after in rows:
            per_shopper[user].append(after - before)
        changes = [mean(v) for v in per_shopper.values()]
        report[group] = {
            "sessions": len(rows), "shoppers": len(per_shopper),
            "unpersonalized_ndcg@10": round(plain, 4), "personalized_ndcg@10": round(personal, 4),
            "relative_change": round((personal - plain) / plain, 4) if plain else None,
            "shoppers_worse": round(sum(c < -1e-9 for c in changes) / len(changes), 4),
            "shoppers_better": round(sum(c > 1e-9 for c in changes) / len(changes), 4)}
    return report
