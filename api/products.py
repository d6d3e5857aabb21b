"""GET /products/<id> and GET /products/<id>/similar."""
from __future__ import annotations

from flask import Blueprint, jsonify, request

from api.engine_holder import current_engine
from api.errors import ApiError
from api.params import MAX_K, int_param
from api.serialize import hit_json, product_json

bp = Blueprint("products", __name__)


def _product_or_404(product_id: str):
    product = current_engine().index.products.get(product_id)
    if product is None:
        raise ApiError(f"no product with id {product_id!r}", status=404, parameter="id")
    return product


@bp.get("/products/<product_id:product_id>")
def product(product_id: str):
    return jsonify(product_json(_product_or_404(product_id)))


@bp.get("/products/<product_id:product_id>/similar")
def similar(product_id: str):
    _product_or_404(product_id)
    k = int_param(request.args, "k", 10, 1, MAX_K)
    hits = current_engine().similar(product_id, k)
    return jsonify({"id": product_id, "results": [hit_json(h, i, False) for i, h in enumerate(hits, 1)]})
