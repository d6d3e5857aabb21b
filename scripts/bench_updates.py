"""Benchmark live updates: search latency with and without a stream of catalog updates,
update throughput, time to visibility, memory growth, and the cost of one upsert at two
catalog sizes.

Part 1, through a real server (gunicorn, 1 worker, 4 threads) over a copy of the full
Icecat index (the copy takes the writes; --index is reused between runs):
  - idle: --clients threads search for --seconds (half of them with a brand or a price
    filter), reporting searches/s, p50/p99 and errors;
  - under updates: the same while one admin client streams upserts (--upsert-batch products
    a request: changed real products and new ones) and deletes (--delete-batch ids a
    request), reporting the same plus updates/s, write latency, and visibility: the time
    from a write's response until a search returns the written product (read right after);
  - memory: the worker's RSS before and after --memory-upserts more upserts (no searches).
Part 2, in this process, no model: for each --scale catalog size, a synthetic catalog with
random unit vectors is built, then --scale-batches update batches (half new products, half
replacements, and deletes) are applied and timed, with the RSS growth per upsert (after a
tenth as many warm-up batches). The base
vector index is IVF-PQ (quick to build at 1M); updates never touch it, whatever its kind.

Examples:
  search-bench-updates --index var/bench-index --json var/bench-updates.json
  search-bench-updates --index var/bench-index --skip-server --scale 20000,1000000
"""
from __future__ import annotations

import argparse
import gc
import hashlib
import http.client
import json
import os
import random
import shutil
import sys
import tempfile
import threading
import time
from functools import partial
from pathlib import Path
from urllib.parse import urlencode

import numpy as np

from scripts.bench_search import ensure_index, free_port, run_threads, start_server
from scripts.common import ICECAT_DIR, percentiles as shared_percentiles, setup_logging

percentiles = partial(shared_percentiles, points=(50, 99), key="p{}_ms")  # this benchmark's figures' shape

TOKEN = "bench-updates-token"
QUERIES = ["wireless mouse", "hdmi cable", "usb hub", "backpack", "aa battery", "toner", "laptop bag",
           "keyboard", "monitor", "headphones", "webcam", "power bank", "ssd", "router", "printer"]


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for {pid}")


def worker_pid(master: int) -> int:
    children = Path(f"/proc/{master}/task/{master}/children").read_text().split()
    return int(children[0])


class Client:
    """One keep-alive connection (http.client: lean, so the figures are the server's)."""

    def __init__(self, port: int):
        self.port = port
        self.connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)

    def request(self, method: str, path: str, body: dict | None = None) -> tuple[int, dict | None]:
        headers = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"} if body is not None else {}
        try:
            self.connection.request(method, path, body=json.dumps(body) if body is not None else None,
                                    headers=headers)
            response = self.connection.getresponse()
            data = response.read()
            return response.status, json.loads(data) if data else None
        except (OSError, http.client.HTTPException):
            self.connection.close()
            self.connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
            return 0, None


def search_load(port: int, clients: int, seconds: float, brands: list[str], stop_early: threading.Event) -> dict:
    """`clients` threads searching back to back for `seconds`; half the requests filtered."""
    latencies, errors, lock = [], [], threading.Lock()
    deadline = time.monotonic() + seconds

    def client(seed: int) -> None:
        rng, http_client, mine = random.Random(seed), Client(port), []
        while time.monotonic() < deadline and not stop_early.is_set():
            params = {"q": rng.choice(QUERIES), "k": 10}
            if rng.random() < 0.5:
                params.update({"brand": rng.choice(brands)} if rng.random() < 0.5 else
                              {"price_min": rng.choice([5, 20, 50]), "price_max": rng.choice([100, 300, 1000])})
            started = time.perf_counter()
            status, _ = http_client.request("GET", "/search?" + urlencode(params))
            mine.append((time.perf_counter() - started) * 1000)
            if status != 200:
                with lock:
                    errors.append(status)
        with lock:
            latencies.extend(mine)

    wall = run_threads(client, clients)
    return {"clients": clients, "searches": len(latencies), "errors": len(errors),
            "searches_per_s": round(len(latencies) / wall, 1), **percentiles(latencies)}


