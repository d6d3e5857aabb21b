"""Benchmark the tower backends: torch, ONNX Runtime (fp32) and ONNX Runtime int8.

For each backend: product encoding throughput (products/s, the tower's own batching: 16 texts
of similar token counts; on a fixed sample of Icecat product texts), single-query latency (one judged query at a time, p50/p95/p99), and
how close its vectors are to torch's (cosine on the sample). With --eval it also encodes the
whole catalog with each backend's product tower into its own index (reusing
var/embedding-cache where the vectors are the same; --embedding-cache "" times real encoding) and scores dense and hybrid nDCG@10 on
the Icecat judgments, so the quality cost of a backend is measured, not assumed.

Example:
  search-bench-encoders --sample 2000 --eval --embedding-cache "" --json var/bench-encoders.json
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from scripts.common import ICECAT_DIR, ICECAT_JUDGMENTS, percentiles, setup_logging

BACKENDS = ("torch", "onnx", "onnx-int8")


def parse_args(argv=None):
    parser = argparse.ArgumentParser(prog="search-bench-encoders", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--backends", default=",".join(BACKENDS), help="comma-separated, from torch,onnx,onnx-int8")
    parser.add_argument("--sample", type=int, default=2000, help="product texts for the throughput figure")
    parser.add_argument("--query-passes", type=int, default=3, help="passes over the judged queries for latency")
    parser.add_argument("--eval", action="store_true", help="also build a full-catalog index per backend and score it")
    parser.add_argument("--work", default="var/bench-encoders", help="where --eval puts its indexes")
    parser.add_argument("--embedding-cache", default="var/embedding-cache")
    parser.add_argument("--json", help="write the figures here")
    parser.add_argument("-v", "--verbose", action="store_true")
    return parser.parse_args(argv)


def measure(encoder, texts, queries, passes: int) -> dict:
    encoder.encode(texts[:64])  # warm-up: first calls allocate
    started = time.perf_counter()
    vectors = encoder.encode(texts)
    seconds = time.perf_counter() - started
    for query in queries[:20]:
        encoder.encode([query])
    latencies = []
    for _ in range(passes):
        for query in queries:
            started = time.perf_counter()
            encoder.encode([query])
            latencies.append((time.perf_counter() - started) * 1000)
    return {"backend": encoder.backend, "encode_products_per_s": round(len(texts) / seconds, 1),
            "query_ms": percentiles(latencies)}, vectors


def evaluate_backend(encoder, products, judgments, work: Path, cache: str | None) -> dict:
    from encoders.towers import Towers
    from indexer.build import build_version
    from indexer.search_index import SearchIndex
    from indexer.versions import current_dir, read_manifest
    from search_engine.engine import Engine
    from search_engine.evaluation import Configuration, evaluate

    root = work / encoder.backend
    build_version(products, encoder, root, embedding_cache=cache or None, show_progress=True, keep=1)
    timings = read_manifest(current_dir(root))["build_timings"]
    engine = Engine(SearchIndex.open_current(root), Towers(encoder, encoder))
    configurations = [Configuration.parse("dense"), Configuration.parse("hybrid-linear:0.4")]
    scores = {r.configuration.name: round(r.summary()["ndcg@10"], 4) for r in evaluate(engine, judgments, configurations)}
    return {"full_catalog_encode_s": timings["encode_s"], "ndcg@10": scores}


def main(argv=None) -> int:
    args = parse_args(argv)
    setup_logging(args.verbose)
    from encoders.product_text import product_text
    from encoders.towers import TextEncoder
    from indexer.icecat import load_icecat
    from search_engine.factory import apply_thread_settings
    from search_engine.judgments import load_judgments
    from search_engine.settings import Settings

    apply_thread_settings(Settings())  # as served: FAISS one thread, torch every core
    backends = [b.strip() for b in args.backends.split(",") if b.strip()]
    unknown = set(backends) - set(BACKENDS)
    if unknown:
        print(f"search-bench-encoders: unknown backend(s) {', '.join(sorted(unknown))}", file=sys.stderr)
        return 2
    products = load_icecat(ICECAT_DIR).products
    step = max(1, len(products) // args.sample)
    texts = [product_text(p) for p in products[::step][: args.sample]]
    judgments = load_judgments(ICECAT_JUDGMENTS)
    queries = sorted(judgments)
    figures, reference = [], None
    for backend in ["torch"] + [b for b in backends if b != "torch"]:
        encoder = TextEncoder(backend=backend, device="cpu")
        row, vectors = measure(encoder, texts, queries, args.query_passes)
        if reference is None:
            reference = vectors
        cosines = (vectors * reference).sum(axis=1)
        row["cosine_to_torch"] = {"mean": round(float(cosines.mean()), 5), "min": round(float(cosines.min()), 5)}
        if args.eval:
            row.update(evaluate_backend(encoder, products, judgments, Path(args.work), args.embedding_cache))
        if backend in backends:
            figures.append(row)
        print(json.dumps(row), file=sys.stderr)
    print(table(figures, len(texts)))
    if args.json:
        Path(args.json).write_text(json.dumps(figures, indent=1))
    return 0


def table(figures: list[dict], sample: int) -> str:
    torch_row = next((f for f in figures if f["backend"] == "torch"), None)
    lines = [f"backend | products/s (sample {sample}) | query p50 / p95 / p99 ms | cosine to torch (mean, min) | "
             "dense nDCG@10 | hybrid nDCG@10 | full-catalog encode s",
             "--- | --- | --- | --- | --- | --- | ---"]
    for f in figures:
        speed = f"{f['encode_products_per_s']}"
        if torch_row and f is not torch_row:
            speed += f" ({f['encode_products_per_s'] / torch_row['encode_products_per_s']:.2f}x)"
        q = f["query_ms"]
        ndcg = f.get("ndcg@10", {})
        lines.append(f"{f['backend']} | {speed} | {q['p50']} / {q['p95']} / {q['p99']} | "
                     f"{f['cosine_to_torch']['mean']}, {f['cosine_to_torch']['min']} | {ndcg.get('dense', '-')} | "
                     f"{ndcg.get('hybrid-linear:0.4', '-')} | {f.get('full_catalog_encode_s', '-')}")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
