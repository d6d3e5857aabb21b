"""Checks a freshly built version must pass before it may serve."""
from __future__ import annotations

from pathlib import Path

from indexer.search_index import SearchIndex


class VerificationError(RuntimeError):
    pass


def verify_version(directory: Path, expected_products: int, elasticsearch=None) -> SearchIndex:
    """Counts agree across the product store, vectors and keyword index, and a probe answers."""
    index = SearchIndex.open(directory, use_gpu=False, elasticsearch=elasticsearch)
    counts = {"products": len(index.products), "vectors": len(index.vectors), "keyword": index.keyword.num_docs()}
    if set(counts.values()) != {expected_products}:
        raise VerificationError(f"{directory.name}: counts disagree, expected {expected_products}: {counts}")
    probe_doc = next(doc for doc, p in enumerate(index.products.products) if p is not None)
    probe = index.products.products[probe_doc]
    if not index.keyword.search(probe.title, 10):
        raise VerificationError(f"{directory.name}: keyword probe {probe.title!r} found nothing")
    if probe_doc not in [d for d, _ in index.vectors.search(index.vectors.vector(probe_doc), 10)]:
        raise VerificationError(f"{directory.name}: vector probe did not find product {probe.id} itself")
    return index
