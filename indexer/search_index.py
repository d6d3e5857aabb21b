"""One index version opened for searching: products, vectors and keyword index together."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from indexer import versions
from indexer.build import KEYWORD_DIR
from indexer.keyword import KeywordConfig
from indexer.keyword.tantivy_index import TantivyKeywordIndex
from indexer.product_store import ProductStore
from indexer.vectors import VectorIndex


@dataclass
class SearchIndex:
    directory: Path
    manifest: dict
    products: ProductStore
    vectors: VectorIndex
    keyword: TantivyKeywordIndex

    @property
    def version(self) -> str:
        return self.manifest["version"]

    @classmethod
    def open(cls, directory: Path, use_gpu: bool = True) -> "SearchIndex":
        directory = Path(directory)
        manifest = versions.read_manifest(directory)
        keyword_config = KeywordConfig(**manifest.get("keyword", {}))
        return cls(
            directory=directory,
            manifest=manifest,
            products=ProductStore.load(directory),
            vectors=VectorIndex.load(directory, use_gpu=use_gpu),
            keyword=TantivyKeywordIndex.open(directory / KEYWORD_DIR, keyword_config),
        )

    @classmethod
    def open_current(cls, root: Path, use_gpu: bool = True) -> "SearchIndex":
        return cls.open(versions.current_dir(root), use_gpu=use_gpu)
