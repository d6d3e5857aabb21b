"""One index version opened for serving: the snapshot searches read, and the one path that
publishes the next.

Searches call `snapshot()` once and read only that object; nothing in it changes afterwards.
A change (this process's write, or another process's, replayed from the update log by
`catch_up`) builds the next snapshot beside the current one and publishes it with one
reference assignment, under a lock only writers take. The building shares the append-only
product table and delta vectors, so it costs the change, not the catalog
(docs/architecture.md, "Serving state").
"""
from __future__ import annotations

import threading
from pathlib import Path

import numpy as np

from indexer import update_log, versions
from indexer.attributes import AttributeConfig
from indexer.keyword.base import KeywordIndex
from indexer.keyword.factory import KEYWORD_DIR, open_keyword_index
from indexer.product_store import ProductStore
from indexer.schema import Product
from indexer.snapshot import IndexSnapshot
from indexer.vectors import VectorIndex
from indexer.vectors.elasticsearch_vectors import KIND as ELASTICSEARCH_VECTORS, ElasticsearchVectors
from indexer.vectors.segments import VectorTable

__all__ = ["KEYWORD_DIR", "SearchIndex"]


class SearchIndex:
    def __init__(self, directory: Path, manifest: dict, products: ProductStore, vectors: VectorTable | None,
                 keyword: KeywordIndex):
        """vectors: None when the version keeps its vectors in the (Elasticsearch) keyword index."""
        self.directory = Path(directory)
        self.manifest = manifest
        self.keyword = keyword  # the writable index; searches use the snapshot's searcher
        self._vectors = vectors
        self._publish_lock = threading.Lock()  # writers only: one next snapshot at a time
        self._snapshot = self._view(products, seq=0, log_offset=0)

    @classmethod
    def open(cls, directory: Path, use_gpu: bool = True, elasticsearch=None) -> "SearchIndex":
        """The version as built, then with every committed change of its update log.
        elasticsearch: an ElasticsearchConfig, needed for versions whose keywords live there."""
        directory = Path(directory)
        manifest = versions.read_manifest(directory)
        keyword = open_keyword_index(directory, manifest, elasticsearch)
        on_cluster = manifest["vector_index"]["kind"] == ELASTICSEARCH_VECTORS
        vectors = None if on_cluster else VectorTable(VectorIndex.load(directory, use_gpu=use_gpu))
        products = ProductStore.load(directory, AttributeConfig.from_manifest(manifest))
        index = cls(directory, manifest, products, vectors, keyword)
        index.catch_up()
        return index

    @classmethod
    def open_current(cls, root: Path, use_gpu: bool = True, elasticsearch=None) -> "SearchIndex":
        return cls.open(versions.current_dir(root), use_gpu=use_gpu, elasticsearch=elasticsearch)

    @property
    def version(self) -> str:
        return self.manifest["version"]

    def snapshot(self) -> IndexSnapshot:
        """The current view; hold it for a whole search."""
        return self._snapshot

    @property
    def products(self) -> ProductStore:
        """The current snapshot's products, for one-off reads (a search reads its snapshot's)."""
        return self._snapshot.products

    @property
    def product_count(self) -> int:
        return len(self._snapshot.products)

    def committed_seq(self) -> int:
        """The last change any writer has committed to this version (and may have acknowledged)."""
        return update_log.keyword_applied(self.directory)

    def catch_up(self) -> int:
        """Publish the changes committed to the update log since the current snapshot (by any
        process); returns how many. Changes logged but not yet committed to the keyword index
        wait, so the keyword searcher always holds what the products hold."""
        with self._publish_lock:
            current = self._snapshot
            committed = self.committed_seq()
            if committed <= current.seq:
                return 0
            entries = [(change, end) for change, end in update_log.read_entries(self.directory, current.log_offset)
                       if change.seq <= committed]
            changes = [change for change, _ in entries if change.seq > current.seq]
            if entries:
                self._publish(current, changes, entries[-1][1])
            return len(changes)

    def publish(self, changes: list[update_log.Change], log_offset: int) -> IndexSnapshot:
        """The writer's step after logging `changes` and committing them to the keyword index
        (its write lock held): the next snapshot, published."""
        with self._publish_lock:
            current = self._snapshot
            if changes and changes[0].seq <= current.seq:
                raise RuntimeError(f"change {changes[0].seq} is not after snapshot {current.seq}")
            return self._publish(current, changes, log_offset)

    def _publish(self, current: IndexSnapshot, changes: list[update_log.Change], log_offset: int) -> IndexSnapshot:
        """All or nothing: whatever fails, the current snapshot stays, and the next attempt
        starts from it (storage past it, left by a failed attempt, is rewound first)."""
        upserts = [c for c in changes if c.op == "upsert"]
        for expected, change in enumerate(upserts, current.products.next_doc):
            if change.doc != expected:
                raise RuntimeError(f"update log change {change.seq} has doc {change.doc}, expected {expected}")
        products = [Product.from_dict(c.product) for c in upserts]
        vectors = np.array([update_log.unpack_vector(c.vector) for c in upserts]) if upserts else None
        searcher = self.keyword.searcher()  # may fail (a reload): before anything is appended
        current.products.table.rewind(current.products.size)
        if self._vectors is not None:
            self._vectors.rewind(current.products.size)
            if vectors is not None:
                self._vectors.append(vectors)
        store = current.products.with_changes(products, [c.replaced_doc for c in changes if c.replaced_doc is not None])
        seq = changes[-1].seq if changes else current.seq
        self._snapshot = self._view(store, seq, log_offset, searcher)  # the one assignment readers see
        return self._snapshot

    def _view(self, products: ProductStore, seq: int, log_offset: int, keyword=None) -> IndexSnapshot:
        vectors = ElasticsearchVectors(self.keyword, products) if self._vectors is None else \
            self._vectors.view(products)
        return IndexSnapshot(self.version, self.manifest, products, vectors, keyword or self.keyword.searcher(), seq,
                             log_offset)
