"""Measure online experiments on SIMULATED shoppers: how many sessions an A/B test and a
team-draft interleaving test need to find a configuration known to be better (the preference
model on, against off), over several seeds, and how often each declares a winner in an A/A
test (both variants the same) when read every --look-every sessions.

The shoppers, their histories and the sessions they will run are drawn once (--shopper-seed);
each seed then walks the sessions in its own order, with its own assignment (the experiment
id) and its own clicks. Nothing here is real behaviour: the shoppers are the personalization
simulator's (docs/personalization.md), over the real catalog and judged queries.

Example (after search-personalize simulate and train, docs/personalization.md):
  search-bench-experiments --index var/index --model var/reranker --json var/bench-experiments.json
"""
from __future__ import annotations

import argparse
import random
import statistics
import sys
import time
from collections import defaultdict
from dataclasses import replace

from scripts.common import ICECAT_JUDGMENTS, emit, setup_logging

T0 = 1_790_000_000.0  # the simulated histories' start (2026-09-21)
DAY = 86400.0
TEST_START = T0 + 61 * DAY  # after the 60 days of history


def parse_args(argv=None):
    parser = argparse.ArgumentParser(prog="search-bench-experiments", description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--index", default="var/index")
    parser.add_argument("--model", default="var/reranker", help="the preference model (search-personalize train)")
    parser.add_argument("--judgments", default=str(ICECAT_JUDGMENTS))
    parser.add_argument("--shoppers", type=int, default=2000)
    parser.add_argument("--history-sessions", type=int, default=20, help="each shopper's sessions before the test")
    parser.add_argument("--sessions-per-shopper", type=int, default=10, help="each shopper's sessions in the test")
    parser.add_argument("--shopper-seed", type=int, default=21, help="draws the shoppers (not the model's 7)")
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3, 4, 5])
    parser.add_argument("--aa-runs", type=int, default=100, help="A/A runs of each kind")
    parser.add_argument("--look-every", type=int, default=100, help="sessions between two readings of the results")
    parser.add_argument("--minimum-effect", type=float, default=0.05)
    parser.add_argument("--alpha", type=float, default=0.05)
    parser.add_argument("--json", help="also write the figures here")
    parser.add_argument("-v", "--verbose", action="store_true")
    return parser.parse_args(argv)


def experiment_pair(kind: str, second: dict, experiment_id: int, args):
    from search_engine.experiments.definition import parse_experiment

    variants = [{"name": "control", "config": {"personalization": False}}, {"name": "treatment", "config": second}]
    if kind == "ab":
        for variant in variants:
            variant["share"] = 0.5
    # It runs from the test's start for as long as the sessions take (one a minute).
    definition = {"name": f"{kind} {experiment_id}", "kind": kind, "variants": variants, "start": TEST_START,
                  "stop": TEST_START + 400 * DAY, "minimum_effect": args.minimum_effect, "alpha": args.alpha}
    return replace(parse_experiment(definition, now=TEST_START), id=experiment_id)


