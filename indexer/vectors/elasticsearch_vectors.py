"""The dense leg on an Elasticsearch cluster: kNN over the version's own Elasticsearch index
(its dense_vector field), with the same interface as SegmentedVectors.

Filters go into Elasticsearch's kNN filter, so they apply before the top k is cut (a
filtered query still returns k results when k exist). The cluster's index is refreshed
before an update is acknowledged; hits are also checked against the snapshot's live docs,
so a doc this snapshot does not hold (newer, or deleted in it) is never returned.
"""
from __future__ import annotations

import numpy as np

from indexer.filters import Filters
from indexer.keyword.elasticsearch_index import ElasticsearchKeywordIndex
from indexer.product_store import ProductStore

KIND = "elasticsearch"


class ElasticsearchVectors:
    kind = KIND
    on_gpu = False

    def __init__(self, index: ElasticsearchKeywordIndex, products: ProductStore):
        self.index = index
        self.products = products

    def __len__(self) -> int:
        return len(self.products)

    def search(self, query: np.ndarray, k: int, filters: Filters | None = None) -> list[tuple[int, float]]:
        if k <= 0:
            return []
        hits = self.index.knn(query, k, None if filters is None or filters.is_empty else filters)
        return [(doc, score) for doc, score in hits if doc in self.products.live]

    def vector(self, doc: int) -> np.ndarray:
        return self.index.vector(doc)

    def vectors_of(self, docs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(which of these docs have a vector, their vectors in order): one multi-get; a doc
        deleted on the cluster since this snapshot has none."""
        found = self.index.vectors(docs) if len(docs) else []  # the cluster refuses an empty multi-get
        rows = [v for v in found if v is not None]
        return (np.array([v is not None for v in found], dtype=bool),
                np.stack(rows) if rows else np.zeros((0, 0), dtype=np.float32))

    def similarities(self, query: np.ndarray, docs: np.ndarray) -> np.ndarray:
        query = np.asarray(query, dtype=np.float32).reshape(-1)
        # A doc deleted on the cluster since this snapshot has no vector: similarity 0.
        return np.array([0.0 if v is None else float(v @ query) for v in self.index.vectors(docs)], dtype=np.float32)
