"""The two retrieval legs. Each has one method: retrieve(query, k) -> [(doc, score)], best first."""
from __future__ import annotations

from collections import OrderedDict

import numpy as np

from encoders.towers import TextEncoder
from indexer.search_index import SearchIndex
from search_engine.types import Query


class QueryVectorCache:
    """Shoppers repeat queries; the transformer is the slowest step of a search, so skip it."""

    def __init__(self, encoder: TextEncoder, size: int = 10_000):
        self.encoder = encoder
        self.size = size
        self._vectors: OrderedDict[str, np.ndarray] = OrderedDict()

    def __call__(self, text: str) -> np.ndarray:
        key = " ".join(text.split())  # not lower-cased: a cased model would embed differently
        vector = self._vectors.get(key)
        if vector is None:
            vector = self.encoder.encode([key])[0]
            if self.size > 0:
                self._vectors[key] = vector
                if len(self._vectors) > self.size:
                    self._vectors.popitem(last=False)
        else:
            self._vectors.move_to_end(key)
        return vector


class DenseRetriever:
    def __init__(self, index: SearchIndex, query_vector: QueryVectorCache):
        self.index = index
        self.query_vector = query_vector

    def retrieve(self, query: Query, k: int) -> list[tuple[int, float]]:
        vectors = self.index.vectors
        if getattr(vectors, "filters_natively", False):  # Elasticsearch kNN filters on the cluster
            return vectors.search_filtered(self.query_vector(query.text), k, query.filters)
        allowed = None if query.filters.is_empty else self.index.products.allowed_docs(query.filters)
        return vectors.search(self.query_vector(query.text), k, allowed)


class KeywordRetriever:
    def __init__(self, index: SearchIndex):
        self.index = index

    def retrieve(self, query: Query, k: int) -> list[tuple[int, float]]:
        return self.index.keyword.search(query.text, k, None if query.filters.is_empty else query.filters)
