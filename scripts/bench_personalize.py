"""Benchmark what personalization adds to a search: the reranking stage's latency.

Loads the engine over --index with the preference model at --model, puts the (simulated)
shoppers' histories from --history into a scratch event store (SQLite, as served), then runs
the judged Icecat queries for random known shoppers and reports p50/p95/p99 of:
the personalize stage alone (profile read from SQLite + features + LightGBM over the
top --depth candidates), and the whole engine search with and without a user.

Example (after search-personalize simulate and train, see docs/personalization.md):
  search-bench-personalize --index var/icecat-index --model var/reranker \\
      --history var/sim/heldout-history.jsonl --requests 500
"""
from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
import time
from functools import partial
from pathlib import Path

from scripts.common import ICECAT_JUDGMENTS, full_collections, percentiles as shared_percentiles, setup_logging

percentiles = partial(shared_percentiles, digits=3)  # this benchmark's figures' shape


def parse_args(argv=None):
    parser = argparse.ArgumentParser(prog="search-bench-personalize", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--index", default="var/icecat-index")
    parser.add_argument("--model", default="var/reranker")
    parser.add_argument("--history", required=True, help="JSONL events of the shoppers to search as")
    parser.add_argument("--judgments", default=str(ICECAT_JUDGMENTS))
    parser.add_argument("--requests", type=int, default=500)
    parser.add_argument("--depth", type=int, default=100, help="candidates reranked")
    parser.add_argument("-v", "--verbose", action="store_true")
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    setup_logging(args.verbose)
    from search_engine.event_store import EventStore
    from search_engine.events import read_jsonl_events
    from search_engine.factory import open_engine
    from search_engine.judgments import load_judgments
    from search_engine.settings import load_settings
    from search_engine.types import Query

    history = list(read_jsonl_events(args.history))
    with tempfile.TemporaryDirectory() as scratch:
        store = EventStore(Path(scratch) / "events.sqlite3")
        store.add(history)
        settings = load_settings(index_root=args.index, reranker_path=args.model, rerank_depth=args.depth)
        engine = open_engine(settings, events=store)
        users = sorted({e.user_id for e in history})
        queries = sorted(load_judgments(args.judgments))
        # Warm-up, as a server that has run a while: every judged query once, for shoppers
        # drawn with their own seed (query vectors, the per-product caches of terms and
        # titles, LightGBM, SQLite pages); the timed draw below is another.
        warm = random.Random(2)
        for query in queries:
            engine.search(Query(query, k=10, user=warm.choice(users)))
        rng = random.Random(1)
        stage, plain, personal = [], [], []
        with full_collections() as pauses:
            for _ in range(args.requests):
                query, user = rng.choice(queries), rng.choice(users)
                started = time.perf_counter()
                engine.search(Query(query, k=10))
                plain.append((time.perf_counter() - started) * 1000)
                started = time.perf_counter()
                result = engine.search(Query(query, k=10, user=user))
                personal.append((time.perf_counter() - started) * 1000)
                stage.append(result.timings_ms["personalize"])
        figures = {"requests": args.requests, "rerank_depth": args.depth, "shoppers": len(users),
                   "events_in_store": store.count(), "model": engine.reranker.model.version,
                   "personalize_stage_ms": percentiles(stage), "search_anonymous_ms": percentiles(plain),
                   "search_with_user_ms": percentiles(personal), "full_collections_ms": pauses}
    print(json.dumps(figures, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
