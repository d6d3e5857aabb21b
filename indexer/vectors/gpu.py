"""The GPU variant of vector search: the same FAISS index, moved to every GPU FAISS sees.

Only FAISS's own detection decides, so a CPU-only faiss build (faiss-cpu, as in CI) never
tries, and a faiss-gpu build on a machine without a GPU stays on the CPU too.
"""
from __future__ import annotations

import logging

import faiss

log = logging.getLogger(__name__)


def gpu_count() -> int:
    get = getattr(faiss, "get_num_gpus", None)
    return int(get()) if get else 0


def to_gpu_if_available(index: "faiss.Index") -> tuple["faiss.Index", bool]:
    """(index on the GPUs, True) when FAISS sees one and supports this index type there."""
    if gpu_count() == 0:
        return index, False
    try:
        return faiss.index_cpu_to_all_gpus(index), True
    except RuntimeError as exc:  # e.g. HNSW has no GPU implementation
        log.warning("FAISS sees a GPU but cannot move this index there (%s); using the CPU", exc)
        return index, False
