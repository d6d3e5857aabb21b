"""The vector index kind chosen by catalog size ("auto"), and search-bench-vectors' synthetic data."""
import json

import faiss
import numpy as np
import pytest

from indexer.vectors import VectorIndex, VectorIndexConfig, faiss_index
from indexer.vectors.faiss_index import AUTO, FLAT_MAX_PRODUCTS, HNSW_MAX_PRODUCTS, default_kind
from scripts import bench_vectors


def unit_vectors(n, d=384, seed=0):
    x = np.random.default_rng(seed).standard_normal((n, d)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def test_default_kind_is_exact_then_hnsw_then_ivfpq():
    assert default_kind(1) == "flat"
    assert default_kind(19_406) == "flat"  # the bundled Icecat catalog
    assert default_kind(FLAT_MAX_PRODUCTS - 1) == "flat"
    assert default_kind(FLAT_MAX_PRODUCTS) == "flat"
    assert default_kind(FLAT_MAX_PRODUCTS + 1) == "hnsw"
    assert default_kind(HNSW_MAX_PRODUCTS) == "hnsw"
    assert default_kind(HNSW_MAX_PRODUCTS + 1) == "ivfpq"
    assert default_kind(1_000_000) == "ivfpq"


def test_auto_is_the_default_and_only_auto_is_resolved():
    assert VectorIndexConfig().kind == AUTO
    config = VectorIndexConfig(hnsw_m=16, ivf_nprobe=8)
    assert config.resolved(FLAT_MAX_PRODUCTS + 1) == VectorIndexConfig(kind="hnsw", hnsw_m=16, ivf_nprobe=8)
    assert config.resolved(10).kind == "flat" and config.kind == AUTO  # a copy: the caller's config is kept
    for kind in ("flat", "hnsw", "ivfpq", "elasticsearch"):
        assert VectorIndexConfig(kind=kind).resolved(10_000_000).kind == kind
        assert VectorIndexConfig(kind=kind).resolved(1).kind == kind
    with pytest.raises(ValueError, match="unknown vector index kind 'annoy'.*auto"):
        VectorIndexConfig(kind="annoy")


def test_auto_build_of_a_small_catalog_is_exact_and_saved_as_flat(tmp_path):
    vectors = unit_vectors(300)
    index = VectorIndex.build(vectors, VectorIndexConfig(kind=AUTO, use_gpu=False))
    assert index.config.kind == "flat"
    assert isinstance(faiss.downcast_index(index.cpu_index.index), faiss.IndexFlatIP)
    assert index.search(vectors[3], 5)[0][0] == 3
    index.save(tmp_path)
    assert json.loads((tmp_path / faiss_index.CONFIG_FILE).read_text())["kind"] == "flat"
    assert VectorIndex.load(tmp_path, use_gpu=False).config.kind == "flat"
    assert VectorIndex.build(vectors).config.kind == "flat"  # no config at all: auto too


def test_auto_build_above_the_threshold_is_hnsw(monkeypatch):
    monkeypatch.setattr(faiss_index, "FLAT_MAX_PRODUCTS", 100)  # not 100k vectors in a unit test
    vectors = unit_vectors(300)
    index = VectorIndex.build(vectors, VectorIndexConfig(use_gpu=False))
    assert index.config.kind == "hnsw"
    assert isinstance(faiss.downcast_index(index.cpu_index.index), faiss.IndexHNSWFlat)
    assert index.search(vectors[7], 5)[0][0] == 7


def test_perturbed_copies_are_unit_vectors_at_the_intended_cosine_to_their_source():
    real = unit_vectors(50, seed=1)
    copies, sources = bench_vectors.perturbed_copies(real, 3000, np.random.default_rng(0), cosine=0.9)
    assert copies.shape == (3000, 384) and copies.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(copies, axis=1), 1.0, atol=1e-5)
    cosine = np.einsum("ij,ij->i", copies, real[sources])
    assert abs(cosine.mean() - 0.9) < 0.005
    assert cosine.min() > 0.85 and cosine.max() < 0.95
    assert len(np.unique(sources)) == 50  # random sources, all used
    assert np.array_equal(np.argmax(copies @ real.T, axis=1), sources)  # each copy is nearest its source
    again, _ = bench_vectors.perturbed_copies(real, 3000, np.random.default_rng(0), cosine=0.9)
    other, _ = bench_vectors.perturbed_copies(real, 3000, np.random.default_rng(1), cosine=0.9)
    assert np.array_equal(again, copies) and not np.allclose(other, copies)
    looser, src = bench_vectors.perturbed_copies(real, 3000, np.random.default_rng(0), cosine=0.8)
    assert abs(np.einsum("ij,ij->i", looser, real[src]).mean() - 0.8) < 0.01


def test_benchmark_runs_on_a_tiny_catalog():
    args = bench_vectors.parse_args(["--n", "2000", "--queries", "20", "--hnsw-ef-construction", "40",
                                     "--hnsw-ef-search", "32", "--ivf-nlist", "16", "--ivf-nprobe", "4",
                                     "--pq-m", "16"])
    figures = bench_vectors.run(unit_vectors(200, seed=2), args)
    rows = {row["index"]: row for row in figures["rows"]}
    assert list(rows) == ["flat", "hnsw M=32", "ivfpq nlist=16 PQ16", "ivfpq nlist=16 PQ16 +flat",
                          "ivfpq nlist=16 PQ16 +sq8"]
    assert rows["flat"]["recall_at_10"] == 1.0 and rows["flat"]["memory_bytes"] >= 2000 * 384 * 4
    # Re-ranking only improves on the PQ codes, and its storage is counted in memory.
    plain = rows["ivfpq nlist=16 PQ16"]
    for refine in ("+flat", "+sq8"):
        assert rows[f"ivfpq nlist=16 PQ16 {refine}"]["recall_at_10"] >= plain["recall_at_10"]
        assert rows[f"ivfpq nlist=16 PQ16 {refine}"]["memory_bytes"] > plain["memory_bytes"]
    assert all(0 < r["p50_ms"] <= r["p95_ms"] <= r["p99_ms"] for r in figures["rows"])
    assert "| flat | exact |" in bench_vectors.markdown(figures)
