"""Training pairs for the towers: from judgments, click logs and the catalog itself.

- Judged pairs: every product graded 2 or 3 for a query is a positive.
- Click-log pairs (optional): a click, add-to-cart or purchase after a search is a positive.
- Hard negatives: mined from the current index, the keyword and dense top results for the
  query that are judged 0 first, then unjudged products ranked below the top 10 (presumed
  irrelevant: the top of an unjudged list is too often relevant). A product judged 1 or
  more, or clicked for the query, is never a negative.
- Synthetic pairs: queries made from the catalog (category; brand + category; model code;
  brand + model code), with the product as positive, so the towers learn the shop's
  vocabulary (its categories, brands and codes) without human labels.
"""
from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Iterable, Sequence

from encoders.product_text import product_text
from encoders.training import TrainingPair
from indexer.product_store import ProductStore
from indexer.schema import Product
from search_engine.engine import Engine
from search_engine.judgments import Judgments
from search_engine.metrics import RELEVANT_GRADE
from search_engine.splits import query_group_key
from search_engine.types import Query

POSITIVE_EVENTS = ("click", "add_to_cart", "purchase")


def mine_hard_negatives(engine: Engine, judgments: Judgments, queries: Iterable[str], depth: int = 30,
                        per_query: int = 10, known_positives: dict[str, set[str]] | None = None
                        ) -> dict[str, list[str]]:
    known_positives = known_positives or {}
    negatives: dict[str, list[str]] = {}
    for query in queries:
        grades = judgments.get(query, {})
        never = {pid for pid, g in grades.items() if g >= 1} | known_positives.get(query, set())
        ranked: list[tuple[int, str]] = []
        for mode in ("keyword", "dense"):
            hits = engine.search(Query(query, k=depth, mode=mode)).hits
            ranked += [(rank, h.product.id) for rank, h in enumerate(hits, 1)]
        judged_zero = [pid for _, pid in ranked if grades.get(pid) == 0]
        unjudged_low = [pid for rank, pid in ranked if pid not in grades and rank > 10]
        chosen = [pid for pid in dict.fromkeys(judged_zero + unjudged_low) if pid not in never]
        negatives[query] = chosen[:per_query]
    return negatives


def judged_pairs(judgments: Judgments, queries: Iterable[str], store: ProductStore,
                 hard_negatives: dict[str, list[str]] | None = None) -> list[TrainingPair]:
    hard_negatives = hard_negatives or {}
    pairs = []
    for query in queries:
        negatives = [store.get(pid) for pid in hard_negatives.get(query, [])]
        negatives = [product_text(p) for p in negatives if p is not None]
        positives = [pid for pid, g in sorted(judgments.get(query, {}).items()) if g >= RELEVANT_GRADE]
        for i, pid in enumerate(positives):
            product = store.get(pid)
            if product is None:
                continue
            negative = negatives[i % len(negatives)] if negatives else None
            pairs.append(TrainingPair(query, product_text(product), negative))
    return pairs


def event_pairs(events_path: str | Path, store: ProductStore, exclude_queries: set[str] = frozenset()
                ) -> list[TrainingPair]:
    """Positives from a JSONL event log: {"type": "click"|"add_to_cart"|"purchase", "query", "product_id"}."""
    pairs = []
    with open(events_path, encoding="utf-8") as lines:
        for row, line in enumerate(lines, 1):
            if not line.strip():
                continue
            event = json.loads(line)
            query = (event.get("query") or "").strip()
            if event.get("type") not in POSITIVE_EVENTS or not query or query in exclude_queries:
                continue
            product = store.get(str(event.get("product_id")))
            if product is not None:
                pairs.append(TrainingPair(query, product_text(product)))
    return list(dict.fromkeys(pairs))


def synthetic_queries(product: Product) -> list[str]:
    model = str(product.attributes.get("model", "")).strip()
    queries = []
    if product.category:
        queries.append(product.category)
        if product.brand:
            queries.append(f"{product.brand} {product.category}")
    if model and len(model) <= 20:
        queries.append(model)
        if product.brand:
            queries.append(f"{product.brand} {model}")
    return [q.lower() for q in queries]


def synthetic_pairs(products: Sequence[Product], count: int, seed: int = 13,
                    exclude_queries: Iterable[str] = ()) -> list[TrainingPair]:
    """About `count` pairs from sampled products, one generated query each; none equal to,
    or a near-duplicate of, an excluded (held-out) query."""
    rng = random.Random(seed)
    excluded = {query_group_key(q) for q in exclude_queries}
    pool = [p for p in products if synthetic_queries(p)]
    pairs = []
    for product in rng.sample(pool, min(count, len(pool))):
        options = [q for q in synthetic_queries(product) if query_group_key(q) not in excluded]
        if options:
            pairs.append(TrainingPair(rng.choice(options), product_text(product)))
    return pairs
