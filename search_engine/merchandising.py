"""Merchandising rules: a merchant's business decisions, applied after ranking.

A rule matches a query exactly or when the query contains its words (as whole words, in
order, case-insensitive), and then
  pin    puts one product at a position (1-based) and adds it to the query's matched set,
         as long as it passes the shopper's filters
  boost  moves every product of a brand or type above the rest, keeping their order
  bury   moves them below the rest, keeping their order
over the whole relevance order of the matched set (search_engine/results_page.py), so a
buried product is below every other match, on whatever page. Boosts apply first, then
buries, then pins (a pin is the most specific decision). Every rule that moved a product is
listed in that product's explain.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Callable, Sequence

import numpy as np

from indexer.filters import Filters, filter_key

MATCHES = ("exact", "contains")
ACTIONS = ("pin", "boost", "bury")


@dataclass(frozen=True)
class Rule:
    query: str
    action: str
    match: str = "exact"
    product_id: str | None = None  # pin
    position: int | None = None  # pin, 1-based
    brand: str | None = None  # boost / bury
    category: str | None = None  # boost / bury
    id: int | None = None  # set by the store

    def __post_init__(self):
        if not filter_key(self.query or ""):
            raise ValueError("query: a rule needs the query it applies to")
        if self.match not in MATCHES:
            raise ValueError(f"match: must be one of {', '.join(MATCHES)}, got {self.match!r}")
        if self.action not in ACTIONS:
            raise ValueError(f"action: must be one of {', '.join(ACTIONS)}, got {self.action!r}")
        if self.action == "pin":
            if not self.product_id:
                raise ValueError("product_id: a pin needs the product to pin")
            if not isinstance(self.position, int) or isinstance(self.position, bool) or not 1 <= self.position <= 100:
                raise ValueError(f"position: a pin needs a position from 1 to 100, got {self.position!r}")
        elif not (self.brand or self.category):
            raise ValueError(f"brand: a {self.action} needs a brand or a category (type)")

    def matches(self, query: str) -> bool:
        wanted, given = filter_key(self.query).split(), filter_key(query).split()
        if self.match == "exact":
            return wanted == given
        return any(given[i:i + len(wanted)] == wanted for i in range(len(given) - len(wanted) + 1))

    def selects(self) -> Filters:
        """Boost/bury: the products it moves are the ones passing these filters (its brand
        and/or category, compared as filters compare them)."""
        return Filters(brands=(self.brand,) if self.brand else (), categories=(self.category,) if self.category else ())

    def describe(self) -> str:
        target = self.product_id if self.action == "pin" else \
            " ".join(f"{k} {v!r}" for k, v in (("brand", self.brand), ("category", self.category)) if v)
        where = f" at {self.position}" if self.action == "pin" else ""
        return f"rule {self.id}: {self.action} {target}{where} for queries {self.match} {self.query!r}"

    def to_dict(self) -> dict:
        return asdict(self)


def active_rules(query: str, rules: Sequence[Rule]) -> list[Rule]:
    return [r for r in rules if r.matches(query)]


def pinned_ids(rules: Sequence[Rule]) -> list[str]:
    """The product ids these (active) rules pin."""
    return [r.product_id for r in rules if r.action == "pin"]


def apply_rules(docs: np.ndarray, rules: Sequence[Rule], selected: Callable[[Rule, np.ndarray], np.ndarray],
                doc_of: Callable[[str], int | None], passes_filters: Callable[[int], bool]
                ) -> tuple[np.ndarray, Callable[[int], list[str]]]:
    """docs (a relevance order) reordered by these active rules, and what moved a doc (the
    rules' descriptions, in order). selected(rule, docs): which of the docs a boost or bury
    moves; passes_filters(doc): whether a pinned product the order lacks may be brought in."""
    moved: list[tuple[Rule, np.ndarray]] = []  # boosts and buries with the docs they moved, sorted
    for action in ("boost", "bury"):
        for rule in (r for r in rules if r.action == action):
            chosen = selected(rule, docs)
            moved.append((rule, np.sort(docs[chosen])))
            docs = np.concatenate([docs[chosen], docs[~chosen]] if action == "boost" else [docs[~chosen], docs[chosen]])
    pinned: dict[int, list[str]] = {}
    for rule in sorted((r for r in rules if r.action == "pin"), key=lambda r: r.position):
        doc = doc_of(rule.product_id)
        if doc is None:
            continue  # pinned product no longer in the catalog: the rule waits for it
        present = docs == doc
        if not present.any() and not passes_filters(doc):
            continue  # a pin never breaks the shopper's own filters
        rest = docs[~present]
        docs = np.insert(rest, min(rule.position - 1, len(rest)), doc)
        pinned.setdefault(doc, []).append(rule.describe())

    def notes(doc: int) -> list[str]:
        by_group = [rule.describe() for rule, chosen in moved
                    if len(chosen) and chosen[min(np.searchsorted(chosen, doc), len(chosen) - 1)] == doc]
        return by_group + pinned.get(doc, [])

    return docs, notes
