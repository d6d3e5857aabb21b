"""One index version opened for searching: products, vectors and keyword index together,
kept in step with the version's update log."""
from __future__ import annotations

import threading
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from indexer import update_log, versions
from indexer.keyword import KeywordConfig
from indexer.keyword.tantivy_index import TantivyKeywordIndex
from indexer.product_store import ProductStore
from indexer.schema import Product
from indexer.vectors import VectorIndex

KEYWORD_DIR = "keyword"


@dataclass
class SearchIndex:
    directory: Path
    manifest: dict
    products: ProductStore
    vectors: VectorIndex
    keyword: TantivyKeywordIndex
    log_offset: int = 0
    applied_seq: int = 0
    _sync_lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @property
    def version(self) -> str:
        return self.manifest["version"]

    @classmethod
    def open(cls, directory: Path, use_gpu: bool = True) -> "SearchIndex":
        directory = Path(directory)
        manifest = versions.read_manifest(directory)
        keyword_config = KeywordConfig(**manifest.get("keyword", {}))
        index = cls(
            directory=directory,
            manifest=manifest,
            products=ProductStore.load(directory),
            vectors=VectorIndex.load(directory, use_gpu=use_gpu),
            keyword=TantivyKeywordIndex.open(directory / KEYWORD_DIR, keyword_config),
        )
        index.sync()
        return index

    @classmethod
    def open_current(cls, root: Path, use_gpu: bool = True) -> "SearchIndex":
        return cls.open(versions.current_dir(root), use_gpu=use_gpu)

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