def marker(n: int) -> str:
    return f"zqbench{n:06d}"


def update_stream(port: int, products: list[dict], upsert_batch: int, delete_batch: int, stop: threading.Event,
                  max_upserts: int | None = None, check_visibility: bool = True) -> dict:
    """Upsert batches (half changed real products, half new ones marked with a unique word)
    and, every other request, delete a batch of earlier new ones, until stopped."""
    client, rng = Client(port), random.Random(7)
    write_ms, visible_ms, errors, upserted, deleted, new_ids = [], [], 0, 0, 0, []
    n = 0
    started = time.perf_counter()
    while not stop.is_set() and (max_upserts is None or upserted < max_upserts):
        batch = []
        for _ in range(upsert_batch // 2):
            changed = dict(rng.choice(products))
            changed["title"] = f"{changed['title']} (rev {n})"
            batch.append(changed)
        for _ in range(upsert_batch - len(batch)):
            batch.append({"id": f"bench-{n}", "title": f"{marker(n)} bench product", "brand": "Benchco",
                          "category": "bench", "price": float(n % 100)})
            new_ids.append(f"bench-{n}")
            n += 1
        sent = time.perf_counter()
        status, _ = client.request("POST", "/admin/products", {"products": batch})
        answered = time.perf_counter()
        write_ms.append((answered - sent) * 1000)
        if status != 200:
            errors += 1
            continue
        upserted += len(batch)
        if check_visibility:  # a search right after the answer; read-your-writes says it is there
            status, body = client.request("GET", "/search?" + urlencode({"q": marker(n - 1), "mode": "keyword",
                                                                         "k": 1}))
            found = status == 200 and body["results"] and body["results"][0]["id"] == f"bench-{n - 1}"
            visible_ms.append((time.perf_counter() - answered) * 1000 if found else float("nan"))
            errors += not found
        if delete_batch and len(new_ids) > 2 * delete_batch and upserted // upsert_batch % 2 == 0:
            victims, new_ids = new_ids[:delete_batch], new_ids[delete_batch:]
            sent = time.perf_counter()
            status, _ = client.request("POST", "/admin/products/delete", {"ids": victims})
            write_ms.append((time.perf_counter() - sent) * 1000)
            errors += status != 200
            deleted += len(victims) if status == 200 else 0
    wall = time.perf_counter() - started
    return {"upserts": upserted, "deletes": deleted, "write_errors": errors,
            "updates_per_s": round((upserted + deleted) / wall, 1), "seconds": round(wall, 1),
            "write_latency": percentiles(write_ms),
            "visibility_after_response": {**percentiles([v for v in visible_ms if v == v]),
                                          "not_visible": sum(v != v for v in visible_ms)}}


def server_part(args) -> dict:
    from indexer import versions
    from indexer.icecat import load_icecat

    figures = {"index": ensure_index(args.index, 0)}
    products = [p.to_dict() for p in load_icecat(ICECAT_DIR).products]
    counts: dict[str, int] = {}
    for p in products:
        counts[p["brand"]] = counts.get(p["brand"], 0) + 1
    brands = sorted(counts, key=counts.get, reverse=True)[:20]
    work = Path(tempfile.mkdtemp(prefix="bench-updates-"))
    try:
        serving = versions.current_version(args.index)
        root = work / "index"
        shutil.copytree(versions.version_dir(args.index, serving), root / versions.VERSIONS_DIR / serving)
        versions.switch(root, serving)
        port = free_port()
        process = start_server(str(root), port, query_cache=True, env={
            "SEARCH_ADMIN_TOKEN": TOKEN, "SEARCH_EVENTS_PATH": str(work / "events.sqlite3"),
            "SEARCH_MERCHANDISING_PATH": str(work / "m.sqlite3"), "SEARCH_JUDGMENTS_PATH": str(work / "j.sqlite3")})
        try:
            never = threading.Event()
            search_load(port, args.clients, 3, brands, never)  # warm-up: query vectors cached, pages touched
            print("searching, idle...", file=sys.stderr)
            figures["idle"] = search_load(port, args.clients, args.seconds, brands, never)
            print("searching while updates stream...", file=sys.stderr)
            stop, writes = threading.Event(), {}
            writer = threading.Thread(target=lambda: writes.update(update_stream(
                port, products, args.upsert_batch, args.delete_batch, stop)))
            writer.start()
            figures["under_updates"] = search_load(port, args.clients, args.seconds, brands, never)
            stop.set()
            writer.join()
            figures["under_updates"]["updates"] = writes
            idle_p99, busy_p99 = figures["idle"]["p99_ms"], figures["under_updates"]["p99_ms"]
            figures["p99_under_updates_over_idle"] = round(busy_p99 / idle_p99, 2)
            worker = worker_pid(process.pid)
            before = rss_mb(worker)
            print(f"{args.memory_upserts} upserts for the memory figure...", file=sys.stderr)
            memory_writes = update_stream(port, products, args.upsert_batch, 0, threading.Event(),
                                          max_upserts=args.memory_upserts, check_visibility=False)
            after = rss_mb(worker)
            log_mb = (root / versions.VERSIONS_DIR / serving / "updates.jsonl").stat().st_size / 2 ** 20
            figures["memory"] = {"upserts": memory_writes["upserts"], "write_errors": memory_writes["write_errors"],
                                 "updates_per_s": memory_writes["updates_per_s"],
                                 "worker_rss_before_mb": round(before, 1), "worker_rss_after_mb": round(after, 1),
                                 "kb_per_upsert": round((after - before) * 1024 / max(memory_writes["upserts"], 1), 2),
                                 "update_log_mb": round(log_mb, 1)}
        finally:
            process.terminate()
            process.wait(timeout=60)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return figures


class RandomTower:
    """A stand-in product tower for the scaling part: random unit vectors, no model, so the
    figures are the index's cost alone."""

    name = source = "synthetic-random"
    fingerprint = hashlib.sha256(b"synthetic-random").hexdigest()[:16]
    backend = "torch"
    vectors_key = "synthetic-random"

    def __init__(self, dimension: int = 384, seed: int = 0):
        self.dimension = dimension
        self.rng = np.random.default_rng(seed)

    def encode(self, texts, show_progress: bool = False) -> np.ndarray:
        vectors = self.rng.standard_normal((len(texts), self.dimension)).astype(np.float32)
        return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)

    def export(self, root) -> None:
        """Nothing to export: no model."""
        return None


