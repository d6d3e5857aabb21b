"""Benchmark indexing and search latency on the full Icecat catalog, through a real server.

Reports: product-tower encoding throughput (products/s), index build time by stage, and
/search latency p50/p95/p99 per mode, measured by a client in this process against a
gunicorn server in another process over loopback. The query-vector cache is off unless
--query-cache is given, so every request pays for its transformer call.

--concurrency 1,4,16 adds a load test of hybrid searches: that many client threads, each on
its own keep-alive connection, bounded by --load-requests and --load-seconds per level,
reporting throughput (searches/s) and latency percentiles, with every error counted.

Examples:
  search-bench --index var/bench-index --requests 400
  search-bench --index var/bench-index --requests 400 --concurrency 1,4,16 --query-cache --workers 2
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
    from indexer.versions import current_dir, list_versions, read_manifest
    from scripts.demo import index_is_current

    started = time.perf_counter()
    products = load_icecat(ICECAT_DIR).products
    load_s = time.perf_counter() - started
    encoder = TextEncoder()
    figures = {"products": len(products), "load_s": round(load_s, 2)}
    if index_is_current(root, products, encoder):
        print(f"reusing the index in {root} (its build timings are from when it was built)", file=sys.stderr)
    elif list_versions(root):  # never replace a shop's index (or an older build) with the bundled catalog
        raise SystemExit(f"{root} holds an index of another catalog or product tower; this benchmark measures "
                         f"the bundled Icecat catalog with the packaged tower: pass --index with an empty folder "
                         f"(it builds there) or one it built before")
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


def start_server(root: str, port: int, query_cache: bool, workers: int = 1, threads: int = 4,
                 env: dict[str, str] | None = None) -> subprocess.Popen:
    """env: more SEARCH_* settings for the server, which runs in the repository (python -m
    scripts.serve): a root relative to where the benchmark was started is made absolute."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "SEARCH_QUERY_CACHE_SIZE": "10000" if query_cache else "0",
           **(env or {})}
    process = subprocess.Popen(
        [sys.executable, "-m", "scripts.serve", "--index", str(Path(root).resolve()), "--port", str(port),
         "--workers", str(workers), "--threads", str(threads)],
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


def run_threads(target, count: int) -> float:
    """Run target(i) for i < count in as many threads; the wall time in seconds."""
    import threading

    threads = [threading.Thread(target=target, args=(i,)) for i in range(count)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return time.perf_counter() - started


def load_test(port: int, queries: list[str], clients: int, max_requests: int, max_seconds: float,
              path: str = "/search", params=lambda q: {"q": q, "k": 10}, url=None) -> dict:
    """`clients` threads sending requests back to back until either bound is reached (default:
    hybrid searches; path and params(query) say what else, or url(query) the whole request path)."""
    import http.client
    import itertools
    import threading
    from urllib.parse import urlencode

    counter = itertools.count()
    latencies: list[float] = []
    errors: list[str] = []
    lock = threading.Lock()
    deadline = time.monotonic() + max_seconds
    if url is None:
        def url(query: str) -> str:
            return f"{path}?{urlencode(params(query))}"

    def client() -> None:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        mine = []
        while time.monotonic() < deadline:
            i = next(counter)
            if i >= max_requests:
                break
            started = time.perf_counter()
            try:
                connection.request("GET", url(queries[i % len(queries)]))
                response = connection.getresponse()
                response.read()
                if response.status != 200:
                    with lock:
                        errors.append(f"HTTP {response.status}")
            except (OSError, http.client.HTTPException) as exc:
                with lock:
                    errors.append(type(exc).__name__)
                connection.close()
                connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            mine.append((time.perf_counter() - started) * 1000)
        connection.close()
        with lock:
            latencies.extend(mine)

    wall = run_threads(lambda _: client(), clients)
    ms = np.array(latencies)
    return {"clients": clients, "requests": len(ms), "errors": len(errors), "error_kinds": sorted(set(errors)),
            "seconds": round(wall, 2), "searches_per_s": round(len(ms) / wall, 1),
            **{f"p{p}_ms": round(float(np.percentile(ms, p)), 2) for p in (50, 95, 99)}}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="search-bench", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--index", default="var/bench-index", help="index root, built if missing or stale")
    parser.add_argument("--requests", type=int, default=400, help="timed requests per mode (default 400)")
    parser.add_argument("--encode-sample", type=int, default=1000,
                        help="products encoded afresh to measure throughput (default 1000; 0 to skip)")
    parser.add_argument("--query-cache", action="store_true", help="leave the server's query-vector cache on")
    parser.add_argument("--concurrency", default="", help="client counts for the hybrid load test, e.g. 1,4,16")
    parser.add_argument("--load-requests", type=int, default=2000, help="at most this many requests per level")
    parser.add_argument("--load-seconds", type=float, default=30, help="at most this long per level")
    parser.add_argument("--workers", type=int, default=1, help="gunicorn workers (default 1)")
    parser.add_argument("--threads", type=int, default=4, help="threads per worker (default 4)")
    parser.add_argument("--json", help="also write the figures to this file")
    args = parser.parse_args(argv)
    setup_logging()
    from search_engine.judgments import load_judgments

    figures = {"machine": f"{os.cpu_count()} cores", "date": time.strftime("%Y-%m-%d")}
    figures["indexing"] = ensure_index(args.index, args.encode_sample)
    queries = list(load_judgments(ICECAT_JUDGMENTS))
    port = free_port()
    server = start_server(args.index, port, args.query_cache, args.workers, args.threads)
    figures["server"] = {"workers": args.workers, "threads": args.threads, "query_cache": args.query_cache}
    try:
        figures["search"] = measure(port, queries, args.requests)
        levels = [int(c) for c in args.concurrency.split(",") if c.strip()]
        figures["load"] = [load_test(port, queries, c, args.load_requests, args.load_seconds) for c in levels]
    finally:
        server.terminate()
        server.wait(timeout=30)
    print(json.dumps(figures, indent=2))
    print("\nmode    | p50 ms | p95 ms | p99 ms | errors")
    for mode, row in figures["search"].items():
        print(f"{mode:7} | {row['p50_ms']:6} | {row['p95_ms']:6} | {row['p99_ms']:6} | {row['errors']}")
    if figures["load"]:
        print("\nhybrid load: clients | searches/s | p50 ms | p95 ms | p99 ms | requests | errors")
        for row in figures["load"]:
            print(f"{row['clients']:7} | {row['searches_per_s']:10} | {row['p50_ms']:6} | {row['p95_ms']:6} | "
                  f"{row['p99_ms']:6} | {row['requests']:8} | {row['errors']}")
    if args.json:
        Path(args.json).write_text(json.dumps(figures, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
