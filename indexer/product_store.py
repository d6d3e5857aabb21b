"""The products of one index, addressed by a dense integer doc number shared by all indexes."""
from __future__ import annotations

import gzip
import json
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np

from indexer.filters import Filters, filter_key
from indexer.schema import Product

PRODUCTS_FILE = "products.jsonl.gz"


class ProductStore:
    """Products by doc number and by id, with columns for fast filtering."""

    def __init__(self, products: Sequence[Product]):
        self.products = list(products)
        self.doc_of = {p.id: doc for doc, p in enumerate(self.products)}
        self._price = np.array([np.nan if p.price is None else p.price for p in self.products], dtype=np.float64)
        self._brand = np.array([filter_key(p.brand) for p in self.products], dtype=object)
        self._category = np.array([filter_key(p.category) for p in self.products], dtype=object)

    def __len__(self) -> int:
        return len(self.products)

    def get(self, product_id: str) -> Product | None:
        doc = self.doc_of.get(product_id)
        return None if doc is None else self.products[doc]

    def allowed_docs(self, filters: Filters) -> np.ndarray:
        """Doc numbers that pass the filters, ascending (the dense leg's view of Filters)."""
        mask = np.ones(len(self.products), dtype=bool)
        if filters.brands:
            mask &= np.isin(self._brand, filters.brands)
        if filters.categories:
            mask &= np.isin(self._category, filters.categories)
        with np.errstate(invalid="ignore"):  # NaN prices compare False, so they never pass
            if filters.price_min is not None:
                mask &= self._price >= filters.price_min
            if filters.price_max is not None:
                mask &= self._price <= filters.price_max
        return np.flatnonzero(mask)

    def brands(self) -> list[tuple[str, int]]:
        values, counts = np.unique([p.brand for p in self.products if p.brand], return_counts=True)
        return sorted(zip(values.tolist(), counts.tolist()), key=lambda vc: -vc[1])

    def save(self, directory: Path) -> None:
        with gzip.open(Path(directory) / PRODUCTS_FILE, "wt", encoding="utf-8") as out:
            for product in self.products:
                out.write(json.dumps(product.to_dict(), ensure_ascii=False) + "\n")

    @classmethod
    def load(cls, directory: Path) -> "ProductStore":
        with gzip.open(Path(directory) / PRODUCTS_FILE, "rt", encoding="utf-8") as lines:
            return cls([Product.from_dict(json.loads(line)) for line in lines])
