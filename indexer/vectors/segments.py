"""The dense leg of one snapshot: the version's FAISS index (the base segment, never
changed) plus the vectors of products updated since the build (the delta segment,
append-only, searched exactly), seen through the snapshot's live docs.

Like a Lucene segment with its deletions bitmap: an update appends its vectors to the delta
and kills the replaced docs in the snapshot's LiveDocs; the FAISS index is not touched, and a
dead doc in it is skipped by a FAISS IDSelector over the live bitmap. A full reindex folds
the delta into a new base.
"""
from __future__ import annotations

import faiss
import numpy as np

from indexer.append_only import AppendOnlyArray
from indexer.filters import Filters
from indexer.product_store import ProductStore
from indexer.vectors.faiss_index import VectorIndex, top_k


class VectorTable:
    """The writer's side: the base index and the append-only delta rows after it."""

    def __init__(self, base: VectorIndex):
        self.base = base
        self.delta = AppendOnlyArray(np.zeros((0, base.dimension), dtype=np.float32))

    def append(self, vectors: np.ndarray) -> None:
        self.delta.append(np.asarray(vectors, dtype=np.float32).reshape(-1, self.base.dimension))

    def rewind(self, docs: int) -> None:
        """Forget delta rows of docs from `docs` on (a failed write's; no view holds them)."""
        self.delta.rewind(max(docs - len(self.base), 0))

    def view(self, products: ProductStore) -> "SegmentedVectors":
        base_size = len(self.base)
        if base_size + len(self.delta) != products.size:
            raise RuntimeError(f"vectors ({base_size} + {len(self.delta)}) and products ({products.size}) disagree")
        return SegmentedVectors(self.base, self.delta.head(), products)


class SegmentedVectors:
    """One snapshot's vectors; immutable. Doc d < len(base) is in the base, the rest in delta."""

    def __init__(self, base: VectorIndex, delta: np.ndarray, products: ProductStore):
        self.base = base
        self.delta = delta
        self.products = products
        self._base_selector = None

    @property
    def kind(self) -> str:
        return self.base.config.kind

    @property
    def on_gpu(self) -> bool:
        return self.base.on_gpu

    def __len__(self) -> int:
        return len(self.products)

    def vector(self, doc: int) -> np.ndarray:
        base_size = len(self.base)
        return self.base.vector(doc) if doc < base_size else np.asarray(self.delta[doc - base_size])

    def vectors_of(self, docs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(which of these docs have a vector, their vectors in order): here every doc has one."""
        docs = np.asarray(docs, dtype=np.int64)
        return np.ones(len(docs), dtype=bool), self._rows(docs)

    def similarities(self, query: np.ndarray, docs: np.ndarray) -> np.ndarray:
        """The query's inner product with each of these docs' vectors, exactly."""
        docs = np.asarray(docs, dtype=np.int64)
        return self._rows(docs) @ np.asarray(query, dtype=np.float32).reshape(-1)

    def _rows(self, docs: np.ndarray) -> np.ndarray:
        base_size = len(self.base)
        in_base = docs < base_size
        if in_base.all():  # no update among them: one gather, as before the delta existed
            return self.base.vectors[docs]
        rows = np.empty((len(docs), self.base.dimension), dtype=np.float32)
        rows[in_base] = self.base.vectors[docs[in_base]]
        rows[~in_base] = self.delta[docs[~in_base] - base_size]
        return rows

    def search(self, query: np.ndarray, k: int, filters: Filters | None = None) -> list[tuple[int, float]]:
        """Top-k (doc, score) among live products passing the filters, best first."""
        if k <= 0:
            return []
        query = np.ascontiguousarray(query, dtype=np.float32).reshape(-1)
        base_size = len(self.base)
        if filters is not None and not filters.is_empty:
            allowed = self.products.allowed_docs(filters)
            split = int(np.searchsorted(allowed, base_size))
            base_hits = self.base.search(query, k, allowed[:split]) if split else []
            return _merge(base_hits, self._delta_hits(query, k, allowed[split:]), k)
        delta_docs = np.arange(base_size, self.products.size)
        if len(delta_docs) and self.products.live.dead:
            delta_docs = delta_docs[self.products.live.mask()[base_size:]]
        return _merge(self._base_hits(query, k), self._delta_hits(query, k, delta_docs), k)

    def _base_hits(self, query: np.ndarray, k: int) -> list[tuple[int, float]]:
        dead = self.products.live.dead
        if not dead:
            return self.base.search(query, k)
        live = self.products.live
        # Few dead docs: fetch that many more and drop them; else (or when still short) let
        # FAISS skip them; and when even that comes up short (an approximate index's probed
        # lists were mostly dead, or a GPU index, which ignores selectors), scan exactly.
        hits = [h for h in self.base.search(query, k + dead if dead <= k else 2 * k) if h[0] in live]
        live_in_base = int(np.count_nonzero(live.mask()[: len(self.base)])) if len(hits) < k else k
        if len(hits) >= min(k, live_in_base):
            return hits[:k]
        hits = [h for h in self.base.search(query, k, selector=self._live_selector()) if h[0] in live]
        if len(hits) >= min(k, live_in_base):
            return hits
        return self.base.exact(query, k, np.flatnonzero(live.mask()[: len(self.base)]))

    def _live_selector(self):
        if self._base_selector is None:  # built once per snapshot; a racing reader builds the same
            bits = np.packbits(self.products.live.mask()[: len(self.base)], bitorder="little")
            selector = faiss.IDSelectorBitmap(len(self.base), faiss.swig_ptr(bits))
            selector.referenced_bits = bits  # the selector reads this buffer: keep it alive with it
            self._base_selector = selector
        return self._base_selector

    def _delta_hits(self, query: np.ndarray, k: int, docs: np.ndarray) -> list[tuple[int, float]]:
        if not len(docs):
            return []
        return top_k(docs, self.delta[docs - len(self.base)] @ query, k)


def _merge(first: list[tuple[int, float]], second: list[tuple[int, float]], k: int) -> list[tuple[int, float]]:
    if not second:
        return first[:k]
    if not first:
        return second[:k]
    return sorted(first + second, key=lambda hit: (-hit[1], hit[0]))[:k]
