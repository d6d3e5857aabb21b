"""The products of one index, addressed by a dense integer doc number shared by all indexes.

Incremental updates never reuse a doc number: an upserted product gets a new one and its
old doc becomes a tombstone (None), so every index can apply the same change independently.
"""
from __future__ import annotations

import gzip
import json
from pathlib import Path
from typing import Sequence

import numpy as np

from indexer.filters import Filters, filter_key
from indexer.schema import Product

PRODUCTS_FILE = "products.jsonl.gz"


class ProductStore:
    """Products by doc number and by id, with columns for fast filtering."""

    def __init__(self, products: Sequence[Product | None]):
        self.products: list[Product | None] = list(products)
        self.doc_of = {p.id: doc for doc, p in enumerate(self.products) if p is not None}
        self._alive = np.array([p is not None for p in self.products], dtype=bool)
        self._price = np.array([_price(p) for p in self.products], dtype=np.float64)
        self._brand = np.array([filter_key(p.brand) if p else "" for p in self.products], dtype=object)
        self._category = np.array([filter_key(p.category) if p else "" for p in self.products], dtype=object)

    def __len__(self) -> int:
        """Live products (tombstones excluded)."""
        return len(self.doc_of)

    @property
    def next_doc(self) -> int:
        return len(self.products)

    def get(self, product_id: str) -> Product | None:
        doc = self.doc_of.get(product_id)
        return None if doc is None else self.products[doc]

    def alive(self, doc: int) -> bool:
        return 0 <= doc < len(self.products) and bool(self._alive[doc])

    @property
    def has_tombstones(self) -> bool:
        return len(self.doc_of) < len(self.products)

    def allowed_docs(self, filters: Filters) -> np.ndarray:
        """Live doc numbers that pass the filters, ascending (the dense leg's view of Filters)."""
        return np.flatnonzero(self._passing(filters, slice(None)))

    def passes(self, doc: int, filters: Filters) -> bool:
        """Whether one live doc passes the filters, by the same rules as allowed_docs."""
        return 0 <= doc < len(self.products) and bool(self._passing(filters, [doc])[0])

    def _passing(self, filters: Filters, rows) -> np.ndarray:
        mask = self._alive[rows].copy()
        if filters.brands:
            mask &= np.isin(self._brand[rows], filters.brands)
        if filters.categories:
            mask &= np.isin(self._category[rows], filters.categories)
        with np.errstate(invalid="ignore"):  # NaN prices compare False, so they never pass
            if filters.price_min is not None:
                mask &= self._price[rows] >= filters.price_min
            if filters.price_max is not None:
                mask &= self._price[rows] <= filters.price_max
        return mask

    def put(self, doc: int, product: Product) -> None:
        """Store a product under a new doc number, tombstoning its previous doc if any."""
        if doc != len(self.products):
            raise ValueError(f"doc numbers are assigned in order: expected {len(self.products)}, got {doc}")
        old = self.doc_of.get(product.id)
        if old is not None:
            self.remove(old)
        self.products.append(product)
        self.doc_of[product.id] = doc
        self._alive = np.append(self._alive, True)
        self._price = np.append(self._price, _price(product))
        self._brand = np.append(self._brand, np.array([filter_key(product.brand)], dtype=object))
        self._category = np.append(self._category, np.array([filter_key(product.category)], dtype=object))

    def remove(self, doc: int) -> None:
        product = self.products[doc]
        if product is None:
            return
        if self.doc_of.get(product.id) == doc:
            del self.doc_of[product.id]
        self.products[doc] = None
        self._alive[doc] = False

    def brands(self) -> list[tuple[str, int]]:
        values, counts = np.unique([p.brand for p in self.products if p and p.brand], return_counts=True)
        return sorted(zip(values.tolist(), counts.tolist()), key=lambda vc: -vc[1])

    def live_products(self) -> list[Product]:
        return [p for p in self.products if p is not None]

    def save(self, directory: Path) -> None:
        with gzip.open(Path(directory) / PRODUCTS_FILE, "wt", encoding="utf-8") as out:
            for product in self.products:
                out.write(json.dumps(product.to_dict() if product else None, ensure_ascii=False) + "\n")

    @classmethod
    def load(cls, directory: Path) -> "ProductStore":
        with gzip.open(Path(directory) / PRODUCTS_FILE, "rt", encoding="utf-8") as lines:
            return cls([_product_or_none(json.loads(line)) for line in lines])


def _price(product: Product | None) -> float:
    return np.nan if product is None or product.price is None else product.price


def _product_or_none(data) -> Product | None:
    return None if data is None else Product.from_dict(data)
