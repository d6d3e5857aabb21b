"""GET /search: shoppers' queries."""
from __future__ import annotations

import time
import uuid

from flask import Blueprint, current_app, jsonify, request

from api.engine_holder import current_engine
from api.events import event_store
from api.params import bool_param, checked_against, field_error, query_from
from api.serialize import fusion_json, highlight_json, result_json
from indexer.keyword.factory import keyword_config
from search_engine.experiments.serving import serve
from search_engine.highlight import QueryMatcher
from search_engine.results_page import FieldError
from search_engine.types import Event

bp = Blueprint("search", __name__)


@bp.get("/search")
def search():
    serving = current_engine()
    query = checked_against(query_from(request.args), request.args, serving.index.products.attributes)
    highlight = bool_param(request.args, "highlight")
    session = query.session
    experiment = current_app.extensions["experiments"].running(time.time())
    started = time.perf_counter()
    try:
        served = serve(serving, query, session, experiment, current_app.extensions["variant_engines"])
    except FieldError as exc:  # the serving version changed to one without that attribute meanwhile
        raise field_error(exc) from None
    result, engine = served.result, served.engine
    body = result_json(result, fusion_json(engine.config))
    if served.variant is not None:
        body["experiment"] = {"id": experiment.id, "variant": served.variant}
    if highlight:  # query words' stems, and in titles the keyword leg's typo distance (search_engine/highlight.py)
        matcher = QueryMatcher.of(result.corrected_query or query.text, keyword_config(engine.index.manifest))
        for item, hit in zip(body["results"], result.hits):
            item["highlight"] = highlight_json(hit.product, matcher)
    body["took_ms"] = round((time.perf_counter() - started) * 1000, 3)
    unit = query.user or session
    if unit and (current_app.config["SETTINGS"].log_searches or served.enrolled):
        # What a shopper was shown is what the preference model and the experiments learn
        # from (an experiment's shoppers' searches always: its results are counted from
        # them); an anonymous shopper's searches are logged under their session.
        body["search_id"] = uuid.uuid4().hex
        event_store().add([Event(user_id=unit, session_id=query.visit, timestamp=time.time(), type="search",
                                 query=query.text, search_id=body["search_id"], position=query.offset + 1,
                                 shown=tuple(hit.product.id for hit in result.hits),
                                 experiment=None if served.variant is None else str(experiment.id),
                                 variant=served.variant, teams=served.teams)], durable=False)
    return jsonify(body)
