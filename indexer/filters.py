"""Filters that mean the same thing in the dense and the keyword leg.

Brands, categories and facet attribute values match case-insensitively and exactly: any
of the listed values of one field (OR), every field given (AND). Ranges (price, numeric
attributes) are inclusive at both ends, and a product without the value never passes one.
"""
from __future__ import annotations

import unicodedata
from dataclasses import dataclass, replace


def filter_key(value: str) -> str:
    """The normalised form both legs compare: composed (NFC: "e" and a combining accent is
    "é"), trimmed, whitespace collapsed, lower case."""
    return " ".join(unicodedata.normalize("NFC", value).split()).lower()


@dataclass(frozen=True)
class Filters:
    brands: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    price_min: float | None = None
    price_max: float | None = None
    attributes: tuple[tuple[str, tuple[str, ...]], ...] = ()  # (facet attribute, its accepted values)
    ranges: tuple[tuple[str, float | None, float | None], ...] = ()  # (numeric attribute, min, max)

    def __post_init__(self):
        if self.price_min is not None and self.price_min < 0:
            raise ValueError(f"price_min must not be negative, got {self.price_min}")
        if self.price_max is not None and self.price_max < 0:
            raise ValueError(f"price_max must not be negative, got {self.price_max}")
        if self.price_min is not None and self.price_max is not None and self.price_min > self.price_max:
            raise ValueError(f"price_min ({self.price_min}) is above price_max ({self.price_max})")
        for name, low, high in self.ranges:
            if low is not None and high is not None and low > high:
                raise ValueError(f"attr.{name}_min ({low}) is above attr.{name}_max ({high})")
        object.__setattr__(self, "brands", tuple(filter_key(b) for b in self.brands if b.strip()))
        object.__setattr__(self, "categories", tuple(filter_key(c) for c in self.categories if c.strip()))
        attributes = tuple((name, tuple(filter_key(v) for v in values if v.strip()))
                           for name, values in self.attributes)
        object.__setattr__(self, "attributes", tuple(sorted((n, v) for n, v in attributes if v)))
        object.__setattr__(self, "ranges", tuple(sorted(
            (n, low, high) for n, low, high in self.ranges if low is not None or high is not None)))

    @property
    def is_empty(self) -> bool:
        return not (self.brands or self.categories or self.has_price_range or self.attributes or self.ranges)

    @property
    def has_price_range(self) -> bool:
        return self.price_min is not None or self.price_max is not None

    def without(self, facet: str) -> "Filters":
        """These filters less the ones on one facet ("brand", "category", "price" or
        "attr.<name>", value and range alike): what that facet's counts are taken under, so a
        shopper sees the other values they could add (disjunctive faceting)."""
        name = facet.removeprefix("attr.") if facet.startswith("attr.") else None
        return replace(
            self,
            brands=() if facet == "brand" else self.brands,
            categories=() if facet == "category" else self.categories,
            price_min=None if facet == "price" else self.price_min,
            price_max=None if facet == "price" else self.price_max,
            attributes=tuple(a for a in self.attributes if a[0] != name),
            ranges=tuple(r for r in self.ranges if r[0] != name))
