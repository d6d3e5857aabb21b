"""Benchmark the FAISS vector indexes (flat, HNSW, IVF-PQ) on a large synthetic catalog.

The catalog is N perturbed copies of real Icecat product embeddings (the vectors.npy of a
built index): each copy is a random real vector plus isotropic Gaussian noise, renormalized,
with cosine about 0.90 to its source (--cosine). Queries are perturbed copies too (other
draws), so their nearest neighbours are copies of the same and of similar real products.
Ground truth is the exact top-10 by inner product (faiss.IndexFlatIP).

Per index and search setting it reports build time (all cores), memory (the serialized
size of the index, faiss.serialize_index: what it holds in RAM), single-query latency
p50/p95/p99 (one query at a time, one FAISS thread: how the engine serves) and recall@10
against exact. Besides the engine's kinds it measures IVF-PQ with re-ranking of k_factor*10
candidates, on the full vectors (IndexRefineFlat's exact scores) or on 8-bit scalar-quantized
copies (a quarter of their memory). Every engine kind also keeps the raw vectors
memory-mapped on disk beside the index (vectors.npy, N*d*4 bytes), not counted here.

"meets target" is recall@10 >= 0.95, p95 < 5 ms, and memory, scaled linearly to 1M vectors
when N is smaller, under 1 GB; latency at a small N understates flat and IVF at 1M.

Examples:
  search-bench-vectors --n 1000000 --queries 1000 --json var/bench-vectors.json
  search-bench-vectors --n 50000 --queries 200                      (a quick check)
  search-bench-vectors --kinds ivfpq --pq-m 48,96 --ivf-nprobe 32,64 --refine none,sq8
"""
from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path

import faiss
import numpy as np
from tqdm import tqdm

from indexer.vectors.faiss_index import VECTORS_FILE, VectorIndexConfig, _build_base

K = 10
TARGET = {"recall_at_10": 0.95, "p95_ms": 5.0, "memory_bytes_at_1m": 1e9}
CHUNK = 50_000


def ints(text: str) -> list[int]:
    return [int(x) for x in text.split(",") if x]


def names(text: str) -> list[str]:
    return [x.strip() for x in text.split(",") if x.strip()]


def parse_args(argv=None):
    parser = argparse.ArgumentParser(prog="search-bench-vectors", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--index", default="var/icecat-index",
                        help="a built index root whose serving version's vectors.npy seeds the catalog "
                             "(default: var/icecat-index)")
    parser.add_argument("--n", type=int, default=1_000_000, help="synthetic catalog size (default 1,000,000)")
    parser.add_argument("--queries", type=int, default=1000, help="queries (default 1000)")
    parser.add_argument("--cosine", type=float, default=0.9,
                        help="expected cosine of a perturbed copy with its source (default 0.9)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--kinds", type=names, default=["flat", "hnsw", "ivfpq"], help="default flat,hnsw,ivfpq")
    parser.add_argument("--hnsw-m", type=int, default=32)
    parser.add_argument("--hnsw-ef-construction", type=int, default=200)
    parser.add_argument("--hnsw-ef-search", type=ints, default=[64, 128, 256], help="default 64,128,256")
    parser.add_argument("--ivf-nlist", type=int, default=0, help="0: about 4*sqrt(n), as the engine does")
    parser.add_argument("--ivf-nprobe", type=ints, default=[16, 32, 64], help="default 16,32,64")
    parser.add_argument("--pq-m", type=ints, default=[48],
                        help="sub-quantizers (8 bits each), comma-separated; default 48 (96 trains much slower)")
    parser.add_argument("--refine", type=names, default=["none", "flat", "sq8"],
                        help="IVF-PQ re-ranking: none, flat (exact, full vectors), sq8; default all three")
    parser.add_argument("--refine-k-factor", type=ints, default=[4, 8],
                        help="re-rank k_factor*10 candidates, comma-separated (default 4,8)")
    parser.add_argument("--train-size", type=int, default=250_000,
                        help="IVF-PQ/SQ8 training sample (default 250,000; the engine trains on everything)")
    parser.add_argument("--json", metavar="FILE", help="also write the figures to FILE")
    args = parser.parse_args(argv)
    unknown = set(args.kinds) - {"flat", "hnsw", "ivfpq"} or set(args.refine) - {"none", "flat", "sq8"}
    if unknown:
        parser.error(f"unknown --kinds/--refine value(s): {', '.join(sorted(unknown))}")
    return args


def load_real_vectors(index_root: str | Path) -> np.ndarray:
    """The serving version's product vectors (memory-mapped float32, unit rows)."""
    from indexer.versions import current_dir

    return np.load(current_dir(Path(index_root)) / VECTORS_FILE, mmap_mode="r")


