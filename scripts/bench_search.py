"""Benchmark indexing and search latency on the full Icecat catalog, through a real server.

Reports: product-tower encoding throughput (products/s), index build time by stage, and
/search latency p50/p95/p99 per mode, measured by a client in this process against a
gunicorn server in another process over loopback. The query-vector cache is off unless
--query-cache is given, so every request pays for its transformer call.

Example:
  search-bench --index var/bench-index --requests 400
"""
from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from scripts.common import ICECAT_DIR, ICECAT_JUDGMENTS, REPO_ROOT, setup_logging

MODES = ("keyword", "dense", "hybrid")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def ensure_index(root: str, encode_sample: int) -> dict:
    from encoders.product_text import product_text
    from encoders.towers import TextEncoder
    from indexer.build import build_version
    from indexer.icecat import load_icecat
    from indexer.versions import current_dir, read_manifest
    from scripts.demo import index_is_current

    started = time.perf_counter()
    products = load_icecat(ICECAT_DIR).products
    load_s = time.perf_counter() - started
    encoder = TextEncoder()
    figures = {"products": len(products), "load_s": round(load_s, 2)}
    if index_is_current(root, products, encoder):
        print(f"reusing the index in {root} (its build timings are from when it was built)", file=sys.stderr)
    else:
        print(f"building the index over {len(products)} products (no embedding cache)...", file=sys.stderr)
        build_version(products, encoder, root, show_progress=True)
    manifest = read_manifest(current_dir(root))
    figures["build_timings"] = manifest["build_timings"]
    figures["build_encode_products_per_s"] = round(len(products) / manifest["build_timings"]["encode_s"], 1)
    if encode_sample:
        sample = [product_text(p) for p in products[:: max(1, len(products) // encode_sample)][:encode_sample]]
        encoder.encode(sample[:64])  # warm-up
        started = time.perf_counter()
        encoder.encode(sample, show_progress=True)
        figures["encode_sample"] = len(sample)
        figures["encode_products_per_s"] = round(len(sample) / (time.perf_counter() - started), 1)
    return figures


def start_server(root: str, port: int, query_cache: bool) -> subprocess.Popen:
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "SEARCH_QUERY_CACHE_SIZE": "10000" if query_cache else "0"}
    process = subprocess.Popen(
        [sys.executable, "-m", "scripts.serve", "--index", root, "--port", str(port)],
        cwd=REPO_ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    import requests

    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError("the server exited while starting; run search-serve by hand to see why")
        try:
            if requests.get(f"http://127.0.0.1:{port}/health", timeout=10).ok:
                return process
        except requests.RequestException:
            time.sleep(0.5)
    process.terminate()
    raise RuntimeError("the server did not come up within 180 s")


def measure(port: int, queries: list[str], requests_per_mode: int) -> dict:
    """Sequential requests over one keep-alive connection (http.client: a lean client, so the
    figures are the server's, not the client library's)."""
    import http.client
    from urllib.parse import urlencode

    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)

    def get(params) -> int:
        connection.request("GET", "/search?" + urlencode(params))
        response = connection.getresponse()
        response.read()
        return response.status

    results = {}
    for mode in MODES:
        for q in queries[:10]:  # warm-up: first calls pay for lazy initialisation
            get({"q": q, "mode": mode})
        latencies, errors = [], 0
        for i in range(requests_per_mode):
            started = time.perf_counter()
            status = get({"q": queries[i % len(queries)], "mode": mode, "k": 10})
            latencies.append((time.perf_counter() - started) * 1000)
            errors += status != 200
        ms = np.array(latencies)
        results[mode] = {"requests": len(ms), "errors": errors,
                         **{f"p{p}_ms": round(float(np.percentile(ms, p)), 2) for p in (50, 95, 99)}}
    connection.close()
    return results


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="search-bench", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--index", default="var/bench-index", help="index root, built if missing or stale")
    parser.add_argument("--requests", type=int, default=400, help="timed requests per mode (default 400)")
    parser.add_argument("--encode-sample", type=int, default=1000,
                        help="products encoded afresh to measure throughput (default 1000; 0 to skip)")
    parser.add_argument("--query-cache", action="store_true", help="leave the server's query-vector cache on")
    parser.add_argument("--json", help="also write the figures to this file")
    args = parser.parse_args(argv)
    setup_logging()
    from search_engine.judgments import load_judgments

    figures = {"machine": f"{os.cpu_count()} cores", "date": time.strftime("%Y-%m-%d")}
    figures["indexing"] = ensure_index(args.index, args.encode_sample)
    queries = list(load_judgments(ICECAT_JUDGMENTS))
    port = free_port()
    server = start_server(args.index, port, args.query_cache)
    try:
        figures["search"] = measure(port, queries, args.requests)
    finally:
        server.terminate()
        server.wait(timeout=30)
    print(json.dumps(figures, indent=2))
    print("\nmode    | p50 ms | p95 ms | p99 ms | errors")
    for mode, row in figures["search"].items():
        print(f"{mode:7} | {row['p50_ms']:6} | {row['p95_ms']:6} | {row['p99_ms']:6} | {row['errors']}")
    if args.json:
        Path(args.json).write_text(json.dumps(figures, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
