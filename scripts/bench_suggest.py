"""Measure the search box as the shopper types: how often suggestions (GET /suggest) offer
what the shopper was typing, how fast they answer through a real server, what spelling
correction costs, and what the event log costs them.

quality  in process, over an index (default var/index): for each judged query, its first 3,
         5 and 8 characters typed; how often the query itself (or one with the same stems)
         is among the top 5 completions, and its mean reciprocal rank; with no events, and
         with an event log (--events, JSONL) counted in. With --events it also checks the
         log against itself: suggestions from the first 80% of its searches (by time), the
         prefixes of the last 20% as the typing. That second figure needs no judgments, so a
         shop can check the ranking weights (--click-weight, ...) on its own history.
server   GET /suggest against a gunicorn server in another process, prefixes typed one
         letter at a time for every judged query: one client in order (the first time each
         prefix is asked, then again: repeated prefixes are what a busy shop mostly sees),
         then several clients at once for throughput.
spelling in process, what spelling correction costs per query (search_engine/spelling.py): the
         judged queries clean and misspelt by the seeded typo generator, each timed three
         times after a warm-up. Then what it does to clean queries no product answers:
         two-word queries of the catalog's own commonest title words that no product holds
         together (seeded; "wooden keyboard"), which a shopper may mean as typed, and how
         many of them correction respells (each listed): no judgments needed.
log      in process, the event log's side on a synthetic log (seeded: random words, queries
         drawn Zipf-like, shoppers uniformly): counting events into the query log, and
         ranking it (what the follower publishes), with the peak memory.

The bundled event logs are SIMULATED shoppers (search_engine/personalization/simulator.py),
who search the judged queries themselves: "with events" figures on them are an upper bound.

Examples:
  search-bench-suggest quality --events var/sim-ranker/train-events.jsonl
  search-bench-suggest server --events var/sim-ranker/train-events.jsonl --clients 1,2,4
  search-bench-suggest spelling --seeds 7 11
  search-bench-suggest log --events 1000000
"""
from __future__ import annotations

import argparse
import http.client
import os
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlencode

from scripts.common import ICECAT_JUDGMENTS, emit, percentiles, setup_logging

TYPED = (3, 5, 8)
SHOWN = 5
HELD_OUT_SHARE = 0.2


def _stems(text: str) -> tuple[str, ...]:
    from indexer.keyword.base import query_terms
    from indexer.keyword.stemming import stem

    return tuple(stem(word) for word in query_terms(text))


def _fill(store_path: Path, events) -> "object":
    from search_engine.event_store import EventStore

    store = EventStore(store_path)
    store.add(events, durable=False)
    return store


def _suggestions(events_store, scoring, folder: Path):
    from search_engine.suggest.live import LiveSuggestions
    from search_engine.suggest.rules import SuggestionRuleStore

    live = LiveSuggestions(events_store, SuggestionRuleStore(folder / "rules.sqlite3"), scoring, follow=False)
    live.refresh()
    return live


def typed_hits(live, engine, wanted: list[str]) -> dict:
    """For each prefix length: the share of `wanted` texts found in the top SHOWN completions
    of their prefix, and the mean reciprocal rank (0 when not shown)."""
    figures = {}
    for length in TYPED:
        hits, reciprocal = 0, 0.0
        for text in wanted:
            target = _stems(text)
            shown = live.suggest(engine, text[:length], SHOWN, 0, 0).suggestions
            rank = next((i for i, s in enumerate(shown, 1) if _stems(s.key) == target), None)
            hits += rank is not None
            reciprocal += 1 / rank if rank else 0.0
        figures[f"{length}_chars"] = {"in_top_5": round(hits / len(wanted), 4),
                                      "mrr": round(reciprocal / len(wanted), 4)}
    return figures


def run_quality(args) -> dict:
    from search_engine.factory import open_engine
    from search_engine.events import read_jsonl_events
    from search_engine.judgments import load_judgments
    from search_engine.settings import load_settings

    settings = load_settings(index_root=args.index, **_scoring_overrides(args))
    scoring = settings.query_scoring()
    engine = open_engine(settings, rules=_NoRules())
    judged = list(load_judgments(ICECAT_JUDGMENTS))
    figures = {"index": args.index, "queries": len(judged), "scoring": vars(scoring)}
    with tempfile.TemporaryDirectory() as folder:
        folder = Path(folder)
        figures["judged_no_events"] = typed_hits(_suggestions(None, scoring, folder), engine, judged)
        if args.events:
            events = sorted(read_jsonl_events(args.events), key=lambda e: e.timestamp)
            everything = _fill(folder / "all.sqlite3", events)
            figures["events"] = {"file": args.events, "count": len(events)}
            figures["judged_with_events"] = typed_hits(_suggestions(everything, scoring, folder), engine, judged)
            cut = events[int(len(events) * (1 - HELD_OUT_SHARE))].timestamp
            earlier = _fill(folder / "earlier.sqlite3", [e for e in events if e.timestamp < cut])
            later = [e.query for e in events if e.timestamp >= cut and e.type == "search" and e.query]
            figures["later_searches"] = {"searches": len(later), **typed_hits(
                _suggestions(earlier, scoring, folder), engine, later)}
    return figures


