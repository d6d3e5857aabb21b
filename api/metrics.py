"""GET /metrics: the server's operational metrics for Prometheus (prometheus_client).

Per request (hooks on every endpoint): a count by endpoint, method and status, and a latency
histogram by endpoint, method and mode (for /search; "" elsewhere), labelled by the route's
rule ("/products/<product_id:product_id>"), never by the raw path, so the label sets stay bounded.
At scrape time, from this worker's state: the serving index version, the update lag (changes
logged to the serving version but not yet in its snapshot), live products, and the event
store's size (events and bytes on disk).

With several gunicorn workers, search-serve points PROMETHEUS_MULTIPROC_DIR at a fresh
folder before they fork; the counters and histograms of every worker are then summed here
(prometheus_client's multiprocess mode), whichever worker answers the scrape.
"""
from __future__ import annotations

import os
import time
from pathlib import Path

from flask import Blueprint, Flask, Response, current_app, g, request
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily, InfoMetricFamily

from indexer import update_log
from search_engine.types import MODES

bp = Blueprint("metrics", __name__)
MULTIPROCESS_DIR = "PROMETHEUS_MULTIPROC_DIR"
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})

REQUESTS = Counter("search_http_requests", "HTTP requests answered", ["endpoint", "method", "status"])
LATENCY = Histogram("search_http_request_duration_seconds", "Time to answer an HTTP request",
                    ["endpoint", "method", "mode"],
                    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0))
ERRORS = Counter("search_http_errors", "HTTP requests answered with a server error (5xx)", ["endpoint"])


def init_app(app: Flask) -> None:
    app.before_request(_started)
    app.after_request(_measured)


def _started() -> None:
    g.metrics_started = time.perf_counter()


def _measured(response):
    started = g.get("metrics_started")
    if started is None:
        return response
    endpoint = request.url_rule.rule if request.url_rule is not None else "unmatched"
    mode = ""
    if endpoint == "/search":
        asked = request.args.get("mode", "hybrid")
        mode = asked if asked in MODES else "invalid"
    method = request.method if request.method in METHODS else "other"  # an invented method is no new series
    LATENCY.labels(endpoint, method, mode).observe(time.perf_counter() - started)
    REQUESTS.labels(endpoint, method, str(response.status_code)).inc()
    if response.status_code >= 500:
        ERRORS.labels(endpoint).inc()
    return response


class ServingState:
    """Gauges read when scraped: what this worker serves and how far behind it is."""

    def __init__(self, app: Flask):
        self.app = app

    def collect(self):
        from api.engine_holder import live_engine
        from api.events import event_store

        with self.app.app_context():
            index = live_engine().get().index
            snapshot = index.snapshot()
            store = event_store()
            version = InfoMetricFamily("search_index", "The index version this worker serves")
            version.add_metric([], {"version": snapshot.version})
            yield version
            yield GaugeMetricFamily("search_index_products", "Live products in the serving snapshot",
                                    value=len(snapshot.products))
            yield GaugeMetricFamily("search_index_update_lag", "Changes logged to the serving version that its "
                                    "snapshot does not hold yet",
                                    value=max(update_log.last_seq(index.directory) - snapshot.seq, 0))
            yield GaugeMetricFamily("search_events_stored", "Events in the event store", value=store.count())
            size = sum(p.stat().st_size for p in Path(store.path).parent.glob(Path(store.path).name + "*"))
            yield GaugeMetricFamily("search_events_store_bytes", "The event store's files on disk", value=size)


@bp.get("/metrics")
def metrics():
    registry = CollectorRegistry()
    if os.environ.get(MULTIPROCESS_DIR):
        from prometheus_client import multiprocess

        multiprocess.MultiProcessCollector(registry)  # every worker's counters and histograms
        requests_text = generate_latest(registry)
    else:
        from prometheus_client import REGISTRY

        requests_text = generate_latest(REGISTRY)
    state = CollectorRegistry()
    state.register(ServingState(current_app._get_current_object()))
    return Response(requests_text + generate_latest(state), mimetype=CONTENT_TYPE_LATEST)
