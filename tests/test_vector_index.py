import threading

import numpy as np
import pytest

from indexer.vectors import VectorIndex, VectorIndexConfig


def unit_vectors(n, d=48, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, d)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def exact_top(vectors, query, k, allowed=None):
    docs = np.arange(len(vectors)) if allowed is None else np.asarray(allowed)
    scores = vectors[docs] @ query
    return [int(docs[i]) for i in np.argsort(-scores)[:k]]


def test_flat_is_exact_and_returns_doc_numbers():
    vectors = unit_vectors(500)
    index = VectorIndex.build(vectors)
    hits = index.search(vectors[42], 5)
    assert hits[0][0] == 42 and hits[0][1] == pytest.approx(1.0, abs=1e-5)
    assert [d for d, _ in hits] == exact_top(vectors, vectors[42], 5)


@pytest.mark.parametrize("kind", ["flat", "hnsw", "ivfpq"])
def test_save_load_round_trip(tmp_path, kind):
    vectors = unit_vectors(2000)
    config = VectorIndexConfig(kind=kind, pq_m=8, ivf_nlist=16, ivf_nprobe=16)
    index = VectorIndex.build(vectors, config)
    before = index.search(vectors[7], 10)
    index.save(tmp_path)
    loaded = VectorIndex.load(tmp_path)
    assert loaded.config.kind == kind and len(loaded) == 2000
    assert loaded.search(vectors[7], 10) == before
    # Approximate indexes still find the query's own vector first.
    assert before[0][0] == 7


@pytest.mark.parametrize("kind", ["flat", "hnsw", "ivfpq"])
def test_loaded_vectors_are_read_from_one_copy_and_outlive_the_index(tmp_path, kind):
    """Exact and HNSW indexes hold the vectors already: they are read from FAISS's copy, not
    also from the memory-mapped file (two resident copies); IVF-PQ holds only codes and reads
    the file. A row handed out stays valid after the index is gone (a version switched away)."""
    import gc

    vectors = unit_vectors(300)
    VectorIndex.build(vectors, VectorIndexConfig(kind=kind, pq_m=8, ivf_nlist=4)).save(tmp_path)
    loaded = VectorIndex.load(tmp_path)
    assert isinstance(loaded.vectors, np.memmap) == (kind == "ivfpq")
    assert np.array_equal(loaded.vectors, vectors) and not loaded.vectors.flags.writeable
    row, rows = loaded.vector(123), loaded.vectors[[5, 6]]
    del loaded
    gc.collect()
    for _ in range(3):  # memory freed too early would be reused by these
        VectorIndex.build(unit_vectors(300, seed=1), VectorIndexConfig(kind=kind, pq_m=8, ivf_nlist=4))
    assert np.array_equal(row, vectors[123]) and np.array_equal(rows, vectors[[5, 6]])


@pytest.mark.parametrize("kind", ["flat", "hnsw", "ivfpq"])
def test_filtered_search_returns_k_from_the_allowed_set(kind):
    vectors = unit_vectors(3000, seed=1)
    index = VectorIndex.build(vectors, VectorIndexConfig(kind=kind, pq_m=8, ivf_nlist=32, ivf_nprobe=4))
    allowed = np.arange(0, 3000, 97)  # 31 scattered docs, mostly far from the query
    hits = index.search(vectors[5], 10, allowed=allowed)
    assert len(hits) == 10
    assert {d for d, _ in hits} <= set(allowed.tolist())
    assert [d for d, _ in hits] == exact_top(vectors, vectors[5], 10, allowed)


def test_filter_with_fewer_than_k_allowed_returns_all_of_them():
    vectors = unit_vectors(100)
    index = VectorIndex.build(vectors)
    assert sorted(d for d, _ in index.search(vectors[0], 10, allowed=np.array([3, 9]))) == [3, 9]
    assert index.search(vectors[0], 10, allowed=np.array([], dtype=np.int64)) == []


def test_unknown_kind_and_bad_pq_are_named():
    with pytest.raises(ValueError, match="unknown vector index kind 'annoy'"):
        VectorIndexConfig(kind="annoy")
    with pytest.raises(ValueError, match="pq_m=7 must divide"):
        VectorIndex.build(unit_vectors(300), VectorIndexConfig(kind="ivfpq", pq_m=7))


def test_ivfpq_rescoring_from_full_vectors_recovers_recall_pq_codes_lose():
    rng = np.random.default_rng(3)
    centres = unit_vectors(40, seed=4)
    # Clustered vectors, like product embeddings: near neighbours differ in fine detail only.
    vectors = centres[rng.integers(0, 40, 4000)] + rng.normal(0, 0.03, (4000, centres.shape[1]))
    vectors = (vectors / np.linalg.norm(vectors, axis=1, keepdims=True)).astype(np.float32)
    queries = vectors[:50] + rng.normal(0, 0.01, (50, vectors.shape[1])).astype(np.float32)

    def recall(index):
        found = [len({d for d, _ in index.search(q, 10)} & set(exact_top(vectors, q, 10))) / 10 for q in queries]
        return float(np.mean(found))

    base = dict(kind="ivfpq", pq_m=8, ivf_nlist=32, ivf_nprobe=32)
    plain = recall(VectorIndex.build(vectors, VectorIndexConfig(**base, ivf_refine=0)))
    refined_index = VectorIndex.build(vectors, VectorIndexConfig(**base))
    refined = recall(refined_index)
    assert refined > 2 * plain and refined >= 0.9
    hits = refined_index.search(queries[0], 10)
    assert [s for _, s in hits] == sorted((s for _, s in hits), reverse=True)
    np.testing.assert_allclose([s for _, s in hits], [float(vectors[d] @ queries[0]) for d, _ in hits], rtol=1e-5)


class _ThreadCountRecorder:
    """Stands in front of a FAISS index and records the OpenMP threads each search ran with."""

    def __init__(self, index):
        self.index, self.seen = index, []

    def search(self, *args, **kwargs):
        import faiss

        self.seen.append(faiss.omp_get_max_threads())
        return self.index.search(*args, **kwargs)


def test_a_search_in_a_new_thread_uses_the_configured_openmp_threads():
    # OpenMP keeps its thread count per thread: a server's request threads would otherwise
    # search on every core, about 3x slower for a single query.
    import faiss

    from indexer.vectors.faiss_index import set_search_threads

    vectors = unit_vectors(300)
    index = VectorIndex.build(vectors)
    recorder = _ThreadCountRecorder(index.index)
    index.index = recorder
    around = []

    def search_in_thread():
        around.append(faiss.omp_get_max_threads())
        index.search(vectors[3], 5)
        around.append(faiss.omp_get_max_threads())

    set_search_threads(1)
    thread = threading.Thread(target=search_in_thread)
    thread.start()
    thread.join()
    if around[0] == 1:
        pytest.skip("a new thread starts with one OpenMP thread here (one core or OMP_NUM_THREADS=1)")
    assert recorder.seen == [1]
    assert around[1] == around[0]  # restored for whatever else the thread runs (torch)
