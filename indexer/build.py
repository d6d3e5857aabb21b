"""Build a complete index version from a catalog and switch to it safely.

Steps: take the build lock, clear leftovers of interrupted builds, write store, vectors and
keyword index into a hidden staging folder, write the manifest, verify, carry over the
incremental updates the serving version logged since this build started (holding its write
lock, so none slips past), switch CURRENT atomically, prune old versions. A build killed at
any point leaves the serving version untouched.
"""
from __future__ import annotations

import fcntl
import hashlib
import json
import logging
import time
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Iterator, Sequence

from encoders.embedding_cache import encode_cached
from encoders.product_text import product_text
from encoders.towers import TextEncoder, encoder_source
from indexer import update_log, versions
from indexer.incremental import apply_updates
from indexer.keyword import KeywordConfig
from indexer.keyword.factory import create_keyword_index, keyword_manifest
from indexer.product_store import ProductStore
from indexer.schema import Product
from indexer.search_index import SearchIndex
from indexer.vectors import VectorIndex, VectorIndexConfig
from indexer.verify import verify_version

log = logging.getLogger(__name__)
BUILD_LOCK_FILE = ".build.lock"


class BuildInProgressError(RuntimeError):
    pass


@dataclass
class IndexConfig:
    vector: VectorIndexConfig = field(default_factory=VectorIndexConfig)
    keyword: KeywordConfig = field(default_factory=KeywordConfig)


def catalog_checksum(products: Sequence[Product]) -> str:
    digest = hashlib.sha256()
    for product in products:
        digest.update(json.dumps(product.to_dict(), sort_keys=True, ensure_ascii=False).encode())
    return digest.hexdigest()[:16]


@contextmanager
def build_lock(root: Path) -> Iterator[None]:
    root.mkdir(parents=True, exist_ok=True)
    with open(root / BUILD_LOCK_FILE, "w") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise BuildInProgressError(f"another full reindex is running on {root}") from None
        yield


def _serving_dir(root: Path) -> Path | None:
    try:
        return versions.current_dir(root)
    except versions.NoIndexError:
        return None


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
    # "auto" becomes the kind for this catalog's size, so the manifest records what was built.
    config = replace(config, vector=config.vector.resolved(len(products)))
    root = Path(root)
    with build_lock(root):
        versions.remove_abandoned_builds(root)
        serving = _serving_dir(root)
        carried_from_seq = update_log.last_seq(serving) if serving else 0
        version = versions.new_version_name()
        staging = versions.staging_dir(root, version)
        manifest = _write_version(products, encoder, staging, version, config, embedding_cache,
                                  show_progress, elasticsearch)
        new_index = verify_version(staging, len(products), elasticsearch)
        if not serve and serving is not None:
            # What `switch_to_version` needs to carry over the updates made meanwhile.
            manifest["staged_from"] = {"version": serving.name, "seq": carried_from_seq}
            _write_manifest(staging, manifest)
            final = versions.stage(root, staging, version)
        elif serving is None:
            final = versions.publish(root, staging, version)
        else:
            with update_log.write_lock(serving):
                _carry_over(serving, carried_from_seq, staging, encoder, manifest, elasticsearch)
                final = versions.publish(root, staging, version)
        if (serve or serving is None) and hasattr(new_index.keyword, "switch_alias"):  # Elasticsearch mirrors the switch
            new_index.keyword.switch_alias(elasticsearch.index_prefix)
        pruned = versions.prune(root, keep, protect=(version,))
    log.info("built index %s: %d products in %s; pruned %s", version, len(products),
             manifest["build_timings"], pruned or "nothing")
    return final


class StaleStagedVersionError(RuntimeError):
    pass


def switch_to_version(root: Path, version: str, elasticsearch=None) -> dict:
    """Serve a complete version on disk; returns its manifest.

    A version staged beside the serving one (build_version(serve=False)) first takes the
    updates the serving version logged since, under its write lock, as a full build's switch
    does, so none is lost. One staged beside an older serving version is refused: the updates
    made to the versions in between are not in it."""
    root = Path(root)
    with build_lock(root):
        target = versions.version_dir(root, version)
        if version not in versions.list_versions(root):
            raise versions.NoIndexError(f"no complete index version {version!r} under {root}")
        manifest = versions.read_manifest(target)
        staged_from, serving = manifest.get("staged_from"), _serving_dir(root)
        if staged_from is None or serving is None or serving.name == version:
            versions.switch(root, version)
            return manifest
        if staged_from["version"] != serving.name:
            raise StaleStagedVersionError(
                f"{version} was staged beside {staged_from['version']}, but {serving.name} serves now and its "
                f"updates are not in {version}; build a new version instead")
        with update_log.write_lock(serving):
            after_seq, manifest["staged_from"]["seq"] = staged_from["seq"], update_log.last_seq(serving)
            if manifest["staged_from"]["seq"] > after_seq:
                encoder = TextEncoder(encoder_source(manifest["encoder"]),
                                      backend=manifest["encoder"].get("backend", "torch"))
                _carry_over(serving, after_seq, target, encoder, manifest, elasticsearch)
            versions.switch(root, version)
    return manifest


def _write_version(products, encoder, staging: Path, version: str, config: IndexConfig,
                   embedding_cache, show_progress, elasticsearch=None) -> dict:
    timings = {}
    started = time.perf_counter()
    ProductStore(products).save(staging)
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
    keyword = create_keyword_index(staging, version, config.keyword, elasticsearch,
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
        "build_timings": {k: round(v, 3) for k, v in timings.items()},
    }
    _write_manifest(staging, manifest)  # written last: a folder without one is never switched to
    return manifest


def _write_manifest(directory: Path, manifest: dict) -> None:
    partial = directory / (versions.MANIFEST_FILE + ".tmp")
    partial.write_text(json.dumps(manifest, indent=2))
    partial.replace(directory / versions.MANIFEST_FILE)


def _carry_over(serving: Path, after_seq: int, staging: Path, encoder: TextEncoder, manifest: dict,
                elasticsearch=None) -> None:
    """Replay onto the new version the updates the serving one logged after this build began.

    Only each product's last change matters, so they are applied as one batch: the new
    version ends in the same state as the serving one for every product they touched.
    """
    changes, _ = update_log.read(serving)
    final_state: dict[str, Product | None] = {}
    for change in changes:
        if change.seq > after_seq:
            final_state[change.product_id] = Product.from_dict(change.product) if change.op == "upsert" else None
    if not final_state:
        return
    summary = apply_updates(
        SearchIndex.open(staging, use_gpu=False, elasticsearch=elasticsearch), encoder,
        upserts=[p for p in final_state.values() if p is not None],
        deletes=[pid for pid, p in final_state.items() if p is None])
    manifest["carried_updates"] = {"from_version": serving.name, "after_seq": after_seq,
                                   "through_seq": changes[-1].seq, "products": len(final_state),
                                   "deleted_not_found": summary.not_found}
    _write_manifest(staging, manifest)
