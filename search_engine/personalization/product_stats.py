"""How shoppers treat each product: popularity, clicks over expected clicks, conversion.

Counts come from the event log: impressions from search events (what was shown, top 10, by
position), clicks, carts and purchases. Raw click-through rewards whatever the engine put on
top, so the click feature is clicks over expected clicks (COEC): each impression expects the
catalog-wide click rate of the position it was shown at, and a product clicked more than its
positions explain scores above 1. It is smoothed (SMOOTHING pseudo-clicks at the expected
rate) so a product shown twice and clicked once does not look like a winner.
"""
from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field
from typing import Iterable

from search_engine.types import Event

IMPRESSION_DEPTH = 10
SMOOTHING = 2.0


@dataclass
class ProductStats:
    impressions: Counter = field(default_factory=Counter)  # "product id|position" -> times shown there
    clicks: Counter = field(default_factory=Counter)
    carts: Counter = field(default_factory=Counter)
    purchases: Counter = field(default_factory=Counter)
    shown_at: Counter = field(default_factory=Counter)  # position -> impressions
    clicked_at: Counter = field(default_factory=Counter)  # position -> clicks
    total_clicks: int = 0
    _expected: dict = field(default_factory=dict, repr=False, compare=False)  # product id -> expected clicks

    @classmethod
    def from_events(cls, events: Iterable[Event]) -> "ProductStats":
        stats = cls()
        for event in events:
            stats.add(event)
        return stats

    def add(self, event: Event) -> None:
        self._expected.clear()
        if event.type == "search":
            first = event.position or 1
            for offset, pid in enumerate(event.shown[:IMPRESSION_DEPTH]):
                self.impressions[f"{pid}|{first + offset}"] += 1
                self.shown_at[first + offset] += 1
        elif event.type == "click":
            self.clicks[event.product_id] += 1
            self.total_clicks += 1
            if event.position is not None and event.position <= IMPRESSION_DEPTH:
                self.clicked_at[event.position] += 1
        elif event.type == "add_to_cart":
            self.carts[event.product_id] += 1
        elif event.type == "purchase":
            self.purchases[event.product_id] += 1

    def position_ctr(self) -> dict[int, float]:
        return {p: self.clicked_at[p] / n for p, n in self.shown_at.items() if n}

    def features(self, product_id: str, position_ctr: dict[int, float]) -> tuple[float, float, float]:
        """(log popularity, clicks over expected clicks, smoothed purchases per click)."""
        clicks, buys = self.clicks[product_id], self.purchases[product_id]
        # Per 10,000 clicks overall, so a young log and a year-old one mean the same thing.
        popularity = math.log1p((clicks + 3 * self.carts[product_id] + 5 * buys) * 10_000 / max(1, self.total_clicks))
        expected = self._expected.get(product_id)
        if expected is None:
            expected = sum(self.impressions.get(f"{product_id}|{p}", 0) * ctr for p, ctr in position_ctr.items())
            self._expected[product_id] = expected
        coec = (clicks + SMOOTHING) / (expected + SMOOTHING)
        conversion = (buys + 1.0) / (clicks + 10.0)
        return popularity, coec, conversion

    def to_dict(self) -> dict:
        return {name: dict(getattr(self, name)) for name in
                ("impressions", "clicks", "carts", "purchases", "shown_at", "clicked_at")}

    @classmethod
    def from_dict(cls, data: dict) -> "ProductStats":
        counters = {name: Counter({int(k) if name.endswith("_at") else k: v for k, v in values.items()})
                    for name, values in data.items()}
        stats = cls(**counters)
        stats.total_clicks = sum(stats.clicks.values())
        return stats
