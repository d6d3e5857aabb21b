"""POST /events: shoppers' events, stored durably before the response says so."""
from __future__ import annotations

from flask import Blueprint, current_app, jsonify, request

from api.engine_holder import current_engine
from api.errors import ApiError
from api.params import bool_param, json_body
from search_engine.events import EventError, parse_event, unknown_products

bp = Blueprint("events", __name__)
EXTENSION = "event_store"
MAX_BATCH = 1000


def init_app(app, store) -> None:
    app.extensions[EXTENSION] = store


def event_store():
    return current_app.extensions[EXTENSION]


@bp.post("/events")
def post_events():
    """Body: {"events": [...]} or a bare list. The batch is stored whole or not at all.

    A product id the catalog does not know rejects the batch (each one is listed), unless
    ?skip_unknown=true, which stores the rest and lists what it skipped.
    """
    body = json_body()
    raw = body.get("events") if isinstance(body, dict) else body
    if not isinstance(raw, list) or not raw:
        raise ApiError('the body must be JSON: {"events": [event, ...]} with at least one event', parameter="events")
    if len(raw) > MAX_BATCH:
        raise ApiError(f"at most {MAX_BATCH} events per request, got {len(raw)}", parameter="events")
    events, problems = [], []
    for i, item in enumerate(raw):
        try:
            events.append(parse_event(item, i))
        except EventError as exc:
            problems.append({"index": i, "field": exc.field, "message": exc.reason})
    if problems:
        first = problems[0]
        raise ApiError(f"{len(problems)} invalid event(s); first: event {first['index']}, "
                       f"{first['field']} {first['message']}", parameter=first["field"], details=problems)
    products = current_engine().index.products
    missing = unknown_products(events, lambda pid: products.get(pid) is not None)
    skip = bool_param(request.args, "skip_unknown")
    if missing and not skip:
        raise ApiError(f"{len(missing)} unknown product id(s); first: event {missing[0][0]}, {missing[0][1]!r} "
                       "(nothing was stored; pass skip_unknown=true to store the rest)", parameter="product_id",
                       details=[{"index": i, "field": "product_id", "message": f"unknown product {pid!r}"}
                                for i, pid in missing])
    bad = {i for i, _ in missing}
    keep = [e for i, e in enumerate(events) if i not in bad]
    stored = event_store().add(keep) if keep else 0
    return jsonify({"stored": stored, "skipped": [{"index": i, "product_id": pid} for i, pid in missing]}), 201