def main(argv=None) -> int:
    args = parse_args(argv)
    setup_logging(args.verbose)
    from search_engine.experiments.simulation import PlannedSession, run
    from search_engine.factory import open_engine
    from search_engine.judgments import load_judgments
    from search_engine.personalization.model import load_model
    from search_engine.personalization.profiles import CatalogReader, PriceBands, build_profile
    from search_engine.personalization.reranker import PreferenceReranker
    from search_engine.personalization.simulator import MEASURE_DEPTH, ShopperSimulator
    from search_engine.settings import load_settings
    from search_engine.types import Query

    started = time.perf_counter()
    engine = open_engine(load_settings(index_root=args.index, reranker_path=""))
    products = engine.index.products
    catalog = CatalogReader.of_snapshot(engine.index.snapshot())
    model = load_model(args.model)
    reranker = PreferenceReranker(model, lambda user: [])
    judgments = load_judgments(args.judgments)
    candidates: dict = {}

    def candidates_of(query: str):
        if query not in candidates:
            candidates[query] = [h.candidate for h in engine.search(Query(query, k=MEASURE_DEPTH)).hits
                                 if h.candidate.ranked]
        return candidates[query]

    def results_of(query: str):
        return [products.product(c.doc) for c in candidates_of(query)]

    live = products.live_products()
    simulator = ShopperSimulator(judgments, results_of, PriceBands.fit(live), args.shopper_seed)
    by_brand = defaultdict(list)
    for product in live:
        by_brand[product.brand].append(product)
    planned, profiles = [], {}
    for i in range(args.shoppers):
        shopper = simulator.shopper(f"sim-exp-{i}")
        history = simulator.history(shopper, T0, args.history_sessions, by_brand)
        profiles[shopper.user_id] = build_profile(history, catalog, model.bands, now=TEST_START,
                                                  half_life_days=reranker.half_life_days)
        for _ in range(args.sessions_per_shopper):
            typed, judged = simulator.query_of(shopper)
            planned.append(PlannedSession(shopper, typed, judged))
    personalized: dict = {}

    def ranking(variant: str, session: PlannedSession):
        if variant == "control":
            return results_of(session.typed)
        key = (session.shopper.user_id, session.typed)
        if key not in personalized:
            copies = [replace(c) for c in candidates_of(session.typed)]
            reranked = reranker.rerank(session.typed, profiles[session.shopper.user_id], copies, products.product,
                                       catalog)
            personalized[key] = [products.product(c.doc) for c in reranked]
        return personalized[key]

    def plain_only(variant: str, session: PlannedSession):
        return results_of(session.typed)

    def price_of(product_id: str):
        product = products.get(product_id)
        return product.price if product is not None else None

    prepared_s = time.perf_counter() - started
    print(f"prepared {len(planned)} planned sessions of {args.shoppers} SIMULATED shoppers in {prepared_s:.0f} s",
          file=sys.stderr)

    def one_run(kind: str, seed: int, second: dict, rank) -> dict:
        rng = random.Random(seed)
        order = rng.sample(planned, len(planned))
        experiment = experiment_pair(kind, second, seed, args)
        outcome = run(experiment, order, rank, simulator, judgments, price_of, rng, args.look_every, TEST_START)
        body = {"seed": seed, "sessions": outcome.sessions, "shoppers": outcome.units, "winner": outcome.winner,
                "significant": outcome.winner is not None, "z_test_declared": outcome.z_test_declared}
        if kind == "ab":
            comparison = outcome.results["variants"][1]["against_control"]
            body["ctr_relative_difference"] = comparison.get("relative")
            body["p_value"] = comparison.get("p_value")
        else:
            body["click_preference"] = outcome.results["clicks"].get("preference")
            body["p_value"] = outcome.results["clicks"].get("p_value")
        return body

    figures: dict = {"simulated": True, "shoppers": args.shoppers, "planned_sessions": len(planned),
                     "look_every": args.look_every, "alpha": args.alpha, "minimum_effect": args.minimum_effect,
                     "model": model.version, "prepare_seconds": round(prepared_s, 1)}
    for kind in ("ab", "interleaving"):
        runs = [one_run(kind, seed, {"personalization": True}, ranking) for seed in args.seeds]
        found = [r["sessions"] for r in runs if r["winner"] == "treatment"]
        figures[f"{kind}_personalization_on_vs_off"] = {
            "runs": runs, "found_the_better": len(found),
            "median_sessions": statistics.median(found) if found else None}
        print(f"{kind}: {runs}", file=sys.stderr)
    ab, inter = (figures[f"{k}_personalization_on_vs_off"]["median_sessions"] for k in ("ab", "interleaving"))
    figures["ab_sessions_over_interleaving_sessions"] = round(ab / inter, 2) if ab and inter else None
    for kind in ("ab", "interleaving"):
        aa_started = time.perf_counter()
        runs = [one_run(kind, 1000 + run_number, {"personalization": False}, plain_only)
                for run_number in range(args.aa_runs)]
        false = sum(r["significant"] for r in runs)
        peeked = sum(r["z_test_declared"] for r in runs)
        figures[f"{kind}_aa"] = {"runs": len(runs), "sessions_each": max(r["sessions"] for r in runs),
                                 "declared_a_winner": false, "false_positive_rate": false / len(runs),
                                 "fixed_horizon_z_test_read_at_every_look_false_positive_rate": peeked / len(runs),
                                 "seconds": round(time.perf_counter() - aa_started, 1)}
        print(f"{kind} A/A: {figures[f'{kind}_aa']}", file=sys.stderr)
    figures["seconds"] = round(time.perf_counter() - started, 1)
    return emit(figures, args.json)


if __name__ == "__main__":
    sys.exit(main())
