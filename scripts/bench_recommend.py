"""Recommendations through a real server: latency per endpoint, throughput, and how soon a
new purchase shows in the answers.

A gunicorn server (scripts/serve.py, in another process) over an index, with an event store
filled from a log (default: the SIMULATED log of `search-recommend simulate`). Then:
  - one client, in order: GET /recommendations/for-you for the log's shoppers,
    GET /products/<id>/bought-together for its bought products, GET /recommendations/trending
    with no filter and with each of the commonest categories; p50/p95/p99 per endpoint;
  - several clients at once per endpoint (throughput);
  - freshness: two shoppers buy a pair of products nobody bought together (POST /events),
    and the seconds until bought-together of the first shows the second.

Example (the figures in docs/benchmarks.md):
  search-bench-recommend --index var/index --events var/recsim/log.jsonl
"""
from __future__ import annotations

import argparse
import http.client
import json
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from urllib.parse import quote, urlencode

from scripts.common import emit, percentiles, setup_logging


def parse_args(argv=None):
    parser = argparse.ArgumentParser(prog="search-bench-recommend", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--index", default="var/index")
    parser.add_argument("--events", default="var/recsim/log.jsonl", help="JSONL event log the store starts with")
    parser.add_argument("--requests", type=int, default=1000, help="one-client requests per endpoint")
    parser.add_argument("--workers", type=int, default=2, help="server processes (default 2)")
    parser.add_argument("--threads", type=int, default=4, help="threads per server process (default 4)")
    parser.add_argument("--clients", default="1,4", help="client counts for the load test (default 1,4)")
    parser.add_argument("--load-seconds", type=float, default=10, help="seconds per endpoint and load level")
    parser.add_argument("--json", help="also write the figures here")
    parser.add_argument("-v", "--verbose", action="store_true")
    return parser.parse_args(argv)


def _paths(events, requests: int) -> dict[str, list[str]]:
    shoppers = list(dict.fromkeys(e.user_id for e in events if e.product_id))
    bought = [pid for pid, _ in Counter(e.product_id for e in events if e.type == "purchase").most_common()]
    return {"for-you": [f"/recommendations/for-you?user={quote(u)}" for u in shoppers[:requests]],
            "bought-together": [f"/products/{quote(p)}/bought-together" for p in bought[:requests]]}


def _category_paths(port: int, products: list[str]) -> list[str]:
    """Trending with no filter, and for each of the commonest categories of these products."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    categories: Counter = Counter()
    for product in products[:300]:
        connection.request("GET", f"/products/{quote(product)}")
        response = connection.getresponse()
        body = json.loads(response.read())
        if response.status == 200 and body.get("category"):
            categories[body["category"]] += 1
    connection.close()
    return ["/recommendations/trending"] + [
        "/recommendations/trending?" + urlencode({"category": c}) for c, _ in categories.most_common(20)]


def _timed(connection, path: str) -> float:
    started = time.perf_counter()
    connection.request("GET", path)
    response = connection.getresponse()
    body = response.read()
    if response.status != 200:
        raise RuntimeError(f"{path}: HTTP {response.status}: {body[:300]!r}")
    return (time.perf_counter() - started) * 1000


def _freshness(port: int, first: str, second: str) -> float:
    """Seconds from two acknowledged co-purchases of a new pair to bought-together showing it."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    now = time.time()
    events = [{"user_id": f"bench-{i}", "session_id": f"bench-{i}", "timestamp": now, "type": "purchase",
               "product_id": product} for i in range(2) for product in (first, second)]
    connection.request("POST", "/events", body=json.dumps({"events": events}),
                       headers={"Content-Type": "application/json"})
    response = connection.getresponse()
    response.read()
    if response.status != 201:
        raise RuntimeError(f"POST /events: HTTP {response.status}")
    started = time.monotonic()
    while time.monotonic() - started < 120:
        connection.request("GET", f"/products/{quote(first)}/bought-together?k=100")
        body = json.loads(connection.getresponse().read())
        if any(item["id"] == second for item in body["results"]):
            return round(time.monotonic() - started, 2)
        time.sleep(0.1)
    raise RuntimeError("the new pair did not show within 120 s")


def run(args) -> dict:
    from scripts.bench_search import free_port, load_test, start_server
    from scripts.bench_suggest import _fill
    from search_engine.events import read_jsonl_events

    events = list(read_jsonl_events(args.events))
    paths = _paths(events, args.requests)
    with tempfile.TemporaryDirectory() as folder:
        folder = Path(folder)
        _fill(folder / "events.sqlite3", events).close()
        env = {"SEARCH_EVENTS_PATH": str(folder / "events.sqlite3"),
               "SEARCH_MERCHANDISING_PATH": str(folder / "merchandising.sqlite3"), "SEARCH_LOG_SEARCHES": "false"}
        port = free_port()
        server = start_server(args.index, port, query_cache=True, workers=args.workers, threads=args.threads,
                              env=env)
        try:
            paths["trending"] = _category_paths(port, [p.split("/")[2] for p in paths["bought-together"]])
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
            warm = time.perf_counter()
            for endpoint_paths in paths.values():  # each worker builds its view on its first request
                for path in endpoint_paths[:20]:
                    _timed(connection, path)
            warm_s = time.perf_counter() - warm
            one_client = {}
            for endpoint, endpoint_paths in paths.items():
                timings = [_timed(connection, endpoint_paths[i % len(endpoint_paths)]) for i in range(args.requests)]
                one_client[endpoint] = {"requests": len(timings), **percentiles(timings, (50, 95, 99), key="p{}_ms")}
            connection.close()
            load = {}
            for endpoint, endpoint_paths in paths.items():
                load[endpoint] = []
                for clients in (int(c) for c in args.clients.split(",")):
                    figures = load_test(port, endpoint_paths, clients, 10 ** 9, args.load_seconds,
                                        url=lambda path: path)
                    figures["requests_per_s"] = figures.pop("searches_per_s")
                    load[endpoint].append(figures)
            bought = [p.split("/")[2] for p in paths["bought-together"]]
            fresh = _freshness(port, bought[-1], bought[-2])
        finally:
            server.terminate()
            server.wait(timeout=30)
    return {"index": args.index, "events": args.events, "events_in_store": len(events), "workers": args.workers,
            "threads": args.threads, "warm_up_s": round(warm_s, 2), "one_client": one_client, "load": load,
            "new_pair_shown_after_s": fresh}


def main(argv=None) -> int:
    args = parse_args(argv)
    setup_logging(args.verbose)
    return emit(run(args), args.json)


if __name__ == "__main__":
    sys.exit(main())
