"""Measure personalization on held-out sessions: did the shopper's clicks and purchases rank higher?

For each held-out session, the candidates are the engine's unpersonalized top `depth` for
the session's query; gains are what the shopper did in that session (purchase 3, add to
cart 2, click 1); the profile is built from the shopper's events before the session.
"""
from __future__ import annotations

from collections import defaultdict
from typing import Mapping, Sequence

import numpy as np

from search_engine.metrics import mean, ndcg_at_k
from search_engine.personalization.features import order_prior
from search_engine.personalization.profiles import CatalogReader, build_profile, price_places
from search_engine.personalization.reranker import PreferenceReranker
from search_engine.personalization.simulator import SimulatedShopper
from search_engine.personalization.training import LABELS, PRIOR_SCALE
from search_engine.types import Event, Query


def _measured(sessions: Sequence[Event]) -> list[tuple[Event, dict[str, float]]]:
    """Each session's search with what the shopper did after it (product id -> gain); sessions
    with no search or no action are left out."""
    grouped: dict[str, list[Event]] = defaultdict(list)
    for event in sessions:
        grouped[event.session_id].append(event)
    measured = []
    for session_events in grouped.values():
        search = next((e for e in session_events if e.type == "search"), None)
        gains: dict[str, float] = {}
        for e in session_events:
            if e.type in LABELS:
                gains[e.product_id] = max(gains.get(e.product_id, 0), LABELS[e.type])
        if search is not None and gains:
            measured.append((search, gains))
    return measured


def session_ndcg(engine, reranker: PreferenceReranker, history: Sequence[Event], sessions: Sequence[Event],
                 depth: int = 100) -> dict:
    by_user: dict[str, list[Event]] = defaultdict(list)
    for event in list(history) + list(sessions):
        by_user[event.user_id].append(event)
    products = engine.index.products
    catalog = CatalogReader.of_snapshot(engine.index.snapshot())
    plain, personal, users, cold = [], [], [], 0
    for search, gains in _measured(sessions):
        candidates = [h.candidate for h in engine.search(Query(search.query, k=depth)).hits if h.candidate.ranked]
        profile = build_profile(by_user[search.user_id], catalog, reranker.model.bands,
                                now=search.timestamp, half_life_days=reranker.half_life_days)
        cold += profile.empty
        reranked = reranker.rerank(search.query, profile, list(candidates), products.product, catalog)
        plain.append(ndcg_at_k([products.product(c.doc).id for c in candidates], gains, 10))
        personal.append(ndcg_at_k([products.product(c.doc).id for c in reranked], gains, 10))
        users.append(search.user_id)
    return {"sessions": len(plain), "cold_start_sessions": cold,
            "unpersonalized_ndcg@10": mean(plain), "personalized_ndcg@10": mean(personal),
            "per_session": list(zip(users, plain, personal))}


CEILING_WEIGHTS = (0.1, 0.3, 1.0)  # the fit's weight against the order's score (order_prior at PRIOR_SCALE)


def ceiling_ndcg(engine, shoppers: Mapping[str, SimulatedShopper], sessions: Sequence[Event], depth: int = 100,
                 weights: Sequence[float] = CEILING_WEIGHTS) -> dict[float, list[tuple[str, float, float]]]:
    """What knowing each SIMULATED shopper's taste exactly would give, with the engine's order
    for relevance: each held-out session's candidates reranked by the unpersonalized order's
    score (order_prior, as the model's) plus weight x the shopper's fit (the simulator's own),
    for each weight. Per weight, (user, unpersonalized, reranked) per session, as session_ndcg's
    per_session; sessions of shoppers not in `shoppers` are left out."""
    products = engine.index.products
    rows: dict[float, list[tuple[str, float, float]]] = {w: [] for w in weights}
    for search, gains in _measured(sessions):
        shopper = shoppers.get(search.user_id)
        if shopper is None:
            continue
        listed = [products.product(h.candidate.doc) for h in engine.search(Query(search.query, k=depth)).hits
                  if h.candidate.ranked]
        places = price_places(listed)
        order = order_prior(np.arange(1, len(listed) + 1), PRIOR_SCALE)
        fit = np.array([shopper.fit(p, places) for p in listed])
        ids = [p.id for p in listed]
        plain = ndcg_at_k(ids, gains, 10)
        for weight in weights:
            reranked = np.argsort(-(order + weight * fit), kind="stable")
            rows[weight].append((search.user_id, plain, ndcg_at_k([ids[i] for i in reranked], gains, 10)))
    return rows


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
