"""GET /health: what is being served."""
from __future__ import annotations

from flask import Blueprint, jsonify

from api.engine_holder import current_engine

bp = Blueprint("health", __name__)


@bp.get("/health")
def health():
    engine = current_engine()
    index = engine.index
    return jsonify({
        "status": "ok",
        "index_version": index.version,
        "product_count": len(index.products),
        "model": {
            "query_tower": engine.towers.query.name,
            "product_tower": engine.towers.product.name,
            "product_tower_fingerprint": engine.towers.product.fingerprint,
        },
        "vector_index": {"kind": index.vectors.config.kind, "gpu": index.vectors.on_gpu},
        "fusion": {"method": engine.config.fusion, "dense_weight": engine.config.dense_weight},
    })
