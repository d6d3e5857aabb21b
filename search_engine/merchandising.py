"""Merchandising rules: a merchant's business decisions, applied after ranking.

A rule matches a query exactly or when the query contains its words (as whole words, in
order, case-insensitive), and then
  pin    puts one product at a position (1-based); a pinned product the engine did not
         retrieve is brought in, as long as it passes the shopper's filters
  boost  moves every product of a brand or type above the rest, keeping their order
  bury   moves them below the rest, keeping their order
Boosts apply first, then buries, then pins (a pin is the most specific decision). Every
rule that moved a product is listed in that product's explain.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Callable, Sequence

from indexer.filters import filter_key
from indexer.schema import Product
from search_engine.types import Candidate

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

    def selects(self, product: Product) -> bool:
        """Boost/bury: the product has the rule's brand (and/or category)."""
        if self.brand and filter_key(product.brand or "") != filter_key(self.brand):
            return False
        if self.category and filter_key(product.category or "") != filter_key(self.category):
            return False
        return True

    def describe(self) -> str:
        target = self.product_id if self.action == "pin" else \
            " ".join(f"{k} {v!r}" for k, v in (("brand", self.brand), ("category", self.category)) if v)
        where = f" at {self.position}" if self.action == "pin" else ""
        return f"rule {self.id}: {self.action} {target}{where} for queries {self.match} {self.query!r}"

    def to_dict(self) -> dict:
        return asdict(self)


def pinned_ids(query: str, rules: Sequence[Rule]) -> list[str]:
    """The product ids the rules pin for this query."""
    return [r.product_id for r in rules if r.action == "pin" and r.matches(query)]


def apply_rules(query: str, candidates: list[Candidate], rules: Sequence[Rule], product_at: Callable[[int], Product],
                doc_of: Callable[[str], int | None], passes_filters: Callable[[int], bool]) -> list[Candidate]:
    """The candidates reordered by the rules that match the query; each moved one says why.
    passes_filters(doc): whether a product the engine did not retrieve passes the shopper's filters."""
    active = [r for r in rules if r.matches(query)]
    if not active:
        return candidates
    ordered = list(candidates)
    for action in ("boost", "bury"):
        for rule in (r for r in active if r.action == action):
            chosen = [c for c in ordered if rule.selects(product_at(c.doc))]
            rest = [c for c in ordered if not rule.selects(product_at(c.doc))]
            for c in chosen:
                c.merchandising = (c.merchandising or []) + [rule.describe()]
            ordered = chosen + rest if action == "boost" else rest + chosen
    for rule in sorted((r for r in active if r.action == "pin"), key=lambda r: r.position):
        doc = doc_of(rule.product_id)
        if doc is None:
            continue  # pinned product no longer in the catalog: the rule waits for it
        existing = next((c for c in ordered if c.doc == doc), None)
        if existing is None:
            if not passes_filters(doc):
                continue  # a pin never breaks the shopper's own filters
            existing = Candidate(doc=doc)
        else:
            ordered.remove(existing)
        existing.merchandising = (existing.merchandising or []) + [rule.describe()]
        ordered.insert(min(rule.position - 1, len(ordered)), existing)
    return ordered
