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
QUANTILE_SAMPLE = 10_000  # automatic bounds come from at most this many values (they are rounded anyway)


def value_facet(name: str, codes: np.ndarray, names: Sequence[str], size: int) -> ValueFacet:
    """The `size` most common values among these codes (ties by value); a code whose name is
    "" means no value and is not counted."""
    counts = np.bincount(codes, minlength=len(names)) if len(codes) else np.zeros(len(names), dtype=np.int64)
    present = [(names[code], int(counts[code])) for code in np.flatnonzero(counts) if names[code]]
    present.sort(key=lambda item: (-item[1], item[0].lower()))
    return ValueFacet(name, present[:size], max(len(present) - size, 0))


def round_down(value: float) -> float:
    """The largest round number (1, 2, 2.5 or 5 times a power of ten, or 0, or the negative
    of a round number) at or below a value: how shops label price bands ("under 25", "25 - 50")."""
    if value == 0:
        return 0.0
    if value < 0:
        return -_round_up(-value)
    power = 10 ** math.floor(math.log10(value))
    return max(m * power for m in (1, 2, 2.5, 5) if m * power <= value * (1 + 1e-9))


def _round_up(value: float) -> float:
    """The smallest 1, 2, 2.5 or 5 times a power of ten at or above a positive value."""
    power = 10 ** math.floor(math.log10(value))
    return min(m * power for m in (1, 2, 2.5, 5, 10) if m * power >= value * (1 - 1e-9))


def auto_bounds(values: np.ndarray, buckets: int = AUTO_BUCKETS) -> list[float]:
    """Bucket bounds for skewed values such as prices: the values' quantiles at 1/buckets,
    2/buckets, ..., each rounded down to a round number, so buckets hold similar numbers of
    products; the first bound is at or below the smallest value."""
    sample = values[:: max(1, len(values) // QUANTILE_SAMPLE)]  # an even spread, the same every time
    quantiles = np.quantile(sample, [i / buckets for i in range(buckets)])
    return sorted({round_down(float(q)) for q in quantiles} | {round_down(float(values.min()))})


def range_facet(name: str, values: np.ndarray, bounds: Sequence[float] = ()) -> RangeFacet:
    """Min, max and histogram of these values (NaN: no value). Bounds b0 < b1 < ... < bn
    (default: auto_bounds) make buckets [b0, b1), ..., [bn, open); values below b0 are
    counted as `below` (none with automatic bounds)."""
    present = values[~np.isnan(values)]
    missing = int(len(values) - len(present))
    if not len(present):
        return RangeFacet(name, None, None, [], missing, 0)
    edges = list(bounds) if bounds else auto_bounds(present)
    # index i: below edges[0] (i = 0), in [edges[i-1], edges[i]), or from the last edge on
    counts = np.bincount(np.searchsorted(edges, present, side="right"), minlength=len(edges) + 1)
    buckets = [(edges[i], edges[i + 1] if i + 1 < len(edges) else None, int(counts[i + 1]))
               for i in range(len(edges))]
    return RangeFacet(name, float(present.min()), float(present.max()), buckets, missing, int(counts[0]))
