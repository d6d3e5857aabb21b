"""How shoppers treat each product: popularity, clicks over expected clicks, conversion.

Counts come from the event log: impressions from search events (everything a page showed,
by position: page 2 at 11-20), clicks, carts and purchases. Raw click-through rewards whatever the engine put on
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

SMOOTHING = 2.0
CACHED_PRODUCTS = 200_000  # features() kept per product until the next add (emptied when full)


@dataclass
class ProductStats:
    impressions: Counter = field(default_factory=Counter)  # "product id|position" -> times shown there
    clicks: Counter = field(default_factory=Counter)
    carts: Counter = field(default_factory=Counter)
    purchases: Counter = field(default_factory=Counter)
    shown_at: Counter = field(default_factory=Counter)  # position -> impressions
    clicked_at: Counter = field(default_factory=Counter)  # position -> clicks
    total_clicks: int = 0
    # Worked out on first need and kept until the next add: a served model's stats never
    # change, and the same products are reranked search after search. Single dict reads and
    # writes are atomic, so request threads at worst work an entry out twice.
    _features: dict = field(default_factory=dict, repr=False, compare=False)  # product id -> features()
    _position_ctr: dict | None = field(default=None, repr=False, compare=False)

    @classmethod
    def from_events(cls, events: Iterable[Event]) -> "ProductStats":
        stats = cls()
        for event in events:
            stats.add(event)
        return stats

    def add(self, event: Event) -> None:
        self._features = {}
        self._position_ctr = None
        if event.type == "search":
            first = event.position or 1
            for offset, pid in enumerate(event.shown):
                self.impressions[f"{pid}|{first + offset}"] += 1
                self.shown_at[first + offset] += 1
        elif event.type == "click":
            self.clicks[event.product_id] += 1
            self.total_clicks += 1
            if event.position is not None:  # a click's expected rate is its place's, wherever it was
                self.clicked_at[event.position] += 1
        elif event.type == "add_to_cart":
            self.carts[event.product_id] += 1
        elif event.type == "purchase":
            self.purchases[event.product_id] += 1

    def position_ctr(self) -> dict[int, float]:
        if self._position_ctr is None:
            self._position_ctr = {p: self.clicked_at[p] / n for p, n in self.shown_at.items() if n}
        return self._position_ctr

    def features(self, product_id: str) -> tuple[float, float, float]:
        """(log popularity, clicks over expected clicks, smoothed purchases per click)."""
        found = self._features.get(product_id)
        if found is None:
            if len(self._features) >= CACHED_PRODUCTS:
                self._features = {}
            found = self._features[product_id] = self._work_out(product_id)
        return found

    def _work_out(self, product_id: str) -> tuple[float, float, float]:
        clicks, buys = self.clicks[product_id], self.purchases[product_id]
        # Per 10,000 clicks overall, so a young log and a year-old one mean the same thing.
        popularity = math.log1p((clicks + 3 * self.carts[product_id] + 5 * buys) * 10_000 / max(1, self.total_clicks))
        expected = sum(self.impressions.get(f"{product_id}|{p}", 0) * ctr for p, ctr in self.position_ctr().items())
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
