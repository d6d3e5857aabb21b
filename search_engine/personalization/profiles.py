"""What a shopper's events say about them: brand, category and price-band affinities.

Each event counts by how much intent it shows (a purchase far more than a view) and fades
with age (half-life, default 30 days), so last week's laptop hunt outweighs last year's.
Affinities are smoothed towards the catalog's own shares: a shopper with one click on a brand
is not yet a fan of it (see `lift`).
"""
from __future__ import annotations

import math
from bisect import bisect_right
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Callable, Iterable, Mapping, Sequence

from indexer.schema import Product
from search_engine.types import Event

EVENT_WEIGHTS = {"view": 0.5, "click": 1.0, "add_to_cart": 3.0, "purchase": 5.0}
PRICE_BANDS = 5  # quintiles of price within the product's category
SMOOTHING = 5.0  # pseudo-events of catalog prior in every affinity


@dataclass(frozen=True)
class PriceBands:
    """Price quintiles per category: a 30-euro mouse and a 1000-euro laptop can both be 'premium'."""

    edges: Mapping[str, tuple[float, ...]]  # category -> 4 inner quintile edges
    overall: tuple[float, ...]

    @classmethod
    def fit(cls, products: Iterable[Product]) -> "PriceBands":
        by_category: dict[str, list[float]] = defaultdict(list)
        everything = []
        for p in products:
            if p.price is not None and p.price > 0:
                by_category[p.category or ""].append(p.price)
                everything.append(p.price)
        edges = {c: _quantile_edges(prices) for c, prices in by_category.items() if len(prices) >= PRICE_BANDS}
        return cls(edges=edges, overall=_quantile_edges(everything))

    def band(self, product: Product) -> int | None:
        if product.price is None or product.price <= 0:
            return None
        return bisect_right(self.edges.get(product.category or "", self.overall), product.price)

    def to_dict(self) -> dict:
        return {"edges": {k: list(v) for k, v in self.edges.items()}, "overall": list(self.overall)}

    @classmethod
    def from_dict(cls, data: Mapping) -> "PriceBands":
        return cls(edges={k: tuple(v) for k, v in data["edges"].items()}, overall=tuple(data["overall"]))


def _quantile_edges(prices: Sequence[float]) -> tuple[float, ...]:
    if not prices:
        return ()
    ordered = sorted(prices)
    return tuple(ordered[min(len(ordered) - 1, int(len(ordered) * q / PRICE_BANDS))] for q in range(1, PRICE_BANDS))


@dataclass
class UserProfile:
    brands: dict[str, float] = field(default_factory=dict)  # decayed, weighted event mass per brand
    categories: dict[str, float] = field(default_factory=dict)
    bands: dict[int, float] = field(default_factory=dict)
    total: float = 0.0  # decayed mass of every counted event
    events: int = 0

    @property
    def empty(self) -> bool:
        return self.events == 0

    def mean_band(self) -> float | None:
        mass = sum(self.bands.values())
        return sum(b * w for b, w in self.bands.items()) / mass if mass else None


def build_profile(events: Iterable[Event], product_of: Callable[[str], Product | None], bands: PriceBands,
                  now: float, half_life_days: float = 30.0) -> UserProfile:
    """The profile as of `now` from events before it; events at or after `now` are ignored."""
    profile = UserProfile()
    for event in events:
        weight = EVENT_WEIGHTS.get(event.type)
        if weight is None or event.timestamp >= now or not event.product_id:
            continue
        product = product_of(event.product_id)
        if product is None:  # since deleted from the catalog
            continue
        weight *= 0.5 ** ((now - event.timestamp) / (half_life_days * 86400))
        profile.total += weight
        profile.events += 1
        if product.brand:
            profile.brands[product.brand] = profile.brands.get(product.brand, 0.0) + weight
        if product.category:
            profile.categories[product.category] = profile.categories.get(product.category, 0.0) + weight
        band = bands.band(product)
        if band is not None:
            profile.bands[band] = profile.bands.get(band, 0.0) + weight
    return profile


def lift(mass: float, total: float, prior: float) -> float:
    """log of the smoothed share over the catalog's share: 0 for no evidence, > 0 for a liking."""
    prior = max(prior, 1e-6)
    return math.log((mass + SMOOTHING * prior) / (total + SMOOTHING) / prior)
