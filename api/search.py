"""GET /search: shoppers' queries."""
from __future__ import annotations

import time

from flask import Blueprint, jsonify, request

from api.engine_holder import current_engine
from api.params import query_from
from api.serialize import result_json

bp = Blueprint("search", __name__)


@bp.get("/search")
def search():
    query = query_from(request.args)
    engine = current_engine()
    started = time.perf_counter()
    result = engine.search(query)
    body = result_json(result, {"method": engine.config.fusion, "dense_weight": engine.config.dense_weight,
                                "rrf_k": engine.config.rrf_k})
    body["took_ms"] = round((time.perf_counter() - started) * 1000, 3)
    return jsonify(body)
