"""Filters that mean the same thing in the dense and the keyword leg.

Brands and categories match case-insensitively and exactly (any of the listed values);
the price range is inclusive at both ends, and a product without a price never passes a
price filter.
"""
from __future__ import annotations

from dataclasses import dataclass


def filter_key(value: str) -> str:
    """The normalised form both legs compare: trimmed, whitespace collapsed, lower case."""
    return " ".join(value.split()).lower()


@dataclass(frozen=True)
class Filters:
    brands: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    price_min: float | None = None
    price_max: float | None = None

    def __post_init__(self):
        if self.price_min is not None and self.price_min < 0:
            raise ValueError(f"price_min must not be negative, got {self.price_min}")
        if self.price_max is not None and self.price_max < 0:
            raise ValueError(f"price_max must not be negative, got {self.price_max}")
        if self.price_min is not None and self.price_max is not None and self.price_min > self.price_max:
            raise ValueError(f"price_min ({self.price_min}) is above price_max ({self.price_max})")
        object.__setattr__(self, "brands", tuple(filter_key(b) for b in self.brands if b.strip()))
        object.__setattr__(self, "categories", tuple(filter_key(c) for c in self.categories if c.strip()))

    @property
    def is_empty(self) -> bool:
        return not (self.brands or self.categories or self.has_price_range)

    @property
    def has_price_range(self) -> bool:
        return self.price_min is not None or self.price_max is not None
