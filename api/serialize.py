"""SearchResult and Hits to JSON-ready dicts."""
from __future__ import annotations

from indexer.schema import Product
from search_engine.engine import EngineConfig
from search_engine.highlight import SCAN_CHARS, QueryMatcher, highlight_title, snippet
from search_engine.types import Hit, RangeFacet, SearchResult, ValueFacet


def product_json(product: Product) -> dict:
    return product.to_dict()


def hit_json(hit: Hit, rank: int, explain: bool) -> dict:
    product = hit.product
    body = {
        "rank": rank,
        "id": product.id,
        "title": product.title,
        "brand": product.brand,
        "category": product.category,
        "price": product.price,
        "score": round(hit.score, 6),
    }
    if explain:
        c = hit.candidate
        body["explain"] = {
            "dense": {"score": c.dense_score, "rank": c.dense_rank},
            "keyword": {"score": c.keyword_score, "rank": c.keyword_rank},
            "fused": {"score": c.fused_score, "rank": c.fused_rank},
        }
        if c.relevance_score is not None:
            body["explain"]["relevance"] = {"score": c.relevance_score, "rank": c.relevance_rank,
                                            "contributions": c.relevance_contributions}
        if c.personal_score is not None:
            body["explain"]["personalization"] = {"score": c.personal_score, "contributions": c.contributions,
                                                  "confidence": c.personal_confidence, "tastes": c.tastes}
        if c.merchandising:
            body["explain"]["merchandising"] = c.merchandising
    return body


def highlight_json(product: Product, matcher: QueryMatcher) -> dict:
    """HTML, safe to insert: the title and a description snippet, matches in <em>, the rest escaped."""
    own = matcher.for_product(product.title, product.description[:SCAN_CHARS])
    return {"title": highlight_title(product.title, own), "description": snippet(product.description, own)}


def facet_json(facet: ValueFacet | RangeFacet) -> dict:
    if isinstance(facet, ValueFacet):
        return {"type": "values", "values": [{"value": v, "count": n} for v, n in facet.values],
                "other_values": facet.other_values}
    return {"type": "range", "min": facet.min, "max": facet.max, "missing": facet.missing, "below": facet.below,
            "buckets": [{"from": low, "to": high, "count": n} for low, high, n in facet.buckets]}


def filters_json(filters) -> dict:
    body = {"brand": list(filters.brands), "category": list(filters.categories),
            "price_min": filters.price_min, "price_max": filters.price_max}
    for name, values in filters.attributes:
        body[f"attr.{name}"] = list(values)
    for name, low, high in filters.ranges:
        body[f"attr.{name}_min"], body[f"attr.{name}_max"] = low, high
    return body


def fusion_json(config: EngineConfig) -> dict:
    """The fusion settings a result was ranked with, as explain shows them."""
    return {"method": config.fusion, "dense_weight": config.dense_weight, "rrf_k": config.rrf_k}


def result_json(result: SearchResult, fusion: dict) -> dict:
    query = result.query
    body = {
        "query": query.text,
        "mode": query.mode,
        "k": query.k,
        "offset": query.offset,
        "total": result.total,
        "match": result.match,
        "corrected_query": result.corrected_query,
        "did_you_mean": result.did_you_mean,
        "relaxed": list(result.relaxed),
        "sort": query.sort,
        "index_version": result.index_version,
        "user": query.user,
        "personalized_by": result.personalized_by,
        "ranked_by": result.ranked_by,
        "results": [hit_json(h, query.offset + i, query.explain) for i, h in enumerate(result.hits, start=1)],
    }
    body["filters"] = filters_json(query.filters)
    if query.facets.names:
        body["facets"] = {facet.name: facet_json(facet) for facet in result.facets}
    if query.explain:
        body["explain"] = {"fusion": fusion if query.mode == "hybrid" else None,
                           "understood": result.understood,
                           "synonyms": list(result.synonyms),
                           "timings_ms": {k: round(v, 3) for k, v in result.timings_ms.items()}}
    return body
