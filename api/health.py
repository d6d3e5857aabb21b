"""GET /health: what is being served."""
from __future__ import annotations

from flask import Blueprint, jsonify

from api.engine_holder import current_engine

bp = Blueprint("health", __name__)


@bp.get("/health")
def health():
    engine = current_engine()
    snapshot = engine.index.snapshot()
    return jsonify({
        "status": "ok",
        "index_version": snapshot.version,
        "product_count": len(snapshot.products),
        "update_seq": snapshot.seq,
        "model": {
            "query_tower": engine.towers.query.name,
            "product_tower": engine.towers.product.name,
            "product_tower_fingerprint": engine.towers.product.fingerprint,
        },
        "vector_index": {"kind": snapshot.vectors.kind, "gpu": snapshot.vectors.on_gpu},
        "fusion": {"method": engine.config.fusion, "dense_weight": engine.config.dense_weight},
    })
