"""What one search reads: an immutable view of an index version at one point of its update log."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np

from indexer.filters import Filters
from indexer.keyword.base import KeywordSearcher
from indexer.product_store import ProductStore


class VectorSearcher(Protocol):
    """One snapshot's dense leg: SegmentedVectors (FAISS) or ElasticsearchVectors (kNN)."""

    kind: str  # the vector index kind, as the manifest names it
    on_gpu: bool

    def search(self, query: np.ndarray, k: int, filters: Filters | None = None) -> list[tuple[int, float]]:
        """Top-k (doc, score) among the snapshot's live products passing the filters, best first."""

    def vector(self, doc: int) -> np.ndarray: ...

    def vectors_of(self, docs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(which of these docs have a vector, their vectors in order), in one read."""

    def similarities(self, query: np.ndarray, docs: np.ndarray) -> np.ndarray:
        """The query's similarity to each of these docs (any docs of the snapshot), exactly."""

    def __len__(self) -> int:
        """Live products."""


@dataclass(frozen=True)
class IndexSnapshot:
    version: str
    manifest: dict
    products: ProductStore  # docs, live docs and filter columns
    vectors: VectorSearcher
    keyword: KeywordSearcher  # a point-in-time searcher holding at least what `products` holds
    seq: int  # the last update-log change this snapshot holds (0: none)
    log_offset: int  # the update log's byte offset just past that change
