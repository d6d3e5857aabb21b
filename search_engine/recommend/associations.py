"""Which products and product types go together, from co-baskets: pure functions.

The measure is the cosine (Ochiai) of two baskets: shoppers who carted or bought both over
the geometric mean of those who carted or bought each. Confidence (both over the first)
ranks the shop's best-sellers first for every product; lift (both over the product of the
shares) ranks rare products first on one or two coincidences. The cosine sits between them,
and a minimum support (distinct shoppers who bought both) keeps one shopper's basket from
making a rule. `search-recommend evaluate --min-support N` checks the support on a shop's
own log.
"""
from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass
from typing import Callable, Mapping

from search_engine.recommend.activity import ActivityCounts


def association(together: int, first: int, second: int) -> float:
    """Cosine of two baskets: 0 when either is empty."""
    return together / math.sqrt(first * second) if first > 0 and second > 0 else 0.0


@dataclass(frozen=True)
class TypeTables:
    """Co-baskets summed over product types (category, or the one query understanding infers)."""

    complements: Mapping[str, tuple[tuple[str, float, int], ...]]  # type -> (type, association, shoppers), best first
    buyers: Mapping[str, int]  # type -> shoppers who bought one of its products (summed over its products)
    rebuyers: Mapping[str, int]

    def rebuy_share(self, type_name: str | None, min_support: int) -> float | None:
        """How often a type's buyers bought one of its products again; None below min_support buyers."""
        buyers = self.buyers.get(type_name or "", 0)
        return self.rebuyers.get(type_name or "", 0) / buyers if buyers >= min_support and type_name else None


def type_tables(counts: ActivityCounts, type_of: Callable[[str], str | None], min_support: int) -> TypeTables:
    """Product co-baskets summed by type: a printer bought with a toner counts for
    (printers, toners). A product of no type, or one no longer in the catalog, counts nowhere.
    Sums over products count a shopper once per product pair, so a type's figures are upper
    bounds on its distinct shoppers, alike for every type."""
    types = {}

    def type_name(product: str) -> str | None:
        if product not in types:
            types[product] = type_of(product)
        return types[product]

    shoppers: dict[str, int] = defaultdict(int)
    for product, count in counts.basket_shoppers.items():
        name = type_name(product)
        if name:
            shoppers[name] += count
    together: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for product, others in counts.pairs.items():
        first = type_name(product)
        if not first:
            continue
        for other, count in others.items():
            second = type_name(other)
            if second and second != first:
                together[first][second] += count
    complements = {}
    for first, seconds in together.items():
        ranked = [(second, association(count, shoppers[first], shoppers[second]), count)
                  for second, count in seconds.items() if count >= min_support]
        complements[first] = tuple(sorted(ranked, key=lambda item: (-item[1], item[0])))
    buyers: dict[str, int] = defaultdict(int)
    rebuyers: dict[str, int] = defaultdict(int)
    for product, count in counts.buyers.items():
        name = type_name(product)
        if name:
            buyers[name] += count
            rebuyers[name] += counts.rebuyers.get(product, 0)
    return TypeTables(complements, dict(buyers), dict(rebuyers))
