"""The FAISS vector index: inner product over unit vectors, addressed by doc number.

"auto" by default: exact ("flat") up to FLAT_MAX_PRODUCTS products, "hnsw" up to
HNSW_MAX_PRODUCTS, "ivfpq" (re-scored exactly) beyond (see default_kind); "hnsw" and "ivfpq"
trade a little recall for speed and memory on large catalogs. The raw vectors are readable
beside the index (for "flat" and "hnsw", FAISS's own copy; for "ivfpq", memory-mapped from
vectors.npy, which every kind saves), which serves three needs exactly: filtered searches
on small allowed sets, approximate searches that a filter starved of results, and "similar
products" lookups by product.
"""
from __future__ import annotations

import contextlib
import json
import math
import threading
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import faiss
import numpy as np

from indexer.vectors.gpu import to_gpu_if_available

INDEX_FILE = "vectors.faiss"
VECTORS_FILE = "vectors.npy"
CONFIG_FILE = "vectors.json"
KINDS = ("flat", "hnsw", "ivfpq")
# "elasticsearch": the vectors live in the Elasticsearch keyword index (dense_vector + kNN)
# instead of FAISS; see indexer/keyword/elasticsearch_index.py.
ALL_KINDS = KINDS + ("elasticsearch",)
# "auto": chosen by catalog size when a build starts (default_kind); never stored.
AUTO = "auto"
# "auto" by catalog size (search-bench-vectors, 384-d, one thread, docs/benchmarks.md):
# - exact "flat" up to FLAT_MAX_PRODUCTS: its latency grows linearly (p50 7.8-8.9 ms at 50k,
#   15.9 ms at 100k on the 2-core VM), leaving the 5 ms target near 30k;
# - "hnsw" (M=32, efSearch=128) up to HNSW_MAX_PRODUCTS: recall@10 1.000 at ~0.5 ms, but it
#   holds every vector plus its graph in RAM, ~1.8 KB a product, so 1 GB lasts ~550k;
# - "ivfpq" beyond: PQ codes (~90 B a product in RAM) with the top candidates re-scored exactly
#   from the memory-mapped full vectors (ivf_refine), recall@10 ~0.99.
FLAT_MAX_PRODUCTS = 30_000
HNSW_MAX_PRODUCTS = 500_000
# Below this many allowed products a filtered search scans their vectors directly: exact,
# and cheaper than asking an approximate index to skip everything else.
EXACT_FILTER_LIMIT = 50_000
# OpenMP threads one search uses (set_search_threads; the faiss_threads setting).
_search_threads = 1


def set_search_threads(threads: int) -> None:
    """The OpenMP threads each search uses, in whichever thread it runs. OpenMP keeps the
    count per thread: setting it once in the main thread leaves a server's request threads
    on every core, where thread start-up makes a single query about 3x slower."""
    global _search_threads
    _search_threads = max(int(threads), 1)


@contextlib.contextmanager
def _openmp_threads(threads: int):
    """This thread's OpenMP thread count set for the block and restored after it (torch
    shares the runtime and keeps its own count)."""
    previous = faiss.omp_get_max_threads()
    if previous != threads:
        faiss.omp_set_num_threads(threads)
    try:
        yield
    finally:
        if previous != threads:
            faiss.omp_set_num_threads(previous)


def top_k(docs: np.ndarray, scores: np.ndarray, k: int) -> list[tuple[int, float]]:
    """The k best (doc, score), best first; ties keep doc order."""
    if len(scores) > k:
        part = np.argpartition(-scores, k - 1)[:k]
        order = part[np.lexsort((docs[part], -scores[part]))]
    else:
        order = np.lexsort((docs, -scores))
    return [(int(docs[i]), float(scores[i])) for i in order]


def default_kind(n_products: int) -> str:
    """The vector index kind "auto" picks for a catalog of n_products."""
    if n_products <= FLAT_MAX_PRODUCTS:
        return "flat"
    return "hnsw" if n_products <= HNSW_MAX_PRODUCTS else "ivfpq"


