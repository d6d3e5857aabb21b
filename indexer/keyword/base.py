"""What every keyword backend offers, and the settings they share."""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Protocol, Sequence

from indexer.filters import Filters
from indexer.schema import Product

# Field boosts: a word in the title or the model code says more about what the product is
# than the same word in the description or attributes. Chosen on the Icecat judgments with a
# two-fold check over queries (docs/relevance.md).
DEFAULT_BOOSTS = {
    "title": 3.0, "model": 2.0, "brand": 2.0, "category": 2.0,
    "description": 1.0, "attributes": 1.0,
}


@dataclass
class KeywordConfig:
    backend: str = "tantivy"
    boosts: dict[str, float] = field(default_factory=lambda: dict(DEFAULT_BOOSTS))
    # Typo tolerance: when exact terms find fewer than this many products, the query is run
    # again with edit distance 1 (2 for terms of 8+ letters) on title, brand and model, and
    # those hits are added below the exact ones.
    fuzzy_below: int = 10
    fuzzy_min_term_length: int = 4


def query_terms(text: str) -> list[str]:
    """User text as plain lower-case words: query syntax (AND, quotes, +, :) is not ours to parse."""
    return re.findall(r"[^\W_]+", text.lower())


def attribute_text(attributes: dict[str, Any]) -> str:
    return " ".join(str(v) for k, v in attributes.items() if k not in ("model", "ean") and isinstance(v, str))


def append_fuzzy_hits(exact: list[tuple[int, float]], fuzzy: list[tuple[int, float]],
                      k: int) -> list[tuple[int, float]]:
    """Exact hits first, then the fuzzy ones not already there, up to k. Fuzzy scores say
    little (tantivy gives them all the same), so they keep their order but are scaled to at
    most half the lowest exact score: a typo match never outranks an exact one."""
    seen = {doc for doc, _ in exact}
    floor = min((score for _, score in exact), default=1.0)
    extra = [(doc, score) for doc, score in fuzzy if doc not in seen]
    top = max((score for _, score in extra), default=1.0) or 1.0
    return exact + [(doc, floor * 0.5 * score / top) for doc, score in extra][: k - len(exact)]


class KeywordIndex(Protocol):
    def search(self, text: str, k: int, filters: Filters | None = None) -> list[tuple[int, float]]:
        """Top-k (doc number, BM25 score), best first, only products passing the filters."""

    def add(self, docs: Sequence[int], products: Sequence[Product]) -> None: ...
