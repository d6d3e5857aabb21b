"""Build a complete index version from a catalog: product store, vectors, keyword index."""
from __future__ import annotations

import hashlib
import json
import logging
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Sequence

from encoders.embedding_cache import encode_cached
from encoders.product_text import product_text
from encoders.towers import TextEncoder
from indexer import versions
from indexer.keyword import KeywordConfig
from indexer.keyword.tantivy_index import TantivyKeywordIndex
from indexer.product_store import ProductStore
from indexer.schema import Product
from indexer.vectors import VectorIndex, VectorIndexConfig

log = logging.getLogger(__name__)
KEYWORD_DIR = "keyword"


@dataclass
class IndexConfig:
    vector: VectorIndexConfig = field(default_factory=VectorIndexConfig)
    keyword: KeywordConfig = field(default_factory=KeywordConfig)


def catalog_checksum(products: Sequence[Product]) -> str:
    digest = hashlib.sha256()
    for product in products:
        digest.update(json.dumps(product.to_dict(), sort_keys=True, ensure_ascii=False).encode())
    return digest.hexdigest()[:16]


def build_version(products: Sequence[Product], encoder: TextEncoder, root: Path,
                  config: IndexConfig | None = None, embedding_cache: Path | None = None,
                  show_progress: bool = False) -> Path:
    """Write a new index version under root and make it the serving one; returns its folder."""
    if not products:
        raise ValueError("cannot build an index from an empty catalog")
    config = config or IndexConfig()
    root = Path(root)
    versions.remove_abandoned_builds(root)
    version = versions.new_version_name()
    staging = versions.staging_dir(root, version)
    timings = {}

    started = time.perf_counter()
    store = ProductStore(products)
    store.save(staging)
    timings["store_s"] = time.perf_counter() - started

    started = time.perf_counter()
    vectors = encode_cached(encoder, [product_text(p) for p in products], embedding_cache, show_progress)
    timings["encode_s"] = time.perf_counter() - started

    started = time.perf_counter()
    VectorIndex.build(vectors, config.vector).save(staging)
    timings["vector_index_s"] = time.perf_counter() - started

    started = time.perf_counter()
    keyword = TantivyKeywordIndex.create(staging / KEYWORD_DIR, config.keyword)
    keyword.add(range(len(products)), products)
    timings["keyword_index_s"] = time.perf_counter() - started

    manifest = {
        "version": version,
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "product_count": len(products),
        "catalog_checksum": catalog_checksum(products),
        "encoder": {"model": encoder.name, "fingerprint": encoder.fingerprint, "dimension": encoder.dimension},
        "vector_index": asdict(config.vector),
        "keyword": asdict(config.keyword),
        "build_timings": {k: round(v, 3) for k, v in timings.items()},
    }
    # The manifest is written last: a version folder without one is never switched to.
    (staging / versions.MANIFEST_FILE).write_text(json.dumps(manifest, indent=2))
    final = versions.publish(root, staging, version)
    log.info("built index %s: %d products in %s", version, len(products), manifest["build_timings"])
    return final
