"""Measuring recommendations on a log split in time: what held-out shoppers did next.

Everything before the cutoff is the log the recommendations are built from; for each
held-out shopper, what they viewed, clicked, carted and bought in the `horizon_days` after
it is what a good list holds (gain 1 for a view or click, 2 for a cart, 3 for a purchase; a
product counts once, by its strongest event). Cases:
  for-you          each held-out shopper with events before the cutoff and after it
  bought-together  each purchase a held-out shopper made after the cutoff: what they carted,
                   bought or viewed after it within the horizon (the product itself aside)
  trending         each held-out shopper with events after the cutoff
Baselines for each case: the most popular products before the cutoff (all time), and the
product tower's nearest products to the case's product (for-you and trending: the shopper's
latest product before the cutoff; bought-together: the purchase itself). Every list leaves
out the case's own product where it has one.
"""
from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass
from typing import Callable, Iterable, Sequence

from search_engine.recommend.activity import DAY
from search_engine.types import Event

GAINS = {"view": 1.0, "click": 1.0, "add_to_cart": 2.0, "purchase": 3.0}
K = 10


def ndcg(ranked: Sequence[str], gains: dict[str, float], k: int = K) -> float:
    """nDCG@k of a list against graded targets (0 when there are none)."""
    dcg = sum(gains.get(pid, 0.0) / math.log2(i + 2) for i, pid in enumerate(ranked[:k]))
    ideal = sum(g / math.log2(i + 2) for i, g in enumerate(sorted(gains.values(), reverse=True)[:k]))
    return dcg / ideal if ideal else 0.0


def hit(ranked: Sequence[str], gains: dict[str, float], k: int = K) -> float:
    """1 when any target is in the first k."""
    return float(any(pid in gains for pid in ranked[:k]))


def _gains(events: Iterable[Event]) -> dict[str, float]:
    gains: dict[str, float] = {}
    for event in events:
        gain = GAINS.get(event.type)
        if gain and event.product_id:
            gains[event.product_id] = max(gain, gains.get(event.product_id, 0.0))
    return gains


@dataclass
class Case:
    """One list to judge: whose, from which product, and what they did next."""

    user_id: str
    product_id: str | None  # the case's own product (left out of every list)
    gains: dict[str, float]


def cases(history: Sequence[Event], future: Sequence[Event], cutoff: float, horizon_days: float,
          endpoint: str) -> list[Case]:
    """The cases of one endpoint; history: events before the cutoff, future: after it."""
    horizon = cutoff + horizon_days * DAY
    before = {e.user_id for e in history if e.product_id}
    ahead: dict[str, list[Event]] = defaultdict(list)
    for event in sorted(future, key=lambda e: e.timestamp):
        if cutoff <= event.timestamp < horizon:
            ahead[event.user_id].append(event)
    found = []
    for user, events in sorted(ahead.items()):
        if endpoint == "bought-together":
            for i, event in enumerate(events):
                if event.type == "purchase":
                    gains = _gains(e for e in events[i + 1:] if e.timestamp <= event.timestamp + horizon_days * DAY)
                    gains.pop(event.product_id, None)
                    if gains:
                        found.append(Case(user, event.product_id, gains))
        else:
            gains = _gains(events)
            if gains and (endpoint == "trending" or user in before):
                found.append(Case(user, None, gains))
    return found


def latest_products(history: Sequence[Event]) -> dict[str, str]:
    """Each shopper's latest product before the cutoff (what the similar baseline starts from)."""
    latest = {}
    for event in sorted(history, key=lambda e: e.timestamp):
        if event.product_id and event.type in GAINS:
            latest[event.user_id] = event.product_id
    return latest


def score(systems: dict[str, Callable[[Case], list[str]]], found: Sequence[Case], k: int = K) -> dict[str, dict]:
    """hit rate@k and nDCG@k of each system over the cases (its lists leave out the case's product)."""
    table = {}
    for name, recommend in systems.items():
        hits, gains = [], []
        for case in found:
            ranked = [pid for pid in recommend(case) if pid != case.product_id][:k]
            hits.append(hit(ranked, case.gains, k))
            gains.append(ndcg(ranked, case.gains, k))
        table[name] = {f"hit_rate@{k}": round(sum(hits) / len(hits), 4) if hits else None,
                       f"ndcg@{k}": round(sum(gains) / len(gains), 4) if gains else None, "cases": len(found)}
    return table


def relative(table: dict[str, dict], system: str, baselines: Sequence[str], k: int = K) -> dict[str, dict]:
    """The system's relative change over each baseline, per metric."""
    changes = {}
    for baseline in baselines:
        changes[baseline] = {}
        for metric in (f"hit_rate@{k}", f"ndcg@{k}"):
            ours, theirs = table[system][metric], table[baseline][metric]
            changes[baseline][metric] = round((ours - theirs) / theirs, 4) if ours is not None and theirs else None
    return changes
