"""The results page: the matched set under the query's filters, in the query's sort order,
paged, with facet counts. Everything here reads one set, so they agree by construction:
paging through every page gives exactly `total` products, each once, and a facet value's
count is the total that filtering by it gives.

Relevance order: the ranked candidates (fusion, ranker, personalization, merchandising)
that are in the set, then the rest of the set by its matched-set score (similarity to the
query; BM25 in keyword mode). The order does not depend on the page asked for.
Other sorts: that list stably re-sorted by price or a numeric attribute, products without
one last; ties keep relevance order. Pins place their product in relevance order only;
under another sort it is one of the set, where its value puts it.
Facets (disjunctive): each facet counts the set under every filter but its own.
"""
from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from indexer.attributes import AttributeConfig
from indexer.filters import Filters
from indexer.product_store import ProductStore
from search_engine.facets import range_facet, value_facet
from search_engine.matching import MatchedSet
from search_engine.types import Candidate, Query, RangeFacet, ValueFacet, sort_key

VALUE_FACETS = ("brand", "category")


@dataclass
class Page:
    candidates: list[Candidate]  # the requested page, in order
    total: int
    facets: list[ValueFacet | RangeFacet]


def check_fields(query: Query, attributes: AttributeConfig) -> None:
    """ValueError naming the parameter when the query names an attribute the catalog does
    not offer for that use (facets, sort, filters)."""
    offered = ", ".join(f"attr.{n}" for n in dict.fromkeys(attributes.facets + attributes.numeric)) or "none"
    for name in query.facets.names:
        if name in VALUE_FACETS or name == "price":
            continue
        attribute = name.removeprefix("attr.")
        if not name.startswith("attr.") or attribute not in attributes.facets + attributes.numeric:
            raise ValueError(f"facets: {name!r} is not a facet; expected brand, category, price or a "
                             f"configured attribute ({offered})")
    key = sort_key(query.sort)
    if key is not None and key[0] != "price" and key[0].removeprefix("attr.") not in attributes.numeric:
        numeric = ", ".join(f"attr.{n}" for n in attributes.numeric) or "none"
        raise ValueError(f"sort: {key[0]!r} is not a numeric attribute of this catalog (numeric: {numeric})")
    for name, _ in query.filters.attributes:
        if name not in attributes.facets:
            raise ValueError(f"attr.{name}: not a filterable attribute of this catalog "
                             f"(facet attributes: {', '.join(attributes.facets) or 'none'})")
    for name, _, _ in query.filters.ranges:
        if name not in attributes.numeric:
            raise ValueError(f"attr.{name}_min: not a numeric attribute of this catalog "
                             f"(numeric: {', '.join(attributes.numeric) or 'none'})")


def results_page(query: Query, products: ProductStore, matched: MatchedSet, ranked: list[Candidate]) -> Page:
    """matched: the query's matched set (pins included); ranked: the stages' candidates."""
    passing = products.passing(matched.docs, query.filters)
    docs, scores = matched.docs[passing], matched.scores[passing]
    head = [c for c, ok in zip(ranked, np.isin([c.doc for c in ranked], docs)) if ok]
    in_head = np.isin(docs, [c.doc for c in head])
    tail, tail_scores = docs[~in_head], scores[~in_head]
    tail_order = np.lexsort((tail, -tail_scores))  # best first, ties by doc
    order = np.concatenate([np.array([c.doc for c in head], dtype=np.int64), tail[tail_order]])
    key = sort_key(query.sort)
    if key is not None:
        field, descending = key
        values = products.numbers(field.removeprefix("attr."), order)
        # Stable, so ties keep relevance order; NaN (no value) sorts last either way.
        order = order[np.argsort(-values if descending else values, kind="stable")]
    shown = order[query.offset: query.offset + query.k]
    by_doc = {c.doc: c for c in head}
    tail_score = dict(zip(tail.tolist(), tail_scores.tolist()))
    page = [by_doc.get(doc) or _tail_candidate(doc, tail_score[doc], query.mode) for doc in shown.tolist()]
    facets = [_facet(name, query, products, matched, passing) for name in query.facets.names]
    return Page(page, len(order), facets)


def _tail_candidate(doc: int, score: float, mode: str) -> Candidate:
    """A product of the set that no ranked list held: it carries its matched-set score."""
    if mode == "keyword":
        return Candidate(doc=doc, keyword_score=score)
    return Candidate(doc=doc, dense_score=score)


def _facet(name: str, query: Query, products: ProductStore, matched: MatchedSet,
           passing: np.ndarray) -> ValueFacet | RangeFacet:
    own_filters_off = query.filters.without(name)
    if own_filters_off != query.filters:
        passing = products.passing(matched.docs, own_filters_off)
    docs = matched.docs[passing]
    attribute = name.removeprefix("attr.")
    if name in VALUE_FACETS or (name.startswith("attr.") and attribute in products.attributes.facets):
        codes, names = products.value_codes(attribute, docs)
        return value_facet(name, codes, names, query.facets.size)
    bounds = query.facets.price_buckets if name == "price" else ()
    return range_facet(name, products.numbers(attribute, docs), bounds)


def filters_for_value(filters: Filters, facet: str, value: str) -> Filters:
    """The filters a shopper gets by choosing one value of a value facet (instead of any
    value chosen there before): what that value's count promises."""
    base = filters.without(facet)
    if facet == "brand":
        return replace(base, brands=(value,))
    if facet == "category":
        return replace(base, categories=(value,))
    return replace(base, attributes=base.attributes + ((facet.removeprefix("attr."), (value,)),))
