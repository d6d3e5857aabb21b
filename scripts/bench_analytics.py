"""Measure search analytics on a large event log: rolling up the log from scratch, rolling
up a batch of new events, and computing the dashboard, with peak memory; and an A/B
experiment's results over the same log (--experiment-share of the shoppers in it).

The log is synthetic and seeded (SIMULATED shoppers, nothing real): sessions of one search
(10 products shown; one in 20 shows nothing), a click on a shown product with probability
0.4 (position-biased), then an add-to-cart with 0.3 and a purchase with 0.5 of that, spread
over --days days, over --queries distinct queries (Zipf-like) and --shoppers shoppers.

Example:
  search-bench-analytics --events 1000000 --json var/bench-analytics.json
"""
from __future__ import annotations

import argparse
import itertools
import os
import random
import resource
import sys
import tempfile
import time
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

from scripts.common import emit, setup_logging

START = datetime(2026, 9, 1, tzinfo=timezone.utc).timestamp()


def synthetic_log(events: int, queries: int, shoppers: int, days: int, seed: int):
    """About `events` events, in time order."""
    from search_engine.types import Event

    rng = random.Random(seed)
    words = ["".join(rng.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(rng.randint(3, 9))) for _ in range(5000)]
    texts = [" ".join(rng.choice(words) for _ in range(rng.randint(1, 3))) for _ in range(queries)]
    cumulative = list(itertools.accumulate(1 / (i + 1) for i in range(queries)))
    span = days * 86400.0
    made, session = [], 0
    while len(made) < events:
        session += 1
        user = f"u{rng.randrange(shoppers)}"
        t = START + span * len(made) / events
        sid = f"q{session}"
        shown = () if rng.random() < 0.05 else tuple(f"p{rng.randrange(20000)}" for _ in range(10))
        made.append(Event(user, f"s{session}", t, "search", query=rng.choices(texts, cum_weights=cumulative)[0], search_id=sid,
                          shown=shown))
        if shown and rng.random() < 0.4:
            position = min(int(rng.expovariate(0.4)) + 1, 10)
            product = shown[position - 1]
            made.append(Event(user, f"s{session}", t + 5, "click", product_id=product, search_id=sid,
                              position=position))
            if rng.random() < 0.3:
                made.append(Event(user, f"s{session}", t + 20, "add_to_cart", product_id=product))
                if rng.random() < 0.5:
                    made.append(Event(user, f"s{session}", t + 60, "purchase", product_id=product))
    return made[:events]


def in_experiment(log: list, share: float, days: int):
    """Tag the searches of `share` of the shoppers as served in an A/B test of two equal
    variants (in place), as /search logs them; the experiment."""
    from dataclasses import replace

    from search_engine.experiments.assignment import assigned
    from search_engine.experiments.definition import parse_experiment

    experiment = replace(parse_experiment({"name": "bench", "start": START, "stop": START + days * 86400.0, "variants": [
        {"name": "control", "share": share / 2}, {"name": "variant", "share": share / 2}]}, START), id=1)
    for i, event in enumerate(log):
        if event.type == "search":
            variant = assigned(experiment, event.user_id)
            if variant is not None:
                log[i] = replace(event, experiment="1", variant=variant)
    return experiment


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="search-bench-analytics", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=1_000_000, help="events in the log (default 1,000,000)")
    parser.add_argument("--queries", type=int, default=50_000, help="distinct queries (default 50,000)")
    parser.add_argument("--shoppers", type=int, default=100_000, help="shoppers (default 100,000)")
    parser.add_argument("--days", type=int, default=90, help="days the log spans (default 90)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--experiment-share", type=float, default=0.3,
                        help="shoppers in a two-variant A/B test whose results are timed (default 0.3)")
    parser.add_argument("--json", help="also write the figures to this file")
    args = parser.parse_args(argv)
    setup_logging()
    from search_engine.analytics import SearchAnalytics
    from search_engine.event_store import EventStore
    from search_engine.experiments.followed import FollowedResults

    log = synthetic_log(args.events, args.queries, args.shoppers, args.days, args.seed)
    experiment = in_experiment(log, args.experiment_share, args.days)
    with tempfile.TemporaryDirectory() as folder:
        store = EventStore(Path(folder) / "events.sqlite3")
        for i in range(0, len(log) - 1000, 100_000):
            store.add(log[i:min(i + 100_000, len(log) - 1000)], durable=False)
        rollups = SearchAnalytics(store, lambda product: 10.0)
        started = time.perf_counter()
        rollups.update()
        full_s = time.perf_counter() - started
        replays = []
        for _ in range(3):  # a worker's first read of the results: the experiment's log replayed
            followed = FollowedResults(store, lambda product: 10.0)
            started = time.perf_counter()
            body = followed.results(experiment)
            replays.append(round(time.perf_counter() - started, 3))
        store.add(log[-1000:], durable=False)
        started = time.perf_counter()
        rollups.update()
        increment_ms = (time.perf_counter() - started) * 1000
        started = time.perf_counter()
        body = followed.results(experiment)  # a later read: the 1,000 new events followed
        follow_ms = (time.perf_counter() - started) * 1000
        end = date(2026, 9, 1) + timedelta(days=args.days - 1)
        boards = {}
        for name, first in (("last 30 days", end - timedelta(days=29)), ("all days", date(2026, 9, 1))):
            timings = []
            for _ in range(3):
                started = time.perf_counter()
                board = rollups.dashboard(first, end)
                timings.append(round(time.perf_counter() - started, 3))
            boards[name] = {"seconds": timings, "searches": board.searches, "shoppers": board.shoppers}
        experiment_figures = {"first_read_s": replays, "read_after_1000_new_events_ms": round(follow_ms, 1),
                              "searches": sum(v["searches"] for v in body["variants"]),
                              "shoppers": sum(v["units"] for v in body["variants"])}
        size_mb = sum(p.stat().st_size for p in Path(folder).iterdir()) / 2 ** 20
        store.close()
    figures = {"machine": f"{os.cpu_count()} cores", "date": time.strftime("%Y-%m-%d"), "events": len(log),
               "rollup_from_scratch_s": round(full_s, 1), "rollup_1000_new_events_ms": round(increment_ms, 1),
               "dashboard": boards, "experiment_results": experiment_figures, "event_file_mb": round(size_mb),
               "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)}
    return emit(figures, args.json)


if __name__ == "__main__":
    sys.exit(main())
