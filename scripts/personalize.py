"""Personalization: import shoppers' events, train the preference model, measure it.

  search-personalize import    load a JSONL event log into the event store (validated)
  search-personalize train     build training lists from logged searches, train the LightGBM
                               LambdaMART preference model, save a new model version
  search-personalize simulate  write SIMULATED shoppers' event logs over the Icecat catalog
                               (there are no real logs here; see search_engine/personalization/simulator.py)
  search-personalize evaluate  held-out sessions: nDCG@10 of what shoppers clicked or bought,
                               unpersonalized vs personalized; and the judgment nDCG@10 for
                               anonymous and unknown shoppers, which must not change

Serve a trained model with SEARCH_RERANKER_PATH=var/reranker search-serve ...; queries with
?user=ID are then reranked for that shopper.

Example (the figures in docs/personalization.md):
  search-personalize simulate --index var/icecat-index --output var/sim
  search-personalize train --index var/icecat-index --log var/sim/train-events.jsonl --output var/reranker
  search-personalize evaluate --index var/icecat-index --model var/reranker \\
      --history var/sim/heldout-history.jsonl --sessions var/sim/heldout-sessions.jsonl
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import replace
from pathlib import Path

from scripts.common import ICECAT_JUDGMENTS, SIMULATION_START, check_judgments, setup_logging
from search_engine.personalization.reranker import DEFAULT_EVIDENCE
from search_engine.personalization.simulator import TASTE_KINDS
from search_engine.personalization.training import ROUNDS

T0 = SIMULATION_START


def parse_args(argv=None):
    parser = argparse.ArgumentParser(prog="search-personalize", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-v", "--verbose", action="store_true")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    imp = commands.add_parser("import", help="load a JSONL event log into the event store")
    imp.add_argument("log", help="JSONL, one event per line (the POST /events fields)")
    imp.add_argument("--events-db", default="var/events.sqlite3")
    imp.add_argument("--index", help="check product ids against this index; unknown ones fail the import")

    train = commands.add_parser("train", help="train a preference model version")
    train.add_argument("--index", default="var/index", help="index whose candidates are replayed for logged queries")
    source = train.add_mutually_exclusive_group()
    source.add_argument("--log", help="a JSONL event log")
    source.add_argument("--events-db", default="var/events.sqlite3", help="the event store (default)")
    train.add_argument("--output", default="var/reranker", help="folder of model versions")
    train.add_argument("--rounds", type=int, default=ROUNDS)

    sim = commands.add_parser("simulate", help="write SIMULATED event logs (training and held-out)")
    sim.add_argument("--index", default="var/index")
    sim.add_argument("--judgments", default=str(ICECAT_JUDGMENTS))
    sim.add_argument("--output", default="var/sim")
    sim.add_argument("--train-shoppers", type=int, default=5000)
    sim.add_argument("--heldout-shoppers", type=int, default=300)
    sim.add_argument("--sessions", type=int, default=8, help="history sessions per shopper")
    sim.add_argument("--measure-sessions", type=int, default=2, help="held-out measurement sessions per held-out shopper")
    sim.add_argument("--seed", type=int, default=7)
    sim.add_argument("--tastes", default=",".join(TASTE_KINDS), metavar="KIND,...",
                     help="kinds of simulated shopper taste, taken in turn (default: every kind: %(default)s)")

    ev = commands.add_parser("evaluate", help="measure a model on held-out sessions")
    ev.add_argument("--index", default="var/index")
    ev.add_argument("--model", default="var/reranker")
    ev.add_argument("--history", required=True, help="JSONL: held-out shoppers' earlier events")
    ev.add_argument("--sessions", required=True, help="JSONL: held-out measurement sessions")
    ev.add_argument("--evidence", type=float, default=DEFAULT_EVIDENCE,
                    help="history mass at which the model's correction counts half (the "
                    "personalization_evidence setting; default %(default)s)")
    ev.add_argument("--shoppers", help="JSONL: each held-out shopper's user_id and kind of taste "
                    "(simulate writes heldout-shoppers.jsonl); the change is then reported per kind")
    ev.add_argument("--judgments", default=str(ICECAT_JUDGMENTS))
    ev.add_argument("--known-tastes", action="store_true",
                    help="also rerank each session by the model's taste-free score plus the SIMULATED "
                    "shopper's true taste (--shoppers, as simulate wrote them over this index and "
                    "judgments): what reading the taste exactly would add, per kind and weight")
    return parser.parse_args(argv)


def _engine(index: str):
    from search_engine.factory import open_engine
    from search_engine.settings import load_settings

    return open_engine(load_settings(index_root=index, reranker_path=""))


def write_jsonl(path: Path, events) -> int:
    from search_engine.events import event_json

    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8") as handle:
        for event in sorted(events, key=lambda e: e.timestamp):
            handle.write(json.dumps(event_json(event)) + "\n")
    return len(events)


def run_import(args) -> int:
    from search_engine.event_store import EventStore
    from search_engine.events import read_jsonl_events, unknown_products

    events = list(read_jsonl_events(args.log))  # a bad line stops the import before anything is stored
    if args.index:
        products = _engine(args.index).index.products
        missing = unknown_products(events, lambda pid: products.get(pid) is not None)
        if missing:
            raise ValueError(f"{len(missing)} events name unknown products, first: event {missing[0][0] + 1} "
                             f"(line order), product {missing[0][1]!r}; nothing was imported")
    store = EventStore(args.events_db)
    for start in range(0, len(events), 5000):
        store.add(events[start:start + 5000])
    print(f"imported {len(events)} events into {args.events_db} (now {store.count()} in all)")
    return 0


def run_train(args) -> int:
    from search_engine.event_store import EventStore
    from search_engine.events import read_jsonl_events
    from search_engine.personalization.training import train_from_events

    if args.log:
        events = list(read_jsonl_events(args.log))
    else:
        if not Path(args.events_db).exists():
            raise FileNotFoundError(f"no event store at {args.events_db}; give --log FILE or --events-db PATH")
        events = list(EventStore(args.events_db).all())
    engine = _engine(args.index)
    model, report = train_from_events(events, engine, engine.index.products.live_products(), rounds=args.rounds,
                                      show_progress=True)
    model.meta["source"] = args.log or args.events_db
    path = model.save(args.output)
    print(json.dumps(report, indent=1))
    print(f"saved {path}; serve it with SEARCH_RERANKER_PATH={args.output}")
    return 0


def taste_kinds(text: str) -> list[str]:
    """--tastes: kinds of simulated shopper taste, checked."""
    kinds = [k.strip() for k in text.split(",") if k.strip()]
    unknown = sorted(set(kinds) - set(TASTE_KINDS))
    if unknown or not kinds:
        raise ValueError(f"--tastes: unknown kind {', '.join(unknown) or '(none given)'}; "
                         f"the kinds are {', '.join(TASTE_KINDS)}")
    return kinds


def session_simulator(index: str, judgments: str, seed: int, engine=None):
    """(engine, catalog reader, the search-session simulator, the queries it searched) over an
    index (or an engine already open on it): simulated shoppers see the engine's
    unpersonalized results, each query searched once."""
    from search_engine.judgments import load_judgments
    from search_engine.personalization.profiles import CatalogReader, PriceBands
    from search_engine.personalization.simulator import MEASURE_DEPTH, ShopperSimulator
    from search_engine.types import Query

    engine = engine or _engine(index)
    snapshot = engine.index.snapshot()
    cache: dict = {}

    def results_of(query: str):
        if query not in cache:
            cache[query] = [h.product for h in engine.search(Query(query, k=MEASURE_DEPTH)).hits]
        return cache[query]

    catalog = CatalogReader.of_snapshot(snapshot)
    judged = load_judgments(judgments)
    check_judgments(judged, snapshot.products, judgments)  # simulated shoppers search its queries
    simulator = ShopperSimulator(judged, results_of,
                                 PriceBands.fit(snapshot.products.live_products()), seed,
                                 facets=catalog.facets, vector_of=catalog.vector_of)
    return engine, catalog, simulator, cache


def run_simulate(args) -> int:
    import random
    from collections import defaultdict

    from search_engine.personalization.simulator import DAY

    kinds = taste_kinds(args.tastes)
    engine, catalog, simulator, cache = session_simulator(args.index, args.judgments, args.seed)
    products = engine.index.products.live_products()
    by_brand = defaultdict(list)
    for product in products:
        by_brand[product.brand].append(product)
    started = time.perf_counter()
    train_events, history, measure, described = [], [], [], []
    for i in range(args.train_shoppers):
        shopper = simulator.shopper(f"sim-train-{i}", kinds[i % len(kinds)])
        train_events += simulator.history(shopper, T0, args.sessions, by_brand)
    for i in range(args.heldout_shoppers):
        shopper = simulator.shopper(f"sim-heldout-{i}", kinds[i % len(kinds)])
        described.append(shopper.describe())
        history += simulator.history(shopper, T0, args.sessions, by_brand)
        for j in range(args.measure_sessions):
            measure += simulator.session(shopper, T0 + 61 * DAY + j * 3600 + random.Random(i).uniform(0, 600),
                                         measure=True)
    output = Path(args.output)
    counts = {name: write_jsonl(output / f"{name}.jsonl", events) for name, events in
              (("train-events", train_events), ("heldout-history", history), ("heldout-sessions", measure))}
    with open(output / "heldout-shoppers.jsonl", "w", encoding="utf-8") as handle:
        handle.writelines(json.dumps(d) + "\n" for d in described)
    print(json.dumps({"events": counts, "heldout_shoppers": len(described), "tastes": kinds,
                      "distinct_queries": len(cache), "seconds": round(time.perf_counter() - started, 1)}, indent=1))
    print(f"wrote SIMULATED logs to {output}/ (held-out shoppers' tastes in heldout-shoppers.jsonl)")
    return 0


def run_evaluate(args) -> int:
    from search_engine.evaluation import Configuration, evaluate
    from search_engine.events import read_jsonl_events
    from search_engine.judgments import load_judgments
    from search_engine.personalization.evaluation import by_group, session_ndcg
    from search_engine.personalization.model import load_model
    from search_engine.personalization.reranker import PreferenceReranker

    if args.known_tastes and not args.shoppers:
        raise ValueError("--known-tastes needs --shoppers (the held-out shoppers' tastes, as simulate wrote them)")
    described = _read_described(args.shoppers) if args.shoppers else []
    engine = _engine(args.index)
    reranker = PreferenceReranker(load_model(args.model), lambda user: [], evidence=args.evidence)
    group_of = {d["user_id"]: d["kind"] for d in described}
    # Rebuilt before the long part, so a shoppers file of another index fails at once.
    shoppers = _described_shoppers(args, engine, described) if args.known_tastes else None
    figures = session_ndcg(engine, reranker, list(read_jsonl_events(args.history)),
                           list(read_jsonl_events(args.sessions)), shoppers=shoppers)
    figures["by_kind"] = by_group(figures.pop("per_session"), group_of)
    figures["taste_free_by_kind"] = by_group(figures.pop("taste_free_per_session"), group_of)
    known = figures.pop("known_taste_per_session")
    if args.known_tastes:
        figures["known_taste_by_kind"] = {f"fit weight {w}": by_group(rows, group_of) for w, rows in known.items()}
    plain, personal = figures["unpersonalized_ndcg@10"], figures["personalized_ndcg@10"]
    figures["relative_change"] = (personal - plain) / plain if plain else None
    # Anonymous and unknown shoppers: the judgment nDCG@10 with the reranker switched on.
    judgments = load_judgments(args.judgments)
    check_judgments(judgments, engine.index.products, args.judgments)
    personalized_engine = replace(engine, reranker=reranker)
    default = Configuration("hybrid (default)")
    figures["judgments_ndcg@10_without_reranker"] = evaluate(engine, judgments, [default])[0].summary()["ndcg@10"]
    figures["judgments_ndcg@10_anonymous_with_reranker"] = evaluate(personalized_engine, judgments, [default])[0].summary()["ndcg@10"]
    print(json.dumps({"model": reranker.model.version, **figures}, indent=1))
    return 0


def _read_described(path: str) -> list[dict]:
    """heldout-shoppers.jsonl as simulate wrote it; ValueError naming the line that is not."""
    described = []
    with open(path, encoding="utf-8") as handle:
        for number, line in enumerate(handle, 1):
            if not line.strip():
                continue
            try:
                shopper = json.loads(line)
            except json.JSONDecodeError as exc:
                raise ValueError(f"{path} line {number}: not JSON ({exc.msg})") from None
            for field in ("user_id", "kind"):
                if not isinstance(shopper, dict) or not isinstance(shopper.get(field), str):
                    raise ValueError(f"{path} line {number}: no {field} (a string) in the shopper's description")
            described.append(shopper)
    return described


def _described_shoppers(args, engine, described: list[dict]) -> dict:
    """The SIMULATED shoppers that heldout-shoppers.jsonl describes, rebuilt over this index."""
    _, _, simulator, _ = session_simulator(args.index, args.judgments, seed=0, engine=engine)
    return {d["user_id"]: simulator.described(d) for d in described}


def main(argv=None) -> int:
    args = parse_args(argv)
    setup_logging(args.verbose)
    try:
        return {"import": run_import, "train": run_train, "simulate": run_simulate,
                "evaluate": run_evaluate}[args.command](args)
    except (ValueError, FileNotFoundError) as exc:
        print(f"search-personalize {args.command}: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
