"""Phrases by prefix, best first: a sorted list for the range of phrases a prefix starts, and
the best of that range.

A prefix's phrases are a contiguous range of the sorted keys (two bisections). A narrow
range is ranked on the spot; a prefix whose range is wider than SCAN_LIMIT (short prefixes:
"s", "wi") gets its best TOP_KEPT phrases ranked once, at build, so no lookup ranks more than
SCAN_LIMIT phrases. Only wide prefixes are ranked ahead, and each wide range splits into its
children by bisection, so building costs about one sort.
"""
from __future__ import annotations

import bisect
from typing import Mapping

import numpy as np

SCAN_LIMIT = 512
TOP_KEPT = 64


class PrefixIndex:
    """Immutable once built."""

    def __init__(self, scores: Mapping[str, float]):
        self.keys = sorted(scores)
        self.scores = np.asarray([scores[k] for k in self.keys], dtype=np.float64)
        # Each key's place in one best-first order (score, then key): unique, so any range's
        # best are found by the smallest places, ties settled the same way everywhere.
        self._place = np.empty(len(self.keys), dtype=np.int64)
        self._place[np.lexsort((np.arange(len(self.keys)), -self.scores))] = np.arange(len(self.keys))
        self._ranked_ahead: dict[str, np.ndarray] = {}
        self._rank_wide("", 0, len(self.keys))

    def __len__(self) -> int:
        return len(self.keys)

    def score(self, key: str) -> float:
        i = bisect.bisect_left(self.keys, key)
        return float(self.scores[i]) if i < len(self.keys) and self.keys[i] == key else 0.0

    def _range(self, prefix: str, lo: int = 0, hi: int | None = None) -> tuple[int, int]:
        hi = len(self.keys) if hi is None else hi
        start = bisect.bisect_left(self.keys, prefix, lo, hi)
        # every key starting with the prefix sorts below prefix + the highest code point
        return start, bisect.bisect_left(self.keys, prefix + "\U0010ffff", start, hi)

    def _best(self, lo: int, hi: int, count: int) -> np.ndarray:
        """Positions of the `count` best-scored keys in [lo, hi), best first (ties: key order)."""
        places = self._place[lo:hi]
        cut = np.argpartition(places, count - 1)[:count] if len(places) > count else np.arange(len(places))
        return cut[np.argsort(places[cut])] + lo

    def _rank_wide(self, prefix: str, lo: int, hi: int) -> None:
        if hi - lo <= SCAN_LIMIT:
            return
        self._ranked_ahead[prefix] = self._best(lo, hi, TOP_KEPT)
        depth = len(prefix)
        start = lo
        if len(self.keys[start]) == depth:  # the prefix itself is a key: it has no child range
            start += 1
        while start < hi:
            child = self.keys[start][: depth + 1]
            _, end = self._range(child, start, hi)
            self._rank_wide(child, start, end)
            start = end

    def top(self, prefix: str, count: int) -> list[tuple[str, float]]:
        """The best `count` keys starting with `prefix` (at most TOP_KEPT for a wide prefix), with scores."""
        lo, hi = self._range(prefix)
        if hi - lo > SCAN_LIMIT:
            positions = self._ranked_ahead[prefix][:count]
        else:
            positions = self._best(lo, hi, count) if hi > lo else ()
        return [(self.keys[i], float(self.scores[i])) for i in positions]

    def has_prefix(self, prefix: str) -> bool:
        lo, hi = self._range(prefix)
        return hi > lo
