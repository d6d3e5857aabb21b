"""Build a complete index version from a catalog and switch to it safely.

Steps: take the build lock, clear leftovers of interrupted builds, write store, vectors and
keyword index into a hidden staging folder, write the manifest, verify, carry over the
incremental updates the serving version logged since this build started (holding its write
lock, so none slips past), serve it (CURRENT, and the keyword backend's alias), prune old
versions. A build killed at any point leaves the serving version untouched. Switching to a
version on disk, rolling back and pruning live in indexer/switching.py.
"""
from __future__ import annotations

import hashlib
import json
import logging
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Sequence

from encoders.atomic_files import write_atomically
from encoders.embedding_cache import encode_cached
from encoders.exported_tower import exports_folder
from encoders.product_text import product_text
from encoders.towers import TextEncoder
from indexer import update_log, versions
from indexer.attributes import AttributeConfig, check_attributes
from indexer.incremental import carry_over
from indexer.keyword import KeywordConfig
from indexer.keyword.factory import create_keyword_index, keyword_manifest
from indexer.product_store import ProductStore
from indexer.schema import Product
from indexer.vectors import VectorIndex, VectorIndexConfig
from indexer.switching import prune_versions
from indexer.verify import verify_version

log = logging.getLogger(__name__)


@dataclass
class IndexConfig:
    vector: VectorIndexConfig = field(default_factory=VectorIndexConfig)
    keyword: KeywordConfig = field(default_factory=KeywordConfig)
    attributes: AttributeConfig = field(default_factory=AttributeConfig)


def catalog_checksum(products: Sequence[Product]) -> str:
    digest = hashlib.sha256()
    for product in products:
        digest.update(json.dumps(product.to_dict(), sort_keys=True, ensure_ascii=False).encode())
    return digest.hexdigest()[:16]


def build_version(products: Sequence[Product], encoder: TextEncoder, root: Path,
                  config: IndexConfig | None = None, embedding_cache: Path | None = None,
                  show_progress: bool = False, keep: int = versions.DEFAULT_KEEP,
                  elasticsearch=None, serve: bool = True) -> Path:
    """Write a new index version under root and make it the serving one; returns its folder.

    serve=False stages it beside the serving version instead (to compare the two in the
    workbench first); `switch_to_version` serves it later, with the updates made meanwhile.
    elasticsearch: an ElasticsearchConfig, for the elasticsearch keyword backend."""
    if not products:
        raise ValueError("cannot build an index from an empty catalog")
    config = config or IndexConfig()
    check_attributes(products, config.attributes)
    # "auto" becomes the kind for this catalog's size, so the manifest records what was built.
    config = replace(config, vector=config.vector.resolved(len(products)))
    root = Path(root)
    with versions.build_lock(root):
        versions.remove_abandoned_builds(root)
        serving = versions.serving_dir(root)
        carried_from_seq = update_log.last_seq(serving) if serving else 0
        version = versions.new_version_name()
        staging = versions.staging_dir(root, version)
        manifest = _write_version(products, encoder, staging, version, config, embedding_cache,
                                  show_progress, elasticsearch)
        new_index = verify_version(staging, len(products), elasticsearch)
        # Before it can serve: its tower's graph and tokenizer, for servers without torch.
        encoder.export(exports_folder(root))
        if not serve and serving is not None:
            # What `switch_to_version` needs to carry over the updates made meanwhile.
            manifest["staged_from"] = {"version": serving.name, "seq": carried_from_seq}
            write_manifest(staging, manifest)
            final = versions.stage(root, staging, version)
        else:
            if serving is not None:
                with update_log.write_lock(serving):
                    carry_over(serving, carried_from_seq, new_index, encoder, manifest)
                    write_manifest(staging, manifest)
                    final = versions.publish(root, staging, version, new_index.snapshot().seq)
            else:
                final = versions.publish(root, staging, version)
            new_index.keyword.mark_serving()
        pruned = prune_versions(root, keep, protect=(version,), elasticsearch=elasticsearch)
    log.info("built index %s: %d products in %s; pruned %s", version, len(products),
             manifest["build_timings"], pruned or "nothing")
    return final


def _write_version(products, encoder, staging: Path, version: str, config: IndexConfig,
                   embedding_cache, show_progress, elasticsearch=None) -> dict:
    timings = {}
    started = time.perf_counter()
    ProductStore.of(products).save(staging)
    timings["store_s"] = time.perf_counter() - started

    started = time.perf_counter()
    vectors = encode_cached(encoder, [product_text(p) for p in products], embedding_cache, show_progress)
    timings["encode_s"] = time.perf_counter() - started

    vectors_on_cluster = config.vector.kind == "elasticsearch"
    if vectors_on_cluster and config.keyword.backend != "elasticsearch":
        raise ValueError("vectors on Elasticsearch need the elasticsearch keyword backend too")
    started = time.perf_counter()
    if not vectors_on_cluster:
        VectorIndex.build(vectors, config.vector).save(staging)
    timings["vector_index_s"] = time.perf_counter() - started

    started = time.perf_counter()
    keyword = create_keyword_index(staging, version, config.keyword, config.attributes, elasticsearch,
                                   encoder.dimension if vectors_on_cluster else None)
    if vectors_on_cluster:
        keyword.add(range(len(products)), products, vectors)
    else:
        keyword.add(range(len(products)), products)
    timings["keyword_index_s"] = time.perf_counter() - started

    manifest = {
        "version": version,
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "product_count": len(products),
        "catalog_checksum": catalog_checksum(products),
        "encoder": {"model": encoder.name, "source": encoder.source, "fingerprint": encoder.fingerprint,
                    "dimension": encoder.dimension, "backend": encoder.backend,
                    "vectors_key": encoder.vectors_key},
        "vector_index": asdict(config.vector),
        "keyword": keyword_manifest(config.keyword, keyword),
        "attributes": config.attributes.manifest(),
        "build_timings": {k: round(v, 3) for k, v in timings.items()},
    }
    write_manifest(staging, manifest)  # written last: a folder without one is never switched to
    return manifest


def write_manifest(directory: Path, manifest: dict) -> None:
    write_atomically(Path(directory) / versions.MANIFEST_FILE, json.dumps(manifest, indent=2))