class _NoRules:
    def rules(self):
        return []


def _scoring_overrides(args) -> dict:
    return {name: getattr(args, name.removeprefix("suggest_"))
            for name in ("suggest_click_weight", "suggest_purchase_weight", "suggest_catalog_weight",
                         "suggest_min_shoppers")}


def typing_prefixes(queries: list[str]) -> list[str]:
    """Every prefix a shopper types on the way to each query, one letter at a time."""
    return [q[:n] for q in queries for n in range(1, len(q) + 1) if q[:n].strip()]


def run_server(args) -> dict:
    from scripts.bench_search import free_port, load_test, start_server
    from search_engine.events import read_jsonl_events
    from search_engine.judgments import load_judgments

    prefixes = typing_prefixes(list(load_judgments(ICECAT_JUDGMENTS)))
    with tempfile.TemporaryDirectory() as folder:
        folder = Path(folder)
        env = {"SEARCH_EVENTS_PATH": str(folder / "events.sqlite3"),
               "SEARCH_MERCHANDISING_PATH": str(folder / "merchandising.sqlite3")}
        if args.events:
            _fill(folder / "events.sqlite3", read_jsonl_events(args.events)).close()
        port = free_port()
        server = start_server(args.index, port, query_cache=True, workers=args.workers, threads=args.threads,
                              env=env)
        try:
            time.sleep(args.settle_s)  # the suggestion follower reads the event log in the background
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)

            def get(prefix: str) -> float:
                started = time.perf_counter()
                connection.request("GET", "/suggest?" + urlencode({"q": prefix}))
                response = connection.getresponse()
                body = response.read()
                if response.status != 200:
                    raise RuntimeError(f"HTTP {response.status}: {body[:300]!r}")
                return (time.perf_counter() - started) * 1000

            first = [get(p) for p in prefixes]
            again = [get(p) for p in prefixes]
            connection.close()
            load = []
            for clients in (int(c) for c in args.clients.split(",")):
                figures = load_test(port, prefixes, clients, args.load_requests, args.load_seconds,
                                    path="/suggest", params=lambda q: {"q": q})
                figures["suggestions_per_s"] = figures.pop("searches_per_s")
                load.append(figures)
        finally:
            server.terminate()
            server.wait(timeout=30)
    return {"index": args.index, "events": args.events, "workers": args.workers, "threads": args.threads,
            "prefixes": len(prefixes), "one_client_first_time": percentiles(first, key="p{}_ms"),
            "one_client_repeated": percentiles(again, key="p{}_ms"), "load": load}


def run_spelling(args) -> dict:
    from search_engine.factory import open_engine
    from search_engine.judgments import load_judgments
    from search_engine.settings import load_settings
    from search_engine.spelling import correct
    from search_engine.typos import misspelled_judgments

    engine = open_engine(load_settings(index_root=args.index), rules=_NoRules())
    snapshot, words = engine.index.snapshot(), engine.spelling.get()
    judged = load_judgments(ICECAT_JUDGMENTS)
    sets = {"clean": list(judged), **{f"misspelt, seed {seed}": list(misspelled_judgments(judged, seed))
                                      for seed in args.seeds}}
    figures = {}
    for name, queries in sets.items():
        for query in queries:  # warm-up
            correct(query, words, snapshot.keyword.count, engine.spelling_enough,
                    count_in_titles=snapshot.keyword.count_in_titles)
        timings = []
        for _ in range(3):
            for query in queries:
                started = time.perf_counter()
                correct(query, words, snapshot.keyword.count, engine.spelling_enough,
                        count_in_titles=snapshot.keyword.count_in_titles)
                timings.append((time.perf_counter() - started) * 1000)
        figures[name] = percentiles(timings, digits=3, key="p{}_ms")
    unheld = unheld_pairs(snapshot, args.pairs, args.pair_seed)
    respelt = {}
    for query in unheld:
        correction = correct(query, words, snapshot.keyword.count, engine.spelling_enough,
                             count_in_titles=snapshot.keyword.count_in_titles)
        if correction is not None:
            respelt[query] = correction.text
    return {"index": args.index, "queries": len(judged), "correct": figures,
            "clean_unheld_pairs": {"queries": len(unheld), "respelt": len(respelt), "readings": respelt}}


COMMON_TITLE_WORDS = 300