WORDS = ("usb hdmi cable wireless mouse keyboard black white laptop bag battery charger adapter toner ink "
         "printer monitor stand case cover speaker headset camera lens tripod router switch dock hub").split()


def synthetic_catalog(n: int, seed: int = 1):
    from indexer.schema import Product

    rng = random.Random(seed)
    brands = [f"Brand{i}" for i in range(300)]
    categories = [f"category {i}" for i in range(60)]
    return [Product(id=f"p{i}", title=" ".join(rng.choices(WORDS, k=5)) + f" {i}", brand=rng.choice(brands),
                    category=rng.choice(categories), price=round(rng.uniform(1, 500), 2)) for i in range(n)]


def scale_part(args) -> list[dict]:
    from encoders.towers import Towers
    from indexer.build import IndexConfig, build_version
    from indexer.incremental import apply_updates
    from indexer.schema import Product
    from indexer.search_index import SearchIndex
    from indexer.vectors import VectorIndexConfig
    from search_engine.engine import Engine
    from search_engine.types import Query

    results = []
    for size in args.scale:
        work = Path(tempfile.mkdtemp(prefix=f"bench-scale-{size}-"))
        try:
            print(f"building a synthetic catalog of {size} products...", file=sys.stderr)
            catalog = synthetic_catalog(size)
            tower = RandomTower()
            started = time.perf_counter()
            build_version(catalog, tower, work / "index", IndexConfig(vector=VectorIndexConfig(
                kind="ivfpq", ivf_nlist=256, use_gpu=False)))
            build_s = time.perf_counter() - started
            index = SearchIndex.open_current(work / "index", use_gpu=False)
            engine = Engine(index, Towers(tower, tower))
            rng = random.Random(3)

            def update_batch(batch: int) -> None:
                upserts = [Product(id=f"new-{batch}-{i}", title=f"bench new {batch} {i}", brand="Benchco", price=9.0)
                           for i in range(args.upsert_batch // 2)]
                for product in rng.sample(catalog, args.upsert_batch - len(upserts)):
                    upserts.append(Product(id=product.id, title=product.title + " rev", brand=product.brand,
                                           category=product.category, price=product.price))
                deletes = [f"new-{batch - 1}-{i}" for i in range(min(args.delete_batch, args.upsert_batch // 2))]
                apply_updates(index, tower, upserts, deletes)

            warm_up = max(1, args.scale_batches // 10)  # first writer, thread pools, allocator arenas
            for batch in range(-warm_up, 0):
                update_batch(batch)
            gc.collect()
            rss_before = rss_mb(os.getpid())
            batch_ms, search_ms = [], []
            for batch in range(args.scale_batches):
                started = time.perf_counter()
                update_batch(batch)
                batch_ms.append((time.perf_counter() - started) * 1000)
                started = time.perf_counter()
                engine.search(Query("usb cable", k=10, mode="keyword"))
                search_ms.append((time.perf_counter() - started) * 1000)
            gc.collect()
            rss_after = rss_mb(os.getpid())
            upserts_done = args.scale_batches * args.upsert_batch
            results.append({
                "products": size, "build_s": round(build_s, 1), "batches": args.scale_batches,
                "upserts_per_batch": args.upsert_batch, "deletes_per_batch": args.delete_batch,
                "batch": percentiles(batch_ms),
                "per_upsert_ms_p50": round(float(np.percentile(batch_ms, 50)) / args.upsert_batch, 3),
                "keyword_search_after_update": percentiles(search_ms),
                "rss_growth_kb_per_upsert": round((rss_after - rss_before) * 1024 / upserts_done, 2)})
            print(json.dumps(results[-1]), file=sys.stderr)
            del index, engine, catalog
        finally:
            shutil.rmtree(work, ignore_errors=True)
    return results


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="search-bench-updates", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--index", default="var/bench-index", help="full Icecat index root, built if missing")
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=30.0, help="per search phase")
    parser.add_argument("--upsert-batch", type=int, default=20)
    parser.add_argument("--delete-batch", type=int, default=10)
    parser.add_argument("--memory-upserts", type=int, default=10_000)
    parser.add_argument("--scale", default="20000,1000000", help="catalog sizes for part 2 ('' to skip)")
    parser.add_argument("--scale-batches", type=int, default=200)
    parser.add_argument("--skip-server", action="store_true", help="part 2 only")
    parser.add_argument("--json", help="also write the figures here")
    parser.add_argument("-v", "--verbose", action="store_true")
    args = parser.parse_args(argv)
    args.scale = [int(s) for s in args.scale.split(",") if s.strip()]
    setup_logging(args.verbose)
    figures = {"date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "argv": sys.argv[1:]}
    if not args.skip_server:
        figures["server"] = server_part(args)
    if args.scale:
        figures["scale"] = scale_part(args)
    text = json.dumps(figures, indent=1)
    print(text)
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
