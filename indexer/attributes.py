"""Which product attributes a catalog offers shoppers as facets, filters and sort keys.

A catalog names them (its index versions record the choice in their manifest):
  facets   attributes counted by value and filterable by value (`attr.<name>=value`),
           compared like brands: trimmed, whitespace collapsed, case-insensitive; a list
           value is several values
  numeric  attributes filterable by range (`attr.<name>_min/_max`), summarised as a range
           with a histogram, and sortable; their values must read as numbers ("60.0", 2)
An attribute may be both. Checked when an index is built: every named attribute must occur
in the catalog, and every value of a numeric one must be a number.
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any, Sequence

from indexer.filters import filter_key
from indexer.schema import Product
from indexer.validation import DECIMAL_COMMA

NAME = re.compile(r"[A-Za-z0-9_]+")
# Identifiers (searched as text, never facets) and the product's own fields, which facets,
# filters and sorts already name plainly; a name ending in _min or _max would read as a range.
RESERVED = ("model", "ean", "brand", "category", "price")
RANGE_SUFFIXES = ("_min", "_max")


@dataclass(frozen=True)
class AttributeConfig:
    facets: tuple[str, ...] = ()
    numeric: tuple[str, ...] = ()
    # Each item of a list value is one facet value. Versions built before that read a list as
    # one value (its text) in their keyword index; they keep reading it so until rebuilt.
    split_lists: bool = True

    def __post_init__(self):
        object.__setattr__(self, "facets", tuple(dict.fromkeys(self.facets)))
        object.__setattr__(self, "numeric", tuple(dict.fromkeys(self.numeric)))
        for kind, names in (("facets", self.facets), ("numeric", self.numeric)):
            bad = [n for n in names if not NAME.fullmatch(n) or n in RESERVED or n.endswith(RANGE_SUFFIXES)]
            if bad:
                raise ValueError(f"{kind}: attribute names are ASCII letters, digits and _ (rename a column such "
                                 f"as größe to groesse), not {', '.join(RESERVED)} "
                                 f"and not ending in _min or _max; got {', '.join(map(repr, bad))}")

    @classmethod
    def from_manifest(cls, manifest: dict) -> "AttributeConfig":
        """What a version was built with (none before attributes were configurable)."""
        recorded = manifest.get("attributes") or {}
        return cls(tuple(recorded.get("facets", ())), tuple(recorded.get("numeric", ())),
                   bool(recorded.get("split_lists", False)))

    @classmethod
    def parse(cls, facets: str | None, numeric: str | None) -> "AttributeConfig":
        """Comma-separated names, as a command line gives them."""
        def names(text):
            return tuple(n.strip() for n in (text or "").split(",") if n.strip())
        return cls(names(facets), names(numeric))

    def manifest(self) -> dict:
        return {"facets": list(self.facets), "numeric": list(self.numeric), "split_lists": self.split_lists}


def list_items(raw: Any) -> Sequence[Any]:
    """The items of an attribute value: a list's own, or the value itself as the one item."""
    return raw if isinstance(raw, (list, tuple)) else (raw,)


def text_values(raw: Any) -> list[str]:
    """The texts an attribute value holds, for searching: the value itself when it is text,
    the texts in it when it is a list (["Bluetooth", "USB"]); numbers, true/false and objects
    hold no words a shopper types."""
    return [item for item in list_items(raw) if isinstance(item, str) and item.strip()]


def facet_values(raw: Any, split_lists: bool = True) -> tuple[str, ...]:
    """A facet attribute's values as shoppers see them: one for a text, a number or true/false,
    each item of a list (a product both "Bluetooth" and "USB" counts under both and passes a
    filter on either), none for a missing value, NaN or an object; a value once however often
    it repeats, as filters compare values. split_lists=False: a version built before lists
    were split, whose value is the whole value's text."""
    if not split_lists:
        text = "" if raw is None else str(raw).strip()
        return (text,) if text else ()
    first_spelling: dict[str, str] = {}
    for item in list_items(raw):
        if item is None or isinstance(item, (dict, list, tuple)) or (isinstance(item, float) and math.isnan(item)):
            continue
        text = str(item).strip()
        if text:
            first_spelling.setdefault(filter_key(text), text)
    return tuple(first_spelling.values())


def facet_term(name: str, value: str) -> str:
    """The term a keyword backend indexes and filters one facet value as ("name=value", the
    value normalised as every filter compares it)."""
    return f"{name}={filter_key(value)}"


def facet_terms(name: str, raw: Any, split_lists: bool = True) -> tuple[str, ...]:
    """The terms of a product's facet attribute value, one per value it holds."""
    return tuple(facet_term(name, value) for value in facet_values(raw, split_lists))


def numeric_value(raw: Any) -> float | None:
    """An attribute value as a number: None when missing or not a finite number."""
    if raw is None or isinstance(raw, bool):
        return None
    if isinstance(raw, str) and DECIMAL_COMMA.fullmatch(raw.strip()):
        raw = raw.strip().replace(",", ".")  # "1,5" as a comma locale writes it; "1,250" stays ambiguous: refused
    try:
        value = float(raw)
    except (TypeError, ValueError, OverflowError):
        return None
    return value if math.isfinite(value) else None


def attribute_problems(products: Sequence[Product], config: AttributeConfig, limit: int = 20,
                       rows: Sequence[int] | None = None) -> list[str]:
    """Why this catalog does not fit the configuration, one line each (empty: it fits)."""
    present = {name for p in products for name in p.attributes}
    problems = [f"attribute {name!r} is configured but no product has it"
                for name in sorted(set(config.facets + config.numeric) - present)]
    return problems + value_problems(products, config, limit, rows)


def value_problems(products: Sequence[Product], config: AttributeConfig, limit: int = 20,
                   rows: Sequence[int] | None = None) -> list[str]:
    """Products whose numeric attributes are not numbers, or whose facet attributes hold an
    object (in a list or not): one line each, named by rows[i] (the source's record numbers,
    CatalogReport.rows; default: 1-based positions)."""
    problems: list[str] = []
    for row, product in zip(rows or range(1, len(products) + 1), products):
        for name in config.facets:
            raw = product.attributes.get(name)
            if config.split_lists and any(isinstance(item, (dict, list, tuple)) for item in list_items(raw)):
                problems.append(f"row {row} (product {product.id}): attributes.{name} {raw!r} holds an object or a "
                                f"list in a list, but {name} is a facet: its values are texts, numbers or "
                                "true/false, or a list of them")
                if len(problems) >= limit:
                    return problems
        for name in config.numeric:
            raw = product.attributes.get(name)
            if raw not in (None, "") and numeric_value(raw) is None:
                problems.append(f"row {row} (product {product.id}): attributes.{name} {raw!r} is not a number, "
                                f"but {name} is a numeric attribute")
                if len(problems) >= limit:
                    return problems
    return problems


def check_attributes(products: Sequence[Product], config: AttributeConfig, whole_catalog: bool = True,
                     rows: Sequence[int] | None = None) -> None:
    """Raise ValueError naming every problem; whole_catalog=False (an update) checks values
    only. rows: as value_problems'."""
    problems = (attribute_problems(products, config, rows=rows) if whole_catalog
                else value_problems(products, config, rows=rows))
    if problems:
        raise ValueError("the products do not fit the attribute configuration:\n  " + "\n  ".join(problems))
