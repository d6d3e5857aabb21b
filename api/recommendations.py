"""Recommendations without a query: GET /recommendations/for-you, GET /recommendations/trending,
GET /products/<id>/bought-together. Each takes k, explain and the search filters (brand,
category, price_min/max, attr.<name>)."""
from __future__ import annotations

import time

from flask import Blueprint, current_app, jsonify, request

from api.engine_holder import current_engine
from api.errors import ApiError
from api.params import MAX_K, attribute_parameters, bool_param, field_error, filters_from, int_param
from search_engine.recommend.live import Recommended
from search_engine.recommend.recommender import UnknownProductError
from search_engine.results_page import FieldError, check_attribute_parameter

bp = Blueprint("recommendations", __name__)
DEFAULT_K = 10
MAX_USER_CHARACTERS = 200


def _recommendations():
    return current_app.extensions["recommendations"]


def _filters(engine):
    try:
        for parameter in attribute_parameters(request.args):
            check_attribute_parameter(parameter, engine.index.products.attributes)
    except FieldError as exc:
        raise field_error(exc) from None
    return filters_from(request.args)


def _answer(recommended: Recommended, started: float, **head) -> dict:
    explain = bool_param(request.args, "explain")
    results = []
    for rank, item in enumerate(recommended.items, start=1):
        product = item.product
        body = {"rank": rank, "id": product.id, "title": product.title, "brand": product.brand,
                "category": product.category, "price": product.price, "score": round(item.score, 6)}
        if explain:
            body["explain"] = {"reasons": item.reasons}
        results.append(body)
    return jsonify({**head, "source": recommended.source, "results": results, "version": recommended.version,
                    "took_ms": round((time.perf_counter() - started) * 1000, 3)})


@bp.get("/recommendations/for-you")
def for_you():
    """A known shopper's recommendations from their history; trending for anyone else."""
    started = time.perf_counter()
    user = (request.args.get("user") or "").strip() or None
    if user and len(user) > MAX_USER_CHARACTERS:
        raise ApiError(f"user must be at most {MAX_USER_CHARACTERS} characters, got {len(user)}", parameter="user")
    k = int_param(request.args, "k", DEFAULT_K, 1, MAX_K)
    engine = current_engine()
    recommended = _recommendations().for_you(engine, user, k, _filters(engine))
    return _answer(recommended, started, user=user)


@bp.get("/recommendations/trending")
def trending():
    started = time.perf_counter()
    k = int_param(request.args, "k", DEFAULT_K, 1, MAX_K)
    engine = current_engine()
    return _answer(_recommendations().trending(engine, k, _filters(engine)), started)


@bp.get("/products/<product_id:product_id>/bought-together")
def bought_together(product_id: str):
    started = time.perf_counter()
    k = int_param(request.args, "k", DEFAULT_K, 1, MAX_K)
    engine = current_engine()
    filters = _filters(engine)
    try:
        recommended = _recommendations().bought_together(engine, product_id, k, filters)
    except UnknownProductError:
        raise ApiError(f"no product with id {product_id!r}", status=404, parameter="id") from None
    return _answer(recommended, started, id=product_id)
