"""The results page: the matched set under the query's filters, in the query's sort order,
paged, with facet counts. Everything here reads one set, so they agree by construction:
paging through every page gives exactly `total` products, each once, and a facet value's
count is the total that filtering by it gives.

Relevance order: the ranked candidates (fusion, ranker, personalization, merchandising)
that are in the set, then the rest of the set by its matched-set score (similarity to the
query; BM25 in keyword mode). The order does not depend on the page asked for.
The merchant's rules for the query then apply over that whole order (boosts and buries move
products across all pages, pins place theirs). Other sorts: that order stably re-sorted by
price or a numeric attribute, products without one last; ties keep relevance order. Pins
place their product in relevance order only; under another sort it is one of the set,
where its value puts it.
Facets (disjunctive): each facet counts the set under every filter but its own.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Sequence

import numpy as np

from indexer.attributes import RANGE_SUFFIXES, AttributeConfig
from indexer.filters import Filters
from indexer.product_store import ProductStore
from search_engine.facets import range_facet, value_facet
from search_engine.matching import MatchedSet, contains
from search_engine.merchandising import Rule, apply_rules
from search_engine.types import Candidate, Query, RangeFacet, ValueFacet, sort_key

VALUE_FACETS = ("brand", "category")


class FieldError(ValueError):
    """A query names an attribute its catalog does not offer for that use; the message
    starts with the parameter's name."""

    @property
    def parameter(self) -> str:
        return str(self).partition(": ")[0]


@dataclass
class Page:
    candidates: list[Candidate]  # the requested page, in order
    total: int
    facets: list[ValueFacet | RangeFacet]


def check_fields(query: Query, attributes: AttributeConfig, parameters: Sequence[str] = ()) -> None:
    """FieldError naming the parameter when the query names an attribute the catalog does
    not offer for that use (facets, sort, filters). parameters: a request's attr.* parameter
    names, checked even where their values were empty."""
    offered = ", ".join(f"attr.{n}" for n in dict.fromkeys(attributes.facets + attributes.numeric)) or "none"
    for name in query.facets.names:
        if name not in VALUE_FACETS and name != "price" and not (
                name.startswith("attr.") and name.removeprefix("attr.") in attributes.facets + attributes.numeric):
            raise FieldError(f"facets: {name!r} is not a facet; expected brand, category, price or a "
                             f"configured attribute ({offered})")
    if not sort_offered(query.sort, attributes):
        raise FieldError(f"sort: {sort_key(query.sort)[0]!r} is not a numeric attribute of this catalog "
                         f"(numeric: {', '.join(f'attr.{n}' for n in attributes.numeric) or 'none'})")
    for parameter in dict.fromkeys([*parameters, *filter_parameters(query.filters)]):
        check_attribute_parameter(parameter, attributes)


def sort_offered(sort: str, attributes: AttributeConfig) -> bool:
    """Whether a catalog with these attributes can sort so: relevance, price, or a numeric attribute."""
    key = sort_key(sort)
    return key is None or key[0] == "price" or key[0].removeprefix("attr.") in attributes.numeric


def filter_parameters(filters: Filters) -> list[str]:
    """The attr.* parameters these filters were given as (a range by its bound given first)."""
    return [f"attr.{name}" for name, _ in filters.attributes] + [
        f"attr.{name}_{'min' if low is not None else 'max'}" for name, low, _ in filters.ranges]


def attribute_parameter_offered(parameter: str, attributes: AttributeConfig) -> bool:
    try:
        check_attribute_parameter(parameter, attributes)
    except FieldError:
        return False
    return True


def check_attribute_parameter(parameter: str, attributes: AttributeConfig) -> None:
    """attr.<name> must name a facet attribute, attr.<name>_min/_max a numeric one."""
    name = parameter.removeprefix("attr.")
    for suffix in RANGE_SUFFIXES:
        if name.endswith(suffix):
            if name.removesuffix(suffix) not in attributes.numeric:
                raise FieldError(f"{parameter}: not a numeric attribute of this catalog "
                                 f"(numeric: {', '.join(attributes.numeric) or 'none'})")
            return
    if name not in attributes.facets:
        raise FieldError(f"{parameter}: not a filterable attribute of this catalog "
                         f"(facet attributes: {', '.join(attributes.facets) or 'none'})")