def noise_sigma(cosine: float, dimension: int) -> float:
    """Per-component sigma of isotropic noise that leaves a unit vector at `cosine` to its copy.

    Noise of squared norm t2 = sigma^2 * d (nearly constant in high dimension) is nearly
    orthogonal to the source, so the renormalized copy has cosine 1 / sqrt(1 + t2)."""
    return math.sqrt((1 / cosine ** 2 - 1) / dimension)


def perturbed_copies(real: np.ndarray, n: int, rng: np.random.Generator, cosine: float = 0.9,
                     progress: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """n unit vectors, each a random row of `real` plus noise; returns (vectors, source rows).

    Made in chunks so that only the output array is large."""
    real = np.asarray(real, dtype=np.float32)  # the real catalog is small (Icecat: 30 MB)
    dimension = real.shape[1]
    sigma = noise_sigma(cosine, dimension)
    sources = rng.integers(0, len(real), n)
    out = np.empty((n, dimension), dtype=np.float32)
    for start in tqdm(range(0, n, CHUNK), desc="synthetic vectors", unit="chunk", disable=not progress):
        rows = slice(start, min(start + CHUNK, n))
        chunk = real[sources[rows]] + sigma * rng.standard_normal((len(sources[rows]), dimension), dtype=np.float32)
        out[rows] = chunk / np.linalg.norm(chunk, axis=1, keepdims=True)
    return out, sources


def add_in_chunks(index: "faiss.Index", vectors: np.ndarray, desc: str) -> None:
    # Chunks only to show progress (HNSW at 1M takes long); the result is the same.
    for start in tqdm(range(0, len(vectors), CHUNK), desc=desc, unit="chunk", leave=False):
        index.add(vectors[start:start + CHUNK])


def training_sample(vectors: np.ndarray, size: int, rng: np.random.Generator) -> np.ndarray:
    if len(vectors) <= size:
        return vectors
    return vectors[np.sort(rng.choice(len(vectors), size, replace=False))]


def memory_bytes(index: "faiss.Index") -> int:
    return int(faiss.serialize_index(index).nbytes)


def latency_and_recall(index: "faiss.Index", queries: np.ndarray, truth: np.ndarray, params=None,
                       desc: str = "") -> dict:
    """One query at a time on one thread, as the engine serves; recall@10 against `truth`."""
    threads = faiss.omp_get_max_threads()
    faiss.omp_set_num_threads(1)
    try:
        for q in queries[:10]:  # warm-up: first-touch page faults, lazily built tables
            index.search(q[None], K, params=params)
        times, found = [], np.empty((len(queries), K), dtype=np.int64)
        for i in tqdm(range(len(queries)), desc=desc, unit="query", leave=False):
            started = time.perf_counter()
            _, ids = index.search(queries[i:i + 1], K, params=params)
            times.append(time.perf_counter() - started)
            found[i] = ids[0]
    finally:
        faiss.omp_set_num_threads(threads)
    recall = np.mean([len(set(f.tolist()) & set(t.tolist())) / K for f, t in zip(found, truth)])
    p50, p95, p99 = np.percentile(np.array(times) * 1000, [50, 95, 99])
    return {"p50_ms": round(float(p50), 3), "p95_ms": round(float(p95), 3), "p99_ms": round(float(p99), 3),
            "recall_at_10": round(float(recall), 4)}


def meets_target(row: dict, n: int) -> bool:
    return (row["recall_at_10"] >= TARGET["recall_at_10"] and row["p95_ms"] < TARGET["p95_ms"]
            and row["memory_bytes"] * max(1.0, 1_000_000 / n) < TARGET["memory_bytes_at_1m"])


def run(real: np.ndarray, args) -> dict:
    rng = np.random.default_rng(args.seed)
    dimension = real.shape[1]
    base, _ = perturbed_copies(real, args.n, rng, args.cosine, progress=True)
    queries, _ = perturbed_copies(real, args.queries, np.random.default_rng(args.seed + 1), args.cosine)
    rows = []

    def measure(name: str, search: str, index, build_s: float, memory: int, params=None) -> None:
        row = {"index": name, "search": search, "build_s": round(build_s, 2), "memory_bytes": memory}
        row.update(latency_and_recall(index, queries, truth, params, desc=f"{name} {search}"))
        row["meets_target"] = meets_target(row, args.n)
        rows.append(row)

    # The exact index: ground truth (batched, all cores), the "flat" row, and refine storage.
    started = time.perf_counter()
    flat = _build_base(VectorIndexConfig(kind="flat"), dimension, args.n)
    add_in_chunks(flat, base, "flat: add")
    flat_s = time.perf_counter() - started
    _, truth = flat.search(queries, K)
    if "flat" in args.kinds:
        measure("flat", "exact", flat, flat_s, memory_bytes(flat))

    if "hnsw" in args.kinds:
        config = VectorIndexConfig(kind="hnsw", hnsw_m=args.hnsw_m, hnsw_ef_construction=args.hnsw_ef_construction)
        started = time.perf_counter()
        hnsw = _build_base(config, dimension, args.n)
        add_in_chunks(hnsw, base, f"hnsw M={args.hnsw_m}: build")
        hnsw_s = time.perf_counter() - started
        memory = memory_bytes(hnsw)
        for ef in args.hnsw_ef_search:
            params = faiss.SearchParametersHNSW(efSearch=ef)
            measure(f"hnsw M={args.hnsw_m}", f"efSearch={ef}", hnsw, hnsw_s, memory, params)
        del hnsw

    if "ivfpq" in args.kinds:
        sample = training_sample(base, args.train_size, rng)
        sq8, sq8_s = None, 0.0
        if "sq8" in args.refine:  # 8-bit copies of the vectors: re-ranking scores almost as exact, 1/4 the memory
            started = time.perf_counter()
            sq8 = faiss.IndexScalarQuantizer(dimension, faiss.ScalarQuantizer.QT_8bit, faiss.METRIC_INNER_PRODUCT)
            sq8.train(sample)
            add_in_chunks(sq8, base, "sq8: add")
            sq8_s = time.perf_counter() - started
        for pq_m in args.pq_m:
            config = VectorIndexConfig(kind="ivfpq", ivf_nlist=args.ivf_nlist, pq_m=pq_m)
            started = time.perf_counter()
            ivf = _build_base(config, dimension, args.n)
            print(f"training IVF{ivf.nlist},PQ{pq_m} on {len(sample)} vectors...", file=sys.stderr)
            ivf.train(sample)
            add_in_chunks(ivf, base, f"ivfpq PQ{pq_m}: add")
            ivf_s = time.perf_counter() - started
            name = f"ivfpq nlist={ivf.nlist} PQ{pq_m}"
            for refine in args.refine:
                index, build_s = ivf, ivf_s
                if refine != "none":
                    # Over the already filled indexes: IVF-PQ proposes k_factor*10 candidates, the
                    # refine storage rescores them (its build time and memory are counted in).
                    storage, storage_s = (flat, flat_s) if refine == "flat" else (sq8, sq8_s)
                    index, build_s = faiss.IndexRefine(ivf, storage), ivf_s + storage_s
                memory = memory_bytes(index)  # once per index: serializing copies it
                for k_factor in [None] if refine == "none" else args.refine_k_factor:
                    for nprobe in args.ivf_nprobe:
                        params = ivf_params = faiss.SearchParametersIVF(nprobe=nprobe)
                        search = f"nprobe={nprobe}"
                        if k_factor:
                            params = faiss.IndexRefineSearchParameters(k_factor=k_factor, base_index_params=ivf_params)
                            search += f", rerank x{k_factor}"
                        measure(name + ("" if refine == "none" else f" +{refine}"), search, index, build_s, memory,
                                params)
            del ivf

    return {
        "n": args.n, "queries": args.queries, "dimension": dimension, "real_vectors": len(real),
        "seed": args.seed, "noise": {"kind": "isotropic gaussian, renormalized", "expected_cosine": args.cosine,
                                     "sigma_per_component": noise_sigma(args.cosine, dimension)},
        "build_threads": faiss.omp_get_max_threads(), "search_threads": 1,
        "memory": "faiss.serialize_index(index).nbytes; the engine also keeps vectors.npy memory-mapped",
        "raw_vectors_bytes": args.n * dimension * 4, "target": TARGET, "rows": rows,
    }


def markdown(figures: dict) -> str:
    lines = [f"{figures['n']:,} synthetic vectors ({figures['dimension']}-d, copies of {figures['real_vectors']:,} "
             f"real ones at cosine ~{figures['noise']['expected_cosine']}), {figures['queries']} queries, k={K}; "
             f"latency: one query at a time, 1 thread; memory: serialized index",
             "",
             "| index | search | build s | memory MB | bytes/vector | p50 ms | p95 ms | p99 ms | recall@10 | meets target |",
             "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |"]
    for r in figures["rows"]:
        lines.append(f"| {r['index']} | {r['search']} | {r['build_s']:.1f} | {r['memory_bytes'] / 1e6:.1f} | "
                     f"{r['memory_bytes'] / figures['n']:.0f} | {r['p50_ms']:.2f} | {r['p95_ms']:.2f} | "
                     f"{r['p99_ms']:.2f} | {r['recall_at_10']:.3f} | {'yes' if r['meets_target'] else 'no'} |")
    return "\n".join(lines)


def main(argv=None) -> int:
    args = parse_args(argv)
    try:
        real = load_real_vectors(args.index)
    except (FileNotFoundError, OSError) as exc:
        print(f"search-bench-vectors: no index vectors to start from: {exc}", file=sys.stderr)
        return 2
    figures = run(real, args)
    print(markdown(figures))
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(figures, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
