"""Run named configurations over a judgment list and print one table (nDCG@10, Recall@100, MRR,
nDCG@10 over the judged products only, Judged@10).

Configurations: keyword, dense, hybrid-rrf, hybrid-linear[:dense_weight]; a hybrid one with
+ranker runs the learned relevance ranker over its candidates (--ranker or ranker_path).
Metrics (search_engine/metrics.py): gain = the 0-3 rating, unjudged products count 0, ideal
order from the judged products; Recall@100 and MRR count ratings >= 2 as relevant; "judged
only" leaves the unjudged products out of the list, and Judged@10 is the share of the top 10
that are judged (low: judge more before trusting the rest).

--unjudged FILE writes the products some configuration puts in its top 10 that nobody judged
for the query (query,docid,rating,title,found_by; rating left empty): grade them 0-3, then
import the file in the workbench or add its rows to the judgment list, and evaluate again.

--misspell SEED also runs every configuration on the same queries misspelt by the seeded
typo generator (search_engine/typos.py: one edit in one or two words) and reports how much
of the clean nDCG@10 each keeps. --events FILE gives spelling correction a search history
(a JSONL event log) to prefer what shoppers searched, as a server does from its event store.

Examples:
  search-evaluate --index var/index --judgments data/icecat/Broad_Query_Set_rated.csv
  search-evaluate --index var/index --config hybrid-linear:0.4 --misspell 7
  search-evaluate --index var/index --config keyword --config hybrid-linear:0.4 --unjudged var/to-judge.csv
  search-evaluate --config hybrid-linear:0.4 --misspell 7 --events var/sim-ranker/train-events.jsonl
"""
from __future__ import annotations

import argparse
import json
import sys

from scripts.common import ICECAT_JUDGMENTS, check_judgments, setup_logging