def unheld_pairs(snapshot, tries: int, seed: int) -> list[str]:
    """Two-word queries of the catalog's commonest title words (alphabetic, 3+ letters) that
    no product holds together, from `tries` seeded random pairs."""
    import random
    from collections import Counter

    from indexer.keyword.base import query_terms

    titles = Counter()
    for product in snapshot.products.live_products():
        titles.update({w for w in query_terms(product.title) if w.isalpha() and len(w) >= 3})
    common = sorted(w for w, _ in titles.most_common(COMMON_TITLE_WORDS))
    rng = random.Random(seed)
    pairs = sorted({f"{a} {b}" for a, b in (rng.sample(common, 2) for _ in range(tries))})
    return [q for q in pairs if snapshot.keyword.count(q) == 0]


def run_log(args) -> dict:
    import random
    import resource

    from search_engine.suggest.popularity import QueryLog, QueryScoring
    from search_engine.types import Event

    rng = random.Random(args.seed)
    words = ["".join(rng.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(rng.randint(3, 9)))
             for _ in range(20_000)]
    queries = [" ".join(rng.choice(words) for _ in range(rng.randint(1, 3))) for _ in range(args.queries)]
    picked = rng.choices(queries, weights=[1 / (i + 1) for i in range(len(queries))], k=args.events)
    events = [Event(f"u{rng.randrange(args.shoppers)}", "s", float(i), "search", query=q)
              for i, q in enumerate(picked)]
    log = QueryLog()
    started = time.perf_counter()
    log.add(events)
    count_s = time.perf_counter() - started
    started = time.perf_counter()
    log.add(events[:1000])
    thousand_ms = (time.perf_counter() - started) * 1000
    rounds = []
    for _ in range(args.rounds):
        started = time.perf_counter()
        ranked = log.ranked(QueryScoring())
        rounds.append(time.perf_counter() - started)
    return {"events": args.events, "distinct_queries": len(log.counts), "ranked_queries": len(ranked.index),
            "count_us_per_event": round(count_s / args.events * 1e6, 2), "count_1000_new_ms": round(thousand_ms, 2),
            "rank_s": [round(r, 3) for r in rounds],
            "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)}


def main(argv=None) -> int:
    from search_engine.suggest.popularity import QueryScoring

    parser = argparse.ArgumentParser(prog="search-bench-suggest", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    quality = commands.add_parser("quality", help="how often the completions hold what was being typed")
    defaults = QueryScoring()
    quality.add_argument("--click-weight", type=float, default=defaults.click_weight)
    quality.add_argument("--purchase-weight", type=float, default=defaults.purchase_weight)
    quality.add_argument("--catalog-weight", type=float, default=defaults.catalog_weight)
    quality.add_argument("--min-shoppers", type=int, default=defaults.min_shoppers)
    server = commands.add_parser("server", help="latency and throughput through a real server")
    server.add_argument("--workers", type=int, default=2, help="server processes (default 2)")
    server.add_argument("--threads", type=int, default=4, help="threads per server process (default 4)")
    server.add_argument("--clients", default="1,2,4", help="client counts for the load test (default 1,2,4)")
    server.add_argument("--load-requests", type=int, default=5000, help="requests per load level at most")
    server.add_argument("--load-seconds", type=float, default=15, help="seconds per load level at most")
    server.add_argument("--settle-s", type=float, default=5, help="seconds for the server to read the event log")
    for command in (quality, server):
        command.add_argument("--index", default="var/index", help="index root (default var/index)")
        command.add_argument("--events", help="an event log (JSONL) to count in; say whether it is simulated")
    spelling = commands.add_parser("spelling", help="what spelling correction costs per query")
    spelling.add_argument("--index", default="var/index", help="index root (default var/index)")
    spelling.add_argument("--seeds", type=int, nargs="+", default=[7, 11], help="typo generator seeds (default 7 11)")
    spelling.add_argument("--pairs", type=int, default=1000, help="random pairs of common title words tried (default 1000)")
    spelling.add_argument("--pair-seed", type=int, default=5, help="seed of those pairs (default 5)")
    log = commands.add_parser("log", help="counting and ranking a synthetic event log")
    log.add_argument("--events", type=int, default=1_000_000, help="search events (default 1,000,000)")
    log.add_argument("--queries", type=int, default=100_000, help="distinct queries drawn from (default 100,000)")
    log.add_argument("--shoppers", type=int, default=50_000, help="shoppers (default 50,000)")
    log.add_argument("--rounds", type=int, default=3, help="rankings timed (default 3)")
    log.add_argument("--seed", type=int, default=1)
    for command in (quality, server, spelling, log):
        command.add_argument("--json", help="also write the figures to this file")
    args = parser.parse_args(argv)
    setup_logging()
    run = {"quality": run_quality, "server": run_server, "spelling": run_spelling, "log": run_log}[args.command]
    try:
        figures = {"machine": f"{os.cpu_count()} cores", "date": time.strftime("%Y-%m-%d"), **run(args)}
    except (ValueError, RuntimeError, OSError) as exc:
        print(f"search-bench-suggest {args.command}: {exc}", file=sys.stderr)
        return 2
    return emit(figures, args.json)


if __name__ == "__main__":
    sys.exit(main())