def results_page(query: Query, products: ProductStore, matched: MatchedSet, ranked: list[Candidate],
                 rules: Sequence[Rule] = ()) -> Page:
    """matched: the query's matched set (pins included); ranked: the stages' candidates;
    rules: the merchandising rules for this query."""
    passing = products.passing(matched.docs, query.filters)
    docs, scores = matched.docs[passing], matched.scores[passing]
    head_docs = np.array([c.doc for c in ranked], dtype=np.int64)
    head_docs = head_docs[contains(docs, head_docs)]
    in_tail = ~contains(np.sort(head_docs), docs)
    tail, tail_scores = docs[in_tail], scores[in_tail]
    key = sort_key(query.sort)
    notes = None
    if key is None and not rules:  # the common page: only its share of the tail needs ordering
        order = np.concatenate([head_docs, best_first(tail, tail_scores, query.offset + query.k - len(head_docs))])
    else:
        order = np.concatenate([head_docs, best_first(tail, tail_scores, len(tail))])
        if rules:
            order, notes = apply_rules(order, rules, lambda rule, some: products.passing(some, rule.selects()),
                                       products.doc_of, lambda doc: products.passes(doc, query.filters))
        if key is not None:
            values = products.numbers(key[0], order)
            # Stable, so ties keep relevance order; NaN (no value) sorts last either way.
            order = order[np.argsort(-values if key[1] else values, kind="stable")]
    shown = order[query.offset: query.offset + query.k]
    by_doc = {c.doc: c for c in ranked}
    page = []
    for doc in shown.tolist():
        candidate = by_doc.get(doc) or _tail_candidate(doc, float(matched.scores[np.searchsorted(matched.docs, doc)]),
                                                       query.mode)
        if notes is not None:
            candidate.merchandising = notes(doc) or None
        page.append(candidate)
    facets = [_facet(name, query, products, matched, passing) for name in query.facets.names]
    return Page(page, len(docs), facets)


def best_first(docs: np.ndarray, scores: np.ndarray, n: int) -> np.ndarray:
    """The n best docs by score, best first, ties by doc: the same as the first n of a full
    sort, without sorting the rest."""
    if n <= 0:
        return docs[:0]
    if n < len(docs):
        nth_best = -np.partition(-scores, n - 1)[n - 1]
        kept = np.flatnonzero(scores >= nth_best)
        docs, scores = docs[kept], scores[kept]
    return docs[np.lexsort((docs, -scores))][:n]


def _tail_candidate(doc: int, score: float, mode: str) -> Candidate:
    """A product of the set that no ranked list held: it carries its matched-set score (none
    for a pinned product, which matched by the merchant's say-so)."""
    if not np.isfinite(score):
        return Candidate(doc=doc)
    if mode == "keyword":
        return Candidate(doc=doc, keyword_score=score)
    return Candidate(doc=doc, dense_score=score)


def _facet(name: str, query: Query, products: ProductStore, matched: MatchedSet,
           passing: np.ndarray) -> ValueFacet | RangeFacet:
    own_filters_off = query.filters.without(name)
    if own_filters_off != query.filters:
        passing = products.passing(matched.docs, own_filters_off)
    docs = matched.docs[passing]
    if name in VALUE_FACETS or name.removeprefix("attr.") in products.attributes.facets:
        codes, names = products.value_codes(name, docs)
        return value_facet(name, codes, names, query.facets.size)
    bounds = query.facets.price_buckets if name == "price" else ()
    return range_facet(name, products.numbers(name, docs), bounds)


def filters_for_value(filters: Filters, facet: str, value: str) -> Filters:
    """The filters a shopper gets by choosing one value of a value facet (instead of any
    value chosen there before): what that value's count promises."""
    base = filters.without(facet)
    if facet == "brand":
        return replace(base, brands=(value,))
    if facet == "category":
        return replace(base, categories=(value,))
    return replace(base, attributes=base.attributes + ((facet.removeprefix("attr."), (value,)),))
