"""What query understanding and the learned relevance ranker add to a search, in process.

Runs the judged queries through one engine with and without the ranker, alternating query by
query so both see the same machine load, with the query vectors cached (both pay the same
transformer call; this measures the added stage). Reports p50/p99 of the whole search, of the
relevance stage (query understanding, features, LightGBM) and of query understanding alone
over --rounds passes.

Example:
  search-bench-ranker --index var/index --ranker var/rankers --rounds 5
"""
from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from dataclasses import replace
from functools import partial

import numpy as np

from scripts.common import ICECAT_JUDGMENTS, emit, percentiles as shared_percentiles, setup_logging

percentiles = partial(shared_percentiles, points=(50, 99), digits=3)  # this benchmark's figures' shape


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="search-bench-ranker", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--index", default="var/index")
    parser.add_argument("--ranker", required=True, help="a ranker folder (search-train ranker --output)")
    parser.add_argument("--judgments", default=str(ICECAT_JUDGMENTS), help="its queries are the workload")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--json")
    args = parser.parse_args(argv)
    setup_logging()

    from search_engine.factory import open_engine
    from search_engine.judgments import load_judgments
    from search_engine.settings import load_settings
    from search_engine.types import Query
    from search_engine.understanding.analysis import analyze

    queries = list(load_judgments(args.judgments))
    ranked = open_engine(load_settings(index_root=args.index, ranker_path=args.ranker))
    plain = replace(ranked, ranker=None)
    for text in queries:  # warm: query vectors cached, vocabulary built, code paths loaded
        ranked.search(Query(text))
        plain.search(Query(text))
    totals: dict[str, list[float]] = {"without ranker": [], "with ranker": []}
    stages: dict[str, list[float]] = {"relevance": [], "of which query understanding": []}
    vocabulary = ranked.vocabulary.get()
    for _ in range(args.rounds):
        for text in queries:
            for name, engine in (("without ranker", plain), ("with ranker", ranked)):
                started = time.perf_counter()
                result = engine.search(Query(text))
                totals[name].append((time.perf_counter() - started) * 1000)
                if engine is ranked:
                    stages["relevance"].append(result.timings_ms["relevance"])
            started = time.perf_counter()
            analyze(text, ranked.query_vectors(text), vocabulary)
            stages["of which query understanding"].append((time.perf_counter() - started) * 1000)
    figures = {
        "machine": f"{platform.node()} ({platform.processor() or platform.machine()}), "
                   f"{len(os.sched_getaffinity(0))} cores",
        "command": "search-bench-ranker " + " ".join(sys.argv[1:] if argv is None else argv),
        "date": time.strftime("%Y-%m-%d"),
        "searches": len(totals["with ranker"]),
        "search_ms": {name: percentiles(values) for name, values in totals.items()},
        "stage_ms": {name: percentiles(values) for name, values in stages.items()},
        "added_p50_ms": round(float(np.percentile(totals["with ranker"], 50) - np.percentile(totals["without ranker"], 50)), 3),
    }
    return emit(figures, args.json)


if __name__ == "__main__":
    sys.exit(main())
