"""Checks a freshly built version must pass before it may serve."""
from __future__ import annotations

from pathlib import Path

from indexer.search_index import SearchIndex


class VerificationError(RuntimeError):
    pass


def verify_version(directory: Path, expected_products: int, elasticsearch=None) -> SearchIndex:
    """Counts agree across the product store, vectors and keyword index, and a probe answers."""
    index = SearchIndex.open(directory, use_gpu=False, elasticsearch=elasticsearch)
    snapshot = index.snapshot()
    counts = {"products": len(snapshot.products), "vectors": len(snapshot.vectors),
              "keyword": index.keyword.num_docs()}
    if set(counts.values()) != {expected_products}:
        raise VerificationError(f"{directory.name}: counts disagree, expected {expected_products}: {counts}")
    probe_doc = int(snapshot.products.live_docs()[0])
    probe = snapshot.products.product(probe_doc)
    if not snapshot.keyword.search(probe.title, 10):
        raise VerificationError(f"{directory.name}: keyword probe {probe.title!r} found nothing")
    if probe_doc not in [d for d, _ in snapshot.vectors.search(snapshot.vectors.vector(probe_doc), 10)]:
        raise VerificationError(f"{directory.name}: vector probe did not find product {probe.id} itself")
    return index
