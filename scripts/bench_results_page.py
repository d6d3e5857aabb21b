"""Benchmark what the results page costs: facets and highlighting, through a real server, and
how facet counting grows with the matched set and the catalog.

server   hybrid /search over an index (default var/index, the full Icecat catalog built with
         its attribute list) against a gunicorn server in another process: the same queries
         with and without facets (brand, category, price and two attributes) plus
         highlighting, requests alternating between the two so machine noise hits both alike;
         the query-vector cache is on, so neither pays for the transformer twice.
scaling  in process, the results page alone (five facets; relevance order or sorted by price;
         no filter or one brand chosen) over synthetic catalogs of 20k and 1M products and
         matched sets of 100 to 100k products.

Examples:
  search-bench-page server --index var/index --requests 400
  search-bench-page scaling --catalogs 20000,1000000 --sets 100,1000,10000,100000
"""
from __future__ import annotations

import argparse
import http.client
import json
import os
import sys
import time
from functools import partial
from urllib.parse import urlencode

import numpy as np

from scripts.common import ICECAT_JUDGMENTS, emit, percentiles as shared_percentiles, setup_logging

percentiles = partial(shared_percentiles, key="p{}_ms")  # this benchmark's figures' shape

FACETS = "brand,category,price,attr.{},attr.{}"


def run_server(args) -> dict:
    from indexer.attributes import AttributeConfig
    from indexer.versions import current_dir, read_manifest
    from scripts.bench_search import free_port, start_server
    from search_engine.judgments import load_judgments

    attributes = AttributeConfig.from_manifest(read_manifest(current_dir(args.index)))
    if len(attributes.facets) < 1 or len(attributes.numeric) < 1:
        raise ValueError(f"{args.index} has no facet and numeric attributes: build it with --facet-attributes "
                         "and --numeric-attributes (the bundled Icecat catalog gets a list by default)")
    facets = FACETS.format(attributes.facets[0], attributes.numeric[0])
    queries = list(load_judgments(ICECAT_JUDGMENTS))
    port = free_port()
    server = start_server(args.index, port, query_cache=True, workers=1, threads=args.threads)
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)

    def get(params) -> tuple[float, dict]:
        started = time.perf_counter()
        connection.request("GET", "/search?" + urlencode(params))
        response = connection.getresponse()
        body = response.read()
        if response.status != 200:
            raise RuntimeError(f"HTTP {response.status}: {body[:300]!r}")
        return (time.perf_counter() - started) * 1000, json.loads(body)

    plain_ms, page_ms, totals = [], [], []
    try:
        for q in queries:  # warm-up: every query's vector cached, lazy initialisation paid
            get({"q": q, "facets": facets, "highlight": "true"})
        for i in range(args.requests):
            q = queries[i % len(queries)]
            plain = {"q": q, "k": 10}
            full = {**plain, "facets": facets, "highlight": "true"}
            first, second = (plain, full) if i % 2 else (full, plain)  # alternate which goes first
            for params in (first, second):
                ms, body = get(params)
                (page_ms if "facets" in params else plain_ms).append(ms)
                if "facets" in params:
                    totals.append(body["total"])
    finally:
        connection.close()
        server.terminate()
        server.wait(timeout=30)
    plain, page = percentiles(plain_ms), percentiles(page_ms)
    return {"index": args.index, "facets": facets, "requests_each": args.requests, "plain": plain,
            "facets_and_highlight": page,
            "added_ms": {k: round(page[k] - plain[k], 2) for k in plain},
            "matched_set_size": {"p50": int(np.percentile(totals, 50)), "p90": int(np.percentile(totals, 90)),
                                 "max": int(max(totals))}}


def synthetic_store(n: int, seed: int = 5):
    """n products with 500 brands, 200 categories, lognormal prices, a colour, a
    connectivity and a weight (a share of each missing)."""
    from indexer.attributes import AttributeConfig
    from indexer.product_store import ProductStore
    from indexer.schema import Product

    rng = np.random.default_rng(seed)
    brands, categories = rng.integers(0, 500, n), rng.integers(0, 200, n)
    prices = np.round(rng.lognormal(3.5, 1.2, n), 2)
    colours, links, weights = rng.integers(0, 20, n), rng.integers(0, 4, n), rng.integers(0, 5000, n)
    products = [
        Product(f"p{i}", f"Product {i}", brand=f"Brand {brands[i]}", category=f"category {categories[i]}",
                price=float(prices[i]) if i % 50 else None,
                attributes={"colour": f"Colour {colours[i]}", "connectivity": f"Link {links[i]}",
                            **({"weight": str(weights[i])} if i % 7 else {})})
        for i in range(n)]
    return ProductStore.of(products, AttributeConfig(facets=("colour", "connectivity"), numeric=("weight",)))


def run_scaling(args) -> dict:
    from indexer.filters import Filters
    from search_engine.matching import MatchedSet
    from search_engine.results_page import results_page
    from search_engine.types import FacetRequest, Query

    rows = []
    for n in (int(c) for c in args.catalogs.split(",")):
        started = time.perf_counter()
        store = synthetic_store(n)
        built_s = time.perf_counter() - started
        rng = np.random.default_rng(1)
        facets = FacetRequest(("brand", "category", "price", "attr.colour", "attr.weight"))
        shapes = {"no filter, relevance": Query("anything", facets=facets),
                  "no filter, by price": Query("anything", facets=facets, sort="price_asc"),
                  "one brand, by price": Query("anything", facets=facets, sort="price_asc",
                                               filters=Filters(brands=("Brand 7",)))}
        for size in (int(s) for s in args.sets.split(",") if int(s) <= n):
            for shape, query in shapes.items():
                timings = []
                for _ in range(args.rounds):
                    docs = np.sort(rng.choice(n, size, replace=False))
                    matched = MatchedSet(docs, rng.random(size))
                    started = time.perf_counter()
                    results_page(query, store, matched, [])
                    timings.append((time.perf_counter() - started) * 1000)
                rows.append({"catalog": n, "matched_set": size, "query": shape, **percentiles(timings)})
                print(f"catalog {n}, matched set {size}, {shape}: p50 {rows[-1]['p50_ms']} ms", file=sys.stderr)
        rows.append({"catalog": n, "store_build_s": round(built_s, 1)})
        del store
    return {"rounds": args.rounds, "rows": rows}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="search-bench-page", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    server = commands.add_parser("server", help="facets and highlighting through a real server")
    server.add_argument("--index", default="var/index", help="index root with facet and numeric attributes")
    server.add_argument("--requests", type=int, default=400, help="timed requests of each kind (default 400)")
    server.add_argument("--threads", type=int, default=4, help="server threads (default 4)")
    scaling = commands.add_parser("scaling", help="the results page alone over synthetic catalogs")
    scaling.add_argument("--catalogs", default="20000,1000000", help="catalog sizes (default 20000,1000000)")
    scaling.add_argument("--sets", default="100,1000,10000,100000", help="matched-set sizes")
    scaling.add_argument("--rounds", type=int, default=50, help="timed pages per size (default 50)")
    for command in (server, scaling):
        command.add_argument("--json", help="also write the figures to this file")
    args = parser.parse_args(argv)
    setup_logging()
    try:
        figures = {"machine": f"{os.cpu_count()} cores", "date": time.strftime("%Y-%m-%d"),
                   **(run_server(args) if args.command == "server" else run_scaling(args))}
    except (ValueError, RuntimeError) as exc:
        print(f"search-bench-page {args.command}: {exc}", file=sys.stderr)
        return 2
    return emit(figures, args.json)


if __name__ == "__main__":
    sys.exit(main())
