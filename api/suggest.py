"""GET /suggest: completions as the shopper types, with products and categories to jump to."""
from __future__ import annotations

import time

from flask import Blueprint, current_app, jsonify, request

from api.engine_holder import current_engine
from api.errors import ApiError
from api.params import int_param
from api.serialize import product_json
from search_engine.suggest.suggester import DEFAULT_CATEGORIES, DEFAULT_COUNT, DEFAULT_PRODUCTS, MAX_PREFIX_CHARACTERS

bp = Blueprint("suggest", __name__)
MAX_SUGGESTIONS = 20
MAX_LEADS = 10  # products or categories shown beside the completions


@bp.get("/suggest")
def suggest():
    prefix = request.args.get("q")
    if prefix is None or not prefix.strip():
        raise ApiError("q is required: what the shopper has typed so far", parameter="q")
    if len(prefix) > MAX_PREFIX_CHARACTERS:
        raise ApiError(f"q must be at most {MAX_PREFIX_CHARACTERS} characters, got {len(prefix)}", parameter="q")
    count = int_param(request.args, "k", DEFAULT_COUNT, 1, MAX_SUGGESTIONS)
    products = int_param(request.args, "products", DEFAULT_PRODUCTS, 0, MAX_LEADS)
    categories = int_param(request.args, "categories", DEFAULT_CATEGORIES, 0, MAX_LEADS)
    started = time.perf_counter()
    result = current_app.extensions["suggestions"].suggest(current_engine(), prefix.lstrip(), count, products,
                                                           categories)
    return jsonify({
        "q": prefix,
        "suggestions": [{"text": s.text, "score": round(s.score, 4), "typos": s.typos, "pinned": s.pinned,
                         "searches_score": round(s.searches_score, 4), "catalog_products": s.catalog_products}
                        for s in result.suggestions],
        "leads_to": result.leads_to,
        "products": [product_json(p) for p in result.products],
        "categories": [{"value": value, "count": count} for value, count in result.categories],
        "version": result.version,
        "took_ms": round((time.perf_counter() - started) * 1000, 3),
    })
