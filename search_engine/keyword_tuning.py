"""Fit the keyword leg's term-centric field weights on a shop's own judgments.

Each candidate setting is a fresh in-memory tantivy index over the serving version's
products (about a second for 20k products); the dense leg is fixed, so every setting is
scored by the hybrid nDCG@10 the engine would serve: linear fusion at the configured dense
weight, of which only the matched set is served (search_engine/matching.py: products
holding every word, as that setting reads them, or at least the dense floor similar). Steepest ascent from the untuned weights (all 1) and the base's attribute length
limit and accent folding: each pass scores every setting one step away (one field's weight
over FIELD_STEPS, the limit over ATTRIBUTE_LIMIT_STEPS, or folding turned over) and moves to
the best, until none helps on the training queries.
"""
from __future__ import annotations

from dataclasses import replace
from typing import Callable, Mapping, Sequence

from indexer.keyword.base import TEXT_FIELDS, KeywordConfig
from indexer.keyword.tantivy_index import TantivyKeywordIndex
from indexer.schema import Product
from search_engine.engine import EngineConfig
from search_engine.fusion_tuning import Leg, fused_ndcg

FIELD_STEPS = (0, 1, 2, 3)
ATTRIBUTE_LIMIT_STEPS = (0, 30, 60, 120)  # characters; 0: every attribute value


def keyword_legs(products: Sequence[Product | None], config: KeywordConfig, queries: Sequence[str],
                 depth: int) -> dict[str, Leg]:
    """Each query's keyword hits and matches over `products` (doc i = products[i]; None: a dead doc)."""
    index = TantivyKeywordIndex.create(None, config)
    live = [(doc, p) for doc, p in enumerate(products) if p is not None]
    index.add([doc for doc, _ in live], [p for _, p in live])
    searcher = index.searcher()
    return {q: Leg(searcher.search(q, depth), frozenset(searcher.matches(q)[0].tolist())) for q in queries}


def hybrid_score(config: KeywordConfig, products, dense: Mapping[str, Leg], judgments,
                 doc_ids: Sequence[str], queries: Sequence[str], dense_weight: float,
                 candidates: int = EngineConfig.candidates) -> float | None:
    """Mean served hybrid nDCG@10 over the queries, each leg read `candidates` deep as the
    engine fuses them; None when no query has a product graded above 0 (nDCG scores none)."""
    queries = scored_queries(judgments, queries)
    keyword = keyword_legs(products, config, queries, candidates)
    return fused_ndcg({q: (dense[q], keyword[q]) for q in queries}, judgments, doc_ids, lambda q: dense_weight)


def scored_queries(judgments, queries: Sequence[str]) -> list[str]:
    """The queries nDCG@10 scores: those with a product graded above 0."""
    return [q for q in queries if any(grade > 0 for grade in judgments[q].values())]


def _neighbours(config: KeywordConfig):
    """Every setting one step away: one field's weight, the attribute length limit, or
    accent folding."""
    for name in TEXT_FIELDS:
        for step in FIELD_STEPS:
            weights = {**config.field_weights, name: step}
            if step != config.field_weights.get(name) and any(weights.values()):
                yield replace(config, field_weights=weights)
    for limit in ATTRIBUTE_LIMIT_STEPS:
        if limit != config.attribute_max_chars:
            yield replace(config, attribute_max_chars=limit)
    yield replace(config, fold_accents=not config.fold_accents)


def fit_keyword_config(products, dense: Mapping[str, Leg], judgments, doc_ids: Sequence[str],
                       queries: Sequence[str], dense_weight: float, base: KeywordConfig | None = None,
                       progress: Callable[[str], None] = lambda line: None,
                       candidates: int = EngineConfig.candidates) -> tuple[KeywordConfig, float]:
    """The term-centric weights, attribute limit and folding with the best hybrid nDCG@10 on `queries`
    (other settings as in `base`; hybrid_score's `candidates`), and that score."""
    queries = scored_queries(judgments, queries)
    if not queries:
        raise ValueError("nothing to fit the keyword weights on: no query has a product graded above 0")
    config = replace(base or KeywordConfig(), scoring="term-centric")
    best_score = hybrid_score(config, products, dense, judgments, doc_ids, queries, dense_weight, candidates)
    improved = True
    while improved:
        improved = False
        for trial in list(_neighbours(config)):  # the neighbours of the pass's starting point
            score = hybrid_score(trial, products, dense, judgments, doc_ids, queries, dense_weight, candidates)
            if score > best_score + 1e-6:
                config, best_score, improved = trial, score, True
                progress(f"{trial.field_weights}, attributes up to {trial.attribute_max_chars} chars, accents "
                         f"{'folded' if trial.fold_accents else 'kept'} -> {score:.4f}")
    return config, best_score