@dataclass
class VectorIndexConfig:
    kind: str = AUTO
    hnsw_m: int = 32
    hnsw_ef_construction: int = 200
    hnsw_ef_search: int = 128
    ivf_nlist: int = 0  # 0: about 4 * sqrt(n), the usual rule of thumb
    ivf_nprobe: int = 32
    pq_m: int = 48  # sub-quantizers; must divide the dimension (384 = 48 * 8)
    pq_nbits: int = 8
    # IVF-PQ: fetch this many times k candidates and re-score them exactly from the full
    # vectors (PQ codes alone cap recall@10 near 0.73 on MiniLM vectors); 0 turns it off.
    ivf_refine: int = 8
    use_gpu: bool = True  # only takes effect when FAISS itself sees a GPU

    def __post_init__(self):
        if self.kind not in ALL_KINDS + (AUTO,):
            raise ValueError(f"unknown vector index kind {self.kind!r}; expected one of "
                             f"{', '.join(ALL_KINDS + (AUTO,))}")

    def resolved(self, n_products: int) -> "VectorIndexConfig":
        """This config with "auto" replaced by the kind for n_products (a copy; others unchanged)."""
        return replace(self, kind=default_kind(n_products)) if self.kind == AUTO else self


def _build_base(config: VectorIndexConfig, dimension: int, n: int) -> "faiss.Index":
    metric = faiss.METRIC_INNER_PRODUCT
    if config.kind == "flat":
        return faiss.IndexFlatIP(dimension)
    if config.kind == "hnsw":
        index = faiss.IndexHNSWFlat(dimension, config.hnsw_m, metric)
        index.hnsw.efConstruction = config.hnsw_ef_construction
        return index
    if dimension % config.pq_m:
        raise ValueError(f"pq_m={config.pq_m} must divide the vector dimension {dimension}")
    nlist = config.ivf_nlist or max(1, int(4 * math.sqrt(max(n, 1))))
    quantizer = faiss.IndexFlatIP(dimension)
    return faiss.IndexIVFPQ(quantizer, dimension, nlist, config.pq_m, config.pq_nbits, metric)


class _IndexMemory:
    """FAISS's own copy of an exact or HNSW index's vectors, readable as a numpy array
    (np.asarray): every array made from it keeps the index, and so the memory, alive."""

    def __init__(self, index: "faiss.Index", storage: "faiss.IndexFlat"):
        self.index = index
        rows, dimension = int(storage.ntotal), int(storage.d)
        address = faiss.rev_swig_ptr(storage.get_xb(), rows * dimension).__array_interface__["data"][0]
        self.__array_interface__ = {"data": (address, True), "shape": (rows, dimension), "typestr": "<f4",
                                    "version": 3}  # read-only


def held_vectors(index: "faiss.Index") -> np.ndarray | None:
    """The vectors an exact or HNSW index (under its IndexIDMap2) holds, in doc order, without
    copying them; None for IVF-PQ, which holds only codes. Reading these instead of the
    memory-mapped file keeps one copy resident, not two."""
    if not isinstance(index, faiss.IndexIDMap2):
        return None
    ids = faiss.vector_to_array(index.id_map)
    if not np.array_equal(ids, np.arange(len(ids))):  # row i is doc i only as build() adds them
        return None
    inner = faiss.downcast_index(index.index)
    if isinstance(inner, faiss.IndexHNSWFlat):
        inner = faiss.downcast_index(inner.storage)
    if not isinstance(inner, faiss.IndexFlat) or inner.ntotal == 0:
        return None
    return np.asarray(_IndexMemory(index, inner))


