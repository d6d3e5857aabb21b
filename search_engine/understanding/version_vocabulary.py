"""The catalog vocabulary of one index version, built on first use and shared by its searches."""
from __future__ import annotations

from typing import Callable

import numpy as np

from search_engine.built_once import BuiltOnce
from search_engine.understanding.vocabulary import CatalogVocabulary, build_vocabulary


class VersionVocabulary(BuiltOnce[CatalogVocabulary]):
    """Builds from the version's snapshot at first use (seconds for 20k products: a neighbour
    vote per uncategorized product), once, under a lock; afterwards a plain read."""

    def __init__(self, index, encode: Callable[[list[str]], np.ndarray], attribute_max_chars: int):
        super().__init__(self._build_vocabulary)
        self._index = index  # a SearchIndex
        self._encode = encode
        self._attribute_max_chars = attribute_max_chars  # as the version's keyword leg reads attributes

    def _build_vocabulary(self) -> CatalogVocabulary:
        snapshot = self._index.snapshot()
        store, vectors = snapshot.products, snapshot.vectors
        products = store.by_doc()
        live = [doc for doc, product in enumerate(products) if product is not None]
        rows = [vectors.vector(doc) for doc in live]
        matrix = np.zeros((store.size, len(rows[0]) if rows else 0), np.float32)
        if rows:
            matrix[live] = np.stack(rows)
        return build_vocabulary(products, matrix, self._encode, self._attribute_max_chars)
