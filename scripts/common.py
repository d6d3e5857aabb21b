"""Shared bits of the command-line edges: repo paths, catalog loading, logging."""
from __future__ import annotations

import gc
import logging
import sys
import time
from contextlib import contextmanager
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
ICECAT_DIR = REPO_ROOT / "data" / "icecat"
ICECAT_JUDGMENTS = ICECAT_DIR / "Broad_Query_Set_rated.csv"
SIMULATION_START = 1788220800.0  # 2026-09-01T00:00:00Z: simulated logs (search-personalize, search-recommend) start here


def percentiles(values, points=(50, 95, 99), digits: int = 2, key: str = "p{}") -> dict:
    """{key.format(p): the p-th percentile} of a benchmark's timings, rounded; None for each
    when there are none."""
    import numpy as np

    ms = np.asarray(values, dtype=float)
    return {key.format(p): round(float(np.percentile(ms, p)), digits) if len(ms) else None for p in points}


@contextmanager
def full_collections():
    """Yields a list that, on exit, holds the ms of each full (generation 2) garbage
    collection made meanwhile: each one stalls every thread of the process."""
    pauses: list[float] = []
    started = [0.0]

    def watch(phase, info):
        if info["generation"] == 2:
            if phase == "start":
                started[0] = time.perf_counter()
            else:
                pauses.append(round((time.perf_counter() - started[0]) * 1000, 1))

    gc.callbacks.append(watch)
    try:
        yield pauses
    finally:
        gc.callbacks.remove(watch)


def check_judgments(judgments, products, source) -> None:
    """A judgment list against the index it measures (search_engine.judgments.check_judged_products):
    another catalog's list is refused (ValueError), one mostly for other products warned about."""
    from search_engine.judgments import check_judged_products

    warning = check_judged_products(judgments, lambda product_id: products.get(product_id) is not None, str(source))
    if warning:
        print(f"warning: {warning}", file=sys.stderr)


def emit(figures: dict, json_path: str | None) -> int:
    """A benchmark's figures on stdout as JSON, and in json_path when given; exit status 0."""
    import json

    text = json.dumps(figures, indent=2)
    print(text)
    if json_path:
        Path(json_path).write_text(text)
    return 0


def setup_logging(verbose: bool = False) -> None:
    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr)


def load_report(catalog: str | None, icecat: str | None, skip_invalid: bool):
    """The validation report of --catalog FILE or --icecat DIR (the bundled Icecat by default)."""
    from indexer.icecat import load_icecat
    from indexer.loaders import load_catalog

    if catalog:
        return load_catalog(catalog, skip_invalid=skip_invalid)
    return load_icecat(icecat or ICECAT_DIR, skip_invalid=skip_invalid)


def read_catalog(catalog: str | None, icecat: str | None, skip_invalid: bool, limit: int | None = None):
    """The validation report of --catalog FILE or --icecat DIR, its skipped rows and unread fields printed,
    its products (and their rows) cut to the first `limit`."""
    report = load_report(catalog, icecat, skip_invalid)
    if report.errors or report.ignored_fields:
        print((f"skipped {report.rows_skipped} invalid rows:\n" if report.errors else "") + report.summary(),
              file=sys.stderr)
    return report.limited(limit)


def add_catalog_arguments(parser) -> None:
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--catalog", help="catalog file: .jsonl, .csv, .tsv or .parquet (optionally .gz); CSV separated by , ; or tab")
    source.add_argument("--icecat", help=f"an Icecat folder of *.json.zip files (default: {ICECAT_DIR} "
                                         "when --catalog is not given)")
    parser.add_argument("--skip-invalid", action="store_true",
                        help="skip invalid rows (they are still listed) instead of failing")
    parser.add_argument("--limit", type=int, help="index only the first N products (quick trials)")
