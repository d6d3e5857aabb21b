"""Facet counts over a set of products, as pure functions of their column values.

Value facets count codes (np.bincount over the set's codes; cost grows with the set's size
plus the number of distinct values); range facets give min, max and a histogram whose
buckets are [low, high), the last one open above. Which set each
facet counts (the matched set under every filter but the facet's own) is the results page's
business (search_engine/results_page.py).
"""
from __future__ import annotations

import math
from typing import Sequence

import numpy as np

from search_engine.types import RangeFacet, ValueFacet

AUTO_BUCKETS = 5  # about this many histogram buckets when the request names no bounds


def value_facet(name: str, codes: np.ndarray, names: Sequence[str], size: int) -> ValueFacet:
    """The `size` most common values among these codes (ties by value); a code whose name is
    "" means no value and is not counted."""
    counts = np.bincount(codes, minlength=len(names)) if len(codes) else np.zeros(len(names), dtype=np.int64)
    present = [(names[code], int(counts[code])) for code in np.flatnonzero(counts) if names[code]]
    present.sort(key=lambda item: (-item[1], item[0].lower()))
    return ValueFacet(name, present[:size], max(len(present) - size, 0))


def round_down(value: float) -> float:
    """The largest 1, 2, 2.5 or 5 times a power of ten at or below a positive value (0 for
    values at or below 0): how shops label price bands ("under 25", "25 - 50")."""
    if value <= 0:
        return 0.0
    power = 10 ** math.floor(math.log10(value))
    return max(m * power for m in (1, 2, 2.5, 5) if m * power <= value * (1 + 1e-9))


def auto_bounds(values: np.ndarray, buckets: int = AUTO_BUCKETS) -> list[float]:
    """Bucket bounds for skewed values such as prices: the values' quantiles at 1/buckets,
    2/buckets, ..., each rounded down to a round number, so buckets hold similar numbers of
    products; the first bound is at or below the smallest value."""
    quantiles = np.quantile(values, [i / buckets for i in range(buckets)])
    return sorted({round_down(float(q)) for q in quantiles} | {round_down(float(values.min()))})


def range_facet(name: str, values: np.ndarray, bounds: Sequence[float] = ()) -> RangeFacet:
    """Min, max and histogram of these values (NaN: no value). Bounds b0 < b1 < ... < bn
    (default: auto_bounds) make buckets [b0, b1), ..., [bn, open); values below b0 are in none."""
    present = values[~np.isnan(values)]
    missing = int(len(values) - len(present))
    if not len(present):
        return RangeFacet(name, None, None, [], missing)
    edges = list(bounds) if bounds else auto_bounds(present)
    # index i: below edges[0] (i = 0), in [edges[i-1], edges[i]), or from the last edge on
    counts = np.bincount(np.searchsorted(edges, present, side="right"), minlength=len(edges) + 1)
    buckets = [(edges[i], edges[i + 1] if i + 1 < len(edges) else None, int(counts[i + 1]))
               for i in range(len(edges))]
    return RangeFacet(name, float(present.min()), float(present.max()), buckets, missing)
