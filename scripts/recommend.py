"""Recommendations: simulate shoppers who buy complements and come back, measure the endpoints.

  search-recommend simulate  write SIMULATED shopping logs over the Icecat catalog: a log up to
                             a cutoff, and what held-out shoppers did after it
                             (search_engine/recommend/simulation.py; there are no real logs here)
  search-recommend evaluate  build the recommendations from the log as of the cutoff and score
                             for-you, bought-together and trending against "most popular" and
                             "similar by the product tower" on what held-out shoppers did next

A shop measures its own log the same way: `evaluate --events-db var/events.sqlite3 --cutoff
2026-11-01T00:00:00Z` splits the event store at the cutoff (every shopper active after it is
held out). The settings options check other values of each setting on that log.

Example (the figures in docs/recommendations.md):
  search-recommend simulate --index var/index --output var/recsim
  search-recommend evaluate --index var/index --log var/recsim/log.jsonl --future var/recsim/future.jsonl
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import asdict, fields
from pathlib import Path

from scripts.common import ICECAT_JUDGMENTS, SIMULATION_START, setup_logging
from search_engine.personalization.simulator import TASTE_KINDS
from search_engine.recommend.activity import RecommendationSettings
from search_engine.recommend.evaluation import K
from search_engine.recommend.simulation import P_HOT

T0 = SIMULATION_START
ENDPOINTS = ("for-you", "bought-together", "trending")


def parse_args(argv=None):
    parser = argparse.ArgumentParser(prog="search-recommend", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-v", "--verbose", action="store_true")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    sim = commands.add_parser("simulate", help="write SIMULATED shopping logs")
    sim.add_argument("--index", default="var/index")
    sim.add_argument("--judgments", default=str(ICECAT_JUDGMENTS))
    sim.add_argument("--output", default="var/recsim")
    sim.add_argument("--shoppers", type=int, default=4000, help="shoppers whose events before the cutoff are the log")
    sim.add_argument("--heldout-shoppers", type=int, default=1500, help="shoppers whose events after it are measured")
    sim.add_argument("--sessions", type=int, default=12, help="sessions per shopper over the whole period")
    sim.add_argument("--days", type=float, default=60.0, help="days before the cutoff")
    sim.add_argument("--after-days", type=float, default=14.0, help="days simulated after the cutoff")
    sim.add_argument("--seed", type=int, default=7)
    sim.add_argument("--tastes", default=",".join(TASTE_KINDS), metavar="KIND,...")
    sim.add_argument("--hot-share", type=float, default=P_HOT,
                     help="share of browsing sessions that view a product hot at the moment (0: no trends)")

    ev = commands.add_parser("evaluate", help="score the endpoints and the baselines on what shoppers did next")
    ev.add_argument("--index", default="var/index")
    source = ev.add_mutually_exclusive_group(required=True)
    source.add_argument("--log", help="JSONL: the events before the cutoff (simulate's log.jsonl)")
    source.add_argument("--events-db", help="an event store, split at --cutoff")
    ev.add_argument("--future", help="JSONL: held-out shoppers' events after the cutoff (with --log)")
    ev.add_argument("--cutoff", help="seconds since the epoch or ISO 8601 (default: just after the log's last event)")
    ev.add_argument("--horizon-days", type=float, default=7.0,
                    help="how far after the cutoff counts as next, for for-you and bought-together")
    ev.add_argument("--trending-horizon-days", type=float, default=1.0,
                    help="the same for trending: what is hot now is for the next day's shoppers")
    defaults = RecommendationSettings()
    for item in fields(RecommendationSettings):
        ev.add_argument(f"--{item.name.replace('_', '-')}", type=type(getattr(defaults, item.name)),
                        default=getattr(defaults, item.name), help="default %(default)s")
    ev.add_argument("--for-you-weights", default="", metavar="NAME=W,...",
                    help="for-you's weights (similar, complement, rebuy, taste, seen, trending)")
    ev.add_argument("--json", help="also write the figures here")
    return parser.parse_args(argv)


def _engine(index: str):
    from search_engine.factory import open_engine
    from search_engine.settings import load_settings

    return open_engine(load_settings(index_root=index, reranker_path=""))


def run_simulate(args) -> int:
    import random

    from scripts.personalize import session_simulator, taste_kinds, write_jsonl
    from search_engine.personalization.simulator import DAY
    from search_engine.recommend.activity import NO_ACTIVITY
    from search_engine.recommend.recommender import RecommendationView
    from search_engine.recommend.simulation import ShoppingSimulator, make_world

    kinds = taste_kinds(args.tastes)
    started = time.perf_counter()
    engine, catalog, sessions, _ = session_simulator(args.index, args.judgments, args.seed)
    snapshot = engine.index.snapshot()
    products = snapshot.products.live_products()
    view = RecommendationView(NO_ACTIVITY, snapshot, engine.vocabulary.get(), RecommendationSettings())
    cutoff = T0 + args.days * DAY
    world = make_world(products, lambda p: view.type_name(p.id), sessions.pool, T0, args.days + args.after_days,
                       random.Random(args.seed + 1))
    shopping = ShoppingSimulator(sessions, world, {p.id: p for p in products}, catalog.vector_of, args.seed + 2,
                                 hot_share=args.hot_share)
    log, future, described = [], [], []
    total_days = args.days + args.after_days
    per_shopper = max(1, round(args.sessions))
    for i in range(args.shoppers + args.heldout_shoppers):
        heldout = i >= args.shoppers
        shopper = sessions.shopper(f"sim-{'heldout' if heldout else 'shop'}-{i}", kinds[i % len(kinds)])
        events = [e for e in shopping.history(shopper, T0, total_days, per_shopper) if e.timestamp < T0 + total_days * DAY]
        log += [e for e in events if e.timestamp < cutoff]
        if heldout:
            future += [e for e in events if e.timestamp >= cutoff]
            described.append(shopper.describe())
    output = Path(args.output)
    counts = {"log": write_jsonl(output / "log.jsonl", log), "future": write_jsonl(output / "future.jsonl", future)}
    (output / "world.json").write_text(json.dumps({"cutoff": cutoff, "seed": args.seed, **world.describe()}, indent=1))
    with open(output / "heldout-shoppers.jsonl", "w", encoding="utf-8") as handle:
        handle.writelines(json.dumps(d) + "\n" for d in described)
    print(json.dumps({"events": counts, "cutoff": cutoff, "heldout_shoppers": len(described),
                      "types": len(world.members), "types_with_complements": len(world.complements),
                      "consumable_types": len(world.consumables), "seconds": round(time.perf_counter() - started, 1)},
                     indent=1))
    print(f"wrote SIMULATED logs to {output}/ (cutoff {cutoff}: give it to evaluate as --cutoff)")
    return 0


def _cutoff(text: str) -> float:
    from search_engine.events import parse_timestamp

    try:
        return parse_timestamp(float(text))
    except ValueError:
        return parse_timestamp(text)


def _split(args):
    from search_engine.events import read_jsonl_events

    if args.log:
        if not args.future:
            raise ValueError("--future: give the held-out shoppers' events after the cutoff with --log")
        history, future = list(read_jsonl_events(args.log)), list(read_jsonl_events(args.future))
        cutoff = _cutoff(args.cutoff) if args.cutoff else \
            max((e.timestamp for e in history), default=0.0) + 1e-3
        return [e for e in history if e.timestamp < cutoff], future, cutoff
    from search_engine.event_store import EventStore

    if not args.cutoff:
        raise ValueError("--cutoff: give the time to split the event store at")
    if not Path(args.events_db).exists():
        raise FileNotFoundError(f"no event store at {args.events_db}")
    cutoff = _cutoff(args.cutoff)
    events = list(EventStore(args.events_db).all())
    return [e for e in events if e.timestamp < cutoff], [e for e in events if e.timestamp >= cutoff], cutoff


def run_evaluate(args) -> int:
    from search_engine.recommend.activity import ActivityLog
    from search_engine.recommend.evaluation import cases, latest_products, relative, score
    from search_engine.recommend.recommender import (ForYouWeights, RecommendationView, bought_together, for_you,
                                                     trending)

    settings = RecommendationSettings(**{item.name: getattr(args, item.name) for item in fields(RecommendationSettings)})
    weights = ForYouWeights.parse(args.for_you_weights)
    history, future, cutoff = _split(args)
    engine = _engine(args.index)
    started = time.perf_counter()
    log = ActivityLog(settings)
    log.add(sorted(history, key=lambda e: e.timestamp))
    view = RecommendationView(log.published(cutoff), engine.index.snapshot(), engine.vocabulary.get(), settings)
    by_user: dict[str, list] = {}
    for event in sorted(history, key=lambda e: e.timestamp):
        by_user.setdefault(event.user_id, []).append(event)
    latest = latest_products(history)
    popular = [view.product(int(doc)).id for doc in view.popular_docs[:K + 1]]
    similar_memo: dict[str, list[str]] = {}

    def similar(product_id: str | None) -> list[str]:
        if product_id is None or engine.index.products.get(product_id) is None:
            return popular
        if product_id not in similar_memo:
            similar_memo[product_id] = [hit.product.id for hit in engine.similar(product_id, K)]
        return similar_memo[product_id]

    endpoints = {
        "for-you": lambda case: [r.product.id for r in for_you(view, by_user.get(case.user_id, []), cutoff, K + 1,
                                                               weights=weights)[0]],
        "bought-together": lambda case: [r.product.id for r in bought_together(view, case.product_id, K + 1)]
        if view.doc_of(case.product_id) is not None else [],
        "trending": lambda case: [r.product.id for r in trending(view, K + 1)],
    }
    figures = {"cutoff": cutoff, "horizon_days": args.horizon_days, "trending_horizon_days": args.trending_horizon_days, "settings": asdict(settings),
               "for_you_weights": asdict(weights), "log_events": len(history), "endpoints": {}}
    for endpoint, recommend in endpoints.items():
        horizon = args.trending_horizon_days if endpoint == "trending" else args.horizon_days
        found = cases(history, future, cutoff, horizon, endpoint)
        anchor = (lambda case: case.product_id) if endpoint == "bought-together" else \
            (lambda case: latest.get(case.user_id))
        table = score({endpoint: recommend, "most popular": lambda case: popular,
                       "similar by the product tower": lambda case, anchor=anchor: similar(anchor(case))}, found)
        table["change"] = relative(table, endpoint, ("most popular", "similar by the product tower"))
        figures["endpoints"][endpoint] = table
    figures["seconds"] = round(time.perf_counter() - started, 1)
    text = json.dumps(figures, indent=1)
    print(text)
    if args.json:
        Path(args.json).write_text(text)
    return 0


def main(argv=None) -> int:
    args = parse_args(argv)
    setup_logging(args.verbose)
    try:
        return {"simulate": run_simulate, "evaluate": run_evaluate}[args.command](args)
    except (ValueError, FileNotFoundError) as exc:
        print(f"search-recommend {args.command}: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