class VectorIndex:
    """One version's FAISS index over the vectors it was built with; never changed after
    build or load, so any number of threads may search it (on a GPU, one at a time: FAISS's
    GPU indexes are not thread-safe even for searches). Updates live beside it, in the
    snapshot's delta segment (indexer/vectors/segments.py)."""

    def __init__(self, config: VectorIndexConfig, index: "faiss.Index", vectors: np.ndarray):
        self.config = config
        self.cpu_index = index
        self.index, self.on_gpu = to_gpu_if_available(index) if config.use_gpu else (index, False)
        self._gpu_lock = threading.Lock() if self.on_gpu else contextlib.nullcontext()
        self.vectors = vectors

    @classmethod
    def build(cls, vectors: np.ndarray, config: VectorIndexConfig | None = None) -> "VectorIndex":
        """Index vectors whose row number is the doc number."""
        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        n, dimension = vectors.shape
        config = (config or VectorIndexConfig()).resolved(n)  # the saved config names the real kind
        index = faiss.IndexIDMap2(_build_base(config, dimension, n))
        if not index.is_trained:
            index.train(vectors)
        index.add_with_ids(vectors, np.arange(n, dtype=np.int64))
        held = held_vectors(index)
        return cls(config, index, vectors if held is None else held)

    def __len__(self) -> int:
        return int(self.cpu_index.ntotal)

    @property
    def dimension(self) -> int:
        return int(self.cpu_index.d)

    def _params(self, selector=None):
        if self.config.kind == "hnsw":
            return faiss.SearchParametersHNSW(sel=selector, efSearch=max(self.config.hnsw_ef_search, 1))
        if self.config.kind == "ivfpq":
            return faiss.SearchParametersIVF(sel=selector, nprobe=self.config.ivf_nprobe)
        return faiss.SearchParameters(sel=selector) if selector is not None else None

    def search(self, query: np.ndarray, k: int, allowed: np.ndarray | None = None,
               selector=None) -> list[tuple[int, float]]:
        """Top-k (doc, score) for one query vector; only docs in `allowed` (ascending doc
        numbers) when given, else only those `selector` (a faiss.IDSelector) takes."""
        if k <= 0 or len(self) == 0:
            return []
        query = np.ascontiguousarray(query, dtype=np.float32).reshape(1, -1)
        if allowed is not None:
            if len(allowed) == 0:
                return []
            if len(allowed) <= EXACT_FILTER_LIMIT:
                return self.exact(query[0], k, allowed)
            allowed = np.asarray(allowed, dtype=np.int64)
            hits = self._search(query, k, faiss.IDSelectorBatch(allowed))
            # Checked again: FAISS's GPU indexes ignore selectors.
            found = np.array([doc for doc, _ in hits], dtype=np.int64)
            hits = [hit for hit, ok in zip(hits, np.isin(found, allowed)) if ok]
            if len(hits) < min(k, len(allowed)):  # the approximate index ran dry under the filter
                return self.exact(query[0], k, allowed)
            return hits
        return self._search(query, k, selector)

    def _search(self, query: np.ndarray, k: int, selector=None) -> list[tuple[int, float]]:
        params = self._params(selector)
        refine = self.config.ivf_refine if self.config.kind == "ivfpq" else 0
        fetch = min(k * max(refine, 1), len(self))
        with self._gpu_lock, _openmp_threads(_search_threads):
            scores, docs = self.index.search(query, fetch, params=params) if params else \
                self.index.search(query, fetch)
        filled = docs[0] >= 0  # FAISS pads with -1 when it finds fewer than asked
        hits = list(zip(docs[0][filled].tolist(), scores[0][filled].tolist()))  # plain ints and floats, in one pass
        if refine:  # exact scores for the PQ candidates, from the full vectors
            found = np.sort(np.array([d for d, _ in hits], dtype=np.int64))
            exact = self.vectors[found] @ query[0] if len(found) else np.zeros(0)
            hits = sorted(zip(found.tolist(), exact.tolist()), key=lambda h: -h[1])
        return hits[:k]

    def exact(self, query: np.ndarray, k: int, allowed: np.ndarray) -> list[tuple[int, float]]:
        """Exact top-k among `allowed` docs, scored from the full vectors."""
        allowed = np.asarray(allowed, dtype=np.int64)
        return top_k(allowed, self.vectors[allowed] @ query, k)

    def vector(self, doc: int) -> np.ndarray:
        return np.asarray(self.vectors[doc], dtype=np.float32)

    def save(self, directory: Path) -> None:
        directory = Path(directory)
        faiss.write_index(self.cpu_index, str(directory / INDEX_FILE))
        np.save(directory / VECTORS_FILE, np.asarray(self.vectors, dtype=np.float32))
        (directory / CONFIG_FILE).write_text(json.dumps(asdict(self.config), indent=2))

    @classmethod
    def load(cls, directory: Path, use_gpu: bool = True) -> "VectorIndex":
        directory = Path(directory)
        config = VectorIndexConfig(**json.loads((directory / CONFIG_FILE).read_text()))
        config.use_gpu = use_gpu
        index = faiss.read_index(str(directory / INDEX_FILE))
        held = held_vectors(index)
        vectors = np.load(directory / VECTORS_FILE, mmap_mode="r") if held is None else held
        return cls(config, index, vectors)
