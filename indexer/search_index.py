"""One index version opened for searching: products, vectors and keyword index together,
kept in step with the version's update log."""
from __future__ import annotations

import threading
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from indexer import update_log, versions
from indexer.keyword.factory import KEYWORD_DIR, open_keyword_index
from indexer.product_store import ProductStore
from indexer.schema import Product
from indexer.vectors import VectorIndex

__all__ = ["KEYWORD_DIR", "SearchIndex"]


@dataclass
class SearchIndex:
    directory: Path
    manifest: dict
    products: ProductStore
    vectors: VectorIndex  # or ElasticsearchVectors when the vectors live on the cluster
    keyword: object  # TantivyKeywordIndex or ElasticsearchKeywordIndex: the same methods
    log_offset: int = 0
    applied_seq: int = 0
    _sync_lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @property
    def version(self) -> str:
        return self.manifest["version"]

    @classmethod
    def open(cls, directory: Path, use_gpu: bool = True, elasticsearch=None) -> "SearchIndex":
        """elasticsearch: an ElasticsearchConfig, needed for versions whose keywords live there."""
        directory = Path(directory)
        manifest = versions.read_manifest(directory)
        keyword = open_keyword_index(directory, manifest, elasticsearch)
        if manifest["vector_index"]["kind"] == "elasticsearch":
            from indexer.keyword.elasticsearch_index import ElasticsearchVectors

            vectors = ElasticsearchVectors(keyword)
        else:
            vectors = VectorIndex.load(directory, use_gpu=use_gpu)
        index = cls(directory=directory, manifest=manifest, products=ProductStore.load(directory),
                    vectors=vectors, keyword=keyword)
        index.sync()
        return index

    @classmethod
    def open_current(cls, root: Path, use_gpu: bool = True, elasticsearch=None) -> "SearchIndex":
        return cls.open(versions.current_dir(root), use_gpu=use_gpu, elasticsearch=elasticsearch)

    def sync(self) -> int:
        """Apply changes other writers logged since the last sync; returns how many."""
        if update_log.size(self.directory) == self.log_offset:
            return 0
        with self._sync_lock:
            changes, offset = update_log.read(self.directory, self.log_offset)
            self.apply_in_memory([c for c in changes if c.seq > self.applied_seq])
            self.log_offset = offset
        self.keyword.reload()
        return len(changes)

    def apply_in_memory(self, changes: list[update_log.Change]) -> None:
        """Products first, then vectors: a doc any index returns is always in the store."""
        for change in changes:
            if change.op == "upsert":
                self.products.put(change.doc, Product.from_dict(change.product))
                self.vectors.add(np.array([change.doc]), np.array([change.vector], dtype=np.float32))
            if change.replaced_doc is not None:
                self.products.remove(change.replaced_doc)
                self.vectors.remove(np.array([change.replaced_doc]))
            self.applied_seq = change.seq

    @property
    def product_count(self) -> int:
        return len(self.products)