def parse_args(argv=None):
    parser = argparse.ArgumentParser(prog="search-evaluate", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--index", default="var/index", help="index root folder (default: var/index)")
    parser.add_argument("--judgments", default=str(ICECAT_JUDGMENTS),
                        help="CSV with query,docid,rating (default: the bundled Icecat judgments)")
    parser.add_argument("--config", action="append", dest="configurations", metavar="NAME",
                        help="a configuration to run (repeatable; default: keyword, dense, hybrid-rrf, "
                             "hybrid-linear at 0.3-0.6); add +ranker for the learned relevance ranker")
    parser.add_argument("--model", default=None, help="query tower (default: the packaged MiniLM)")
    parser.add_argument("--ranker", default=None,
                        help="a relevance ranker folder (default: the ranker_path setting); "
                             "configurations ending in +ranker use it, e.g. --config hybrid-linear:0.4+ranker")
    parser.add_argument("--per-query", metavar="FILE", help="also write per-query scores as JSON")
    parser.add_argument("--unjudged", metavar="FILE",
                        help="also write the unjudged products of every configuration's top 10, to grade (CSV)")
    parser.add_argument("--misspell", type=int, metavar="SEED",
                        help="also evaluate the queries misspelt with this seed (search_engine/typos.py)")
    parser.add_argument("--events", metavar="FILE",
                        help="a JSONL event log whose searches spelling correction prefers (say if it is simulated)")
    parser.add_argument("-v", "--verbose", action="store_true")
    return parser.parse_args(argv)


def with_search_history(engine, path: str):
    """The engine correcting spelling toward the searches of an event log."""
    from dataclasses import replace

    from search_engine.events import read_jsonl_events
    from search_engine.settings import load_settings
    from search_engine.suggest.popularity import QueryLog

    log = QueryLog()
    log.add(read_jsonl_events(path))
    popular = log.ranked(load_settings().query_scoring())
    return replace(engine, popular_queries=lambda: popular)


def print_changes(results, shown: int = 5) -> None:
    """With two configurations: the queries the second one helped and hurt most (nDCG@10)."""
    from search_engine.evaluation import query_changes

    changes = query_changes(*results)
    better = [c for c in changes if c.delta > 0]
    worse = [c for c in reversed(changes) if c.delta < 0]
    names = f"{results[1].configuration.name} against {results[0].configuration.name}"
    for title, picked in (("better", better), ("worse", worse)):
        print(f"\n{title} with {names}: {len(picked)} queries")
        for change in picked[:shown]:
            print(f"  {change.delta:+.4f}  {change.query}  ({change.before or 0:.4f} -> {change.after or 0:.4f})")


def main(argv=None) -> int:
    args = parse_args(argv)
    setup_logging(args.verbose)
    from search_engine.evaluation import DEFAULT_CONFIGURATIONS, Configuration, evaluate, format_table
    from search_engine.factory import open_engine
    from search_engine.judgments import load_judgments
    from search_engine.settings import load_settings

    try:
        configurations = ([Configuration.parse(c) for c in args.configurations]
                          if args.configurations else DEFAULT_CONFIGURATIONS)
        judgments = load_judgments(args.judgments)
        engine = open_engine(load_settings(index_root=args.index, model=args.model, ranker_path=args.ranker))
        check_judgments(judgments, engine.index.products, args.judgments)
        if args.events:
            engine = with_search_history(engine, args.events)
    except (ValueError, FileNotFoundError) as exc:
        print(f"search-evaluate: {exc}", file=sys.stderr)
        return 2
    try:
        results = evaluate(engine, judgments, configurations)
    except ValueError as exc:  # a +ranker configuration without a ranker
        print(f"search-evaluate: {exc}", file=sys.stderr)
        return 2
    scored = sum(scores["ndcg@10"] is not None for scores in results[0].per_query.values())
    unscored = len(judgments) - scored
    print(f"{len(judgments)} queries" + (f" ({unscored} with no product graded above 0 have no nDCG@10 and are left "
                                         f"out of the means)" if unscored else "")
          + f", index {engine.index.version} ({len(engine.index.products)} products)")
    print(format_table(results))
    if len(results) == 2:
        print_changes(results)
    if args.misspell is not None:
        print_misspelt(engine, judgments, configurations, results, args.misspell)
    if args.per_query:
        with open(args.per_query, "w") as out:
            json.dump({r.configuration.name: r.per_query for r in results}, out, indent=1)
    if args.unjudged:
        write_unjudged(args.unjudged, results, judgments, engine.index.products)
    return 0


def write_unjudged(path: str, results, judgments, products) -> None:
    """The pool to judge next as a judgment-list CSV whose ratings are left to fill in."""
    import csv

    from search_engine.evaluation import POOL_DEPTH, unjudged_rows

    rows = unjudged_rows(results, judgments, products)
    with open(path, "w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["query", "docid", "rating", "title", "found_by"])
        writer.writerows([row["query"], row["product_id"], "", row["title"], " ".join(row["found_by"])] for row in rows)
    queries = len({row["query"] for row in rows})
    print(f"\nwrote {len(rows)} unjudged products from the top {POOL_DEPTH} of {queries} queries to {path}: grade each "
          f"0-3 in its rating column, then import the file (workbench) or add its rows to the judgment list")


def print_misspelt(engine, judgments, configurations, clean, seed: int) -> None:
    from search_engine.evaluation import evaluate, figure
    from search_engine.typos import misspelled_judgments

    typos = misspelled_judgments(judgments, seed)
    misspelt = {typo: grades for typo, (_, grades) in typos.items()}
    as_typed = evaluate(engine, misspelt, configurations, correct_spelling=False)
    corrected = evaluate(engine, misspelt, configurations)
    print(f"\nthe same {len(typos)} queries misspelt (seed {seed}; e.g. "
          + ", ".join(f"{q!r} -> {t!r}" for t, (q, _) in list(typos.items())[:3]) + ")")
    print("configuration | nDCG@10 clean | misspelt, as typed (correct=false) | kept | misspelt, corrected | kept")
    for before, typed, fixed in zip(clean, as_typed, corrected):
        a, b, c = (r.summary()["ndcg@10"] for r in (before, typed, fixed))
        kept = [f"{x / a:.1%}" if a and x is not None else "-" for x in (b, c)]
        print(f"{before.configuration.name} | {figure(a)} | {figure(b)} | {kept[0]} | {figure(c)} | {kept[1]}")
