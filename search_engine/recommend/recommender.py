"""Recommendations without a query: for a shopper, bought together with a product, trending.

Each reads one RecommendationView: the published activity counts over one index snapshot
and its catalog vocabulary (product types), built once per pair and shared by requests.
Deleted products are never recommended: every candidate is looked up in the snapshot and
dropped when it is no longer there. Every recommendation carries its reasons (explain).
"""
from __future__ import annotations

import math
import numbers
from collections import defaultdict
from dataclasses import dataclass, field, fields
from typing import Sequence

import numpy as np

from indexer.filters import Filters
from indexer.schema import Product
from search_engine.personalization.profiles import EVENT_WEIGHTS
from search_engine.recommend.activity import DAY, ActivityCounts, RecommendationSettings
from search_engine.recommend.associations import association, type_tables
from search_engine.types import Event
from search_engine.understanding.vocabulary import CatalogVocabulary

COMPLEMENT_TYPES = 3  # complement types a product with too little history is filled from
PER_COMPLEMENT_TYPE = 5  # products of each, the nearest to the product by the tower
ANCHORS = 3  # for-you: the shopper's products whose complements are offered
COMPLEMENTS_PER_ANCHOR = 10
NEAREST = 50  # for-you: products near the shopper's recent interest considered
REMEMBERED = 20_000  # answers a view keeps (bought-together per product and filters), emptied when full
NO_DOCS = np.zeros(0, dtype=np.int64)


@dataclass(frozen=True)
class ForYouWeights:
    """How for-you mixes its evidence, each part between 0 and 1 before weighting: nearness
    to what the shopper looked at lately, complements of what they bought or carted, rebuying
    a consumable, their brand and type shares, products they looked at and did not buy, and
    what is trending. `search-recommend evaluate --for-you-weights` checks others on the
    shop's own log."""

    similar: float = 1.0
    complement: float = 1.0
    rebuy: float = 1.0
    taste: float = 0.5
    seen: float = 1.0
    trending: float = 0.1

    def __post_init__(self):
        for item in fields(self):
            value = getattr(self, item.name)
            if isinstance(value, bool) or not isinstance(value, numbers.Real) or not 0 <= value < math.inf:
                raise ValueError(f"for-you weight {item.name}: must be a number from 0 up, got {value!r}")

    @classmethod
    def parse(cls, text: str) -> "ForYouWeights":
        """"similar=1,complement=2": the named weights, the rest default."""
        given = {}
        names = {item.name for item in fields(cls)}
        for part in (p.strip() for p in text.split(",") if p.strip()):
            name, _, value = part.partition("=")
            if name.strip() not in names:
                raise ValueError(f"for-you weight {name.strip()!r}: expected one of {', '.join(sorted(names))}")
            try:
                given[name.strip()] = float(value)
            except ValueError:
                raise ValueError(f"for-you weight {name.strip()}: expected a number, got {value!r}") from None
        return cls(**given)


class UnknownProductError(LookupError):
    """The catalog does not hold the product asked about."""


@dataclass
class Recommendation:
    product: Product
    score: float
    reasons: list[str] = field(default_factory=list)


class RecommendationView:
    """The counts read against one snapshot: ranked trending and popular docs, product types,
    complement types. Immutable once built; lazily filled caches store what racing threads
    would compute alike."""

    def __init__(self, counts: ActivityCounts, snapshot, vocabulary: CatalogVocabulary,
                 settings: RecommendationSettings):
        self.counts = counts
        self.snapshot = snapshot
        self.vocabulary = vocabulary
        self.settings = settings
        self.trending_docs, self.trending_scores = self._ranked(counts.trend)
        self.popular_docs, self.popular_scores = self._ranked(counts.popularity)
        self.types = type_tables(counts, self.type_name, settings.min_support)
        self._type_docs = self._docs_by_type()
        self._remembered: dict[tuple, list[Recommendation]] = {}

    def remembered(self, key: tuple, compute) -> list:
        """compute(), kept for this view's lifetime: an answer depends only on the view and the
        key. Racing threads compute the same value; single dict reads and writes are atomic."""
        value = self._remembered.get(key)
        if value is None:
            value = compute()
            if len(self._remembered) >= REMEMBERED:
                self._remembered = {}
            self._remembered[key] = value
        return value

    def _ranked(self, scores) -> tuple[np.ndarray, np.ndarray]:
        products = self.snapshot.products
        found = [(doc, score) for doc, score in ((products.doc_of(p), s) for p, s in scores.items())
                 if doc is not None and score > 0]
        found.sort(key=lambda item: (-item[1], item[0]))
        return (np.array([d for d, _ in found], dtype=np.int64), np.array([s for _, s in found], dtype=np.float64))

    def doc_of(self, product_id: str) -> int | None:
        return self.snapshot.products.doc_of(product_id)

    def product(self, doc: int) -> Product:
        return self.snapshot.products.product(doc)

    def type_name(self, product_id: str) -> str | None:
        """The product's type (type_of_doc); None for a product no longer in the catalog."""
        doc = self.doc_of(product_id)
        return None if doc is None else self.type_of_doc(doc)

    def type_of_doc(self, doc: int) -> str | None:
        """A doc's type: its category, else the one inferred from its neighbours (the
        vocabulary's; docs added since it was built count by their category); None for neither."""
        product = self.product(doc)
        index = self.vocabulary.type_of(doc, product)
        return self.vocabulary.types[index] if index >= 0 else (product.category or None)

    def type_docs(self, type_name: str) -> np.ndarray:
        """The live docs of one type (type_of_doc)."""
        return self._type_docs.get(type_name, NO_DOCS)

    def _docs_by_type(self) -> dict[str, np.ndarray]:
        # One pass over the catalog, while the view is built (in the follower's thread), so
        # that no request pays for it.
        by_type: dict[str, list[int]] = defaultdict(list)
        for doc in self.snapshot.products.live_docs().tolist():
            name = self.type_of_doc(doc)
            if name:
                by_type[name].append(doc)
        return {name: np.array(docs, dtype=np.int64) for name, docs in by_type.items()}

    def consumable_share(self, product_id: str) -> float | None:
        """How often buyers of this product (of its type, with too few buyers of it) bought it
        again; None with too little history to say."""
        buyers = self.counts.buyers.get(product_id, 0)
        if buyers >= self.settings.min_support:
            return self.counts.rebuyers.get(product_id, 0) / buyers
        return self.types.rebuy_share(self.type_name(product_id), self.settings.min_support)

    def is_variant(self, first_doc: int, second_doc: int) -> bool:
        """Whether two products are near-duplicates (another toner for the same printer): of
        the same type, or (a type unknown) this close by the product tower."""
        first_type, second_type = self.type_of_doc(first_doc), self.type_of_doc(second_doc)
        if first_type and second_type:
            return first_type == second_type
        vectors = self.snapshot.vectors
        similarity = float(vectors.similarities(vectors.vector(first_doc), np.array([second_doc]))[0])
        return similarity >= self.settings.duplicate_similarity


def trending(view: RecommendationView, k: int, filters: Filters = Filters()) -> list[Recommendation]:
    """The products with the most activity lately (time-decayed), then the most popular ever,
    among those passing the filters."""
    half_life = view.settings.trending_half_life_days
    chosen: list[Recommendation] = []
    seen: set[int] = set()
    for docs, scores, reason, rising in (
            (view.trending_docs, view.trending_scores, f"activity lately {{:.2f}} (half-life {half_life:g} days)", True),
            (view.popular_docs, view.popular_scores, "popular: activity {:.2f} in all", False)):
        if len(chosen) >= k or not len(docs):
            continue
        rows = range(len(docs)) if filters.is_empty else np.flatnonzero(view.snapshot.products.passing(docs, filters))
        for i in rows:
            doc = int(docs[i])
            if doc in seen:
                continue
            seen.add(doc)
            # the popular fill scores 0: below every rising product whatever its all-time activity
            score = float(scores[i]) if rising else 0.0
            chosen.append(Recommendation(view.product(doc), score, [reason.format(float(scores[i]))]))
            if len(chosen) >= k:
                break
    return chosen


def bought_together(view: RecommendationView, product_id: str, k: int,
                    filters: Filters = Filters()) -> list[Recommendation]:
    """Products other shoppers carted or bought with this one (at least min_support of
    them), by association; then, to fill, the products nearest to it by the tower in the
    types most bought with its type. Never a variant of the product itself.
    UnknownProductError for a product the catalog does not hold."""
    anchor = view.doc_of(product_id)
    if anchor is None:
        raise UnknownProductError(product_id)
    return list(view.remembered(("bought-together", product_id, k, filters),
                                lambda: _bought_together(view, product_id, anchor, k, filters)))


def _bought_together(view: RecommendationView, product_id: str, anchor: int, k: int,
                     filters: Filters) -> list[Recommendation]:
    settings, counts, products = view.settings, view.counts, view.snapshot.products
    chosen: list[Recommendation] = []
    taken = {anchor}
    items = []
    anchor_shoppers = counts.basket_shoppers.get(product_id, 0)
    for other, together in counts.pairs.get(product_id, {}).items():
        if together < settings.min_support:
            continue
        doc = view.doc_of(other)
        if doc is None or doc in taken or view.is_variant(anchor, doc):
            continue
        score = association(together, anchor_shoppers, counts.basket_shoppers.get(other, 0))
        items.append((score, doc, together))
    items.sort(key=lambda item: (-item[0], item[1]))
    for score, doc, together in items:
        if len(chosen) >= k:
            break
        if products.passes(doc, filters):
            taken.add(doc)
            chosen.append(Recommendation(view.product(doc), score, [
                f"bought together: {together} shoppers carted or bought both (association {score:.3f})"]))
    if len(chosen) < k:
        chosen += _complements_by_type(view, anchor, k - len(chosen), taken, filters)
    return chosen


def _complements_by_type(view: RecommendationView, anchor: int, k: int, taken: set[int],
                         filters: Filters) -> list[Recommendation]:
    """For too little history of the product itself: the types shoppers buy with its type,
    each filled with its products nearest to this one (the toner for this printer)."""
    anchor_type = view.type_of_doc(anchor)
    if not anchor_type:
        return []
    vectors = view.snapshot.vectors
    anchor_vector = vectors.vector(anchor)
    found = []
    for other_type, strength, shoppers in view.types.complements.get(anchor_type, ())[:COMPLEMENT_TYPES]:
        docs = view.type_docs(other_type)
        docs = docs[view.snapshot.products.passing(docs, filters)] if len(docs) else docs
        if not len(docs):
            continue
        similarity = vectors.similarities(anchor_vector, docs)
        for i in np.argsort(-similarity, kind="stable")[:PER_COMPLEMENT_TYPE + len(taken)]:
            doc = int(docs[i])
            if doc not in taken:
                found.append((strength * max(float(similarity[i]), 0.0), doc, other_type, strength, shoppers,
                              float(similarity[i])))
    found.sort(key=lambda item: (-item[0], item[1]))
    chosen = []
    for score, doc, other_type, strength, shoppers, similarity in found[:k]:  # a doc is of one type: no repeats
        taken.add(doc)
        chosen.append(Recommendation(view.product(doc), score, [
            f"bought with its type: shoppers who buy {anchor_type} buy {other_type} ({shoppers} co-baskets, "
            f"association {strength:.3f}); this one is the nearest to it by the product tower "
            f"(similarity {similarity:.3f})"]))
    return chosen


def for_you(view: RecommendationView, events: Sequence[Event], now: float, k: int, filters: Filters = Filters(),
            weights: ForYouWeights = ForYouWeights()) -> tuple[list[Recommendation], str]:
    """Products for a shopper from their events before `now` (oldest first), and the source:
    "history", or "trending" for a shopper with no product events (trending products then).
    Never a product they bought, unless its buyers rebuy it (a consumable)."""
    settings = view.settings
    decay = math.log(2) / (settings.recent_half_life_days * DAY)
    interest: dict[int, float] = defaultdict(float)
    bought: dict[int, float] = {}  # doc -> when last bought
    brands: dict[str, float] = defaultdict(float)
    types: dict[str, float] = defaultdict(float)
    for event in events:
        weight = EVENT_WEIGHTS.get(event.type)
        if weight is None or not event.product_id or event.timestamp >= now:
            continue
        doc = view.doc_of(event.product_id)
        if doc is None:  # since deleted from the catalog
            continue
        weight *= math.exp(-decay * (now - event.timestamp))
        interest[doc] += weight
        product = view.product(doc)
        if product.brand:
            brands[product.brand] += weight
        type_name = view.type_of_doc(doc)
        if type_name:
            types[type_name] += weight
        if event.type == "purchase":
            bought[doc] = max(event.timestamp, bought.get(doc, event.timestamp))
    total = sum(interest.values())
    if not total:
        return trending(view, k, filters), "trending"
    parts: dict[int, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    notes: dict[int, list[str]] = defaultdict(list)
    # Near what they looked at lately: their interest as one vector in the tower's space.
    vectors = view.snapshot.vectors
    centre = sum(share * vectors.vector(doc) for doc, share in interest.items())
    norm = float(np.linalg.norm(centre))
    if norm > 0:
        for rank, (doc, similarity) in enumerate(vectors.search(centre / norm, NEAREST, filters), start=1):
            parts[doc]["similar"] = 1 / math.log2(1 + rank)
            notes[doc].append(f"like what you looked at lately (similarity {similarity:.3f})")
    anchors = sorted(interest.items(), key=lambda item: (-item[1], item[0]))[:ANCHORS]
    for anchor, mass in anchors:
        complements = bought_together(view, view.product(anchor).id, COMPLEMENTS_PER_ANCHOR, filters)
        best = max((c.score for c in complements), default=0.0) or 1.0
        for item in complements:
            doc = view.doc_of(item.product.id)
            parts[doc]["complement"] = max(parts[doc]["complement"], mass / total * item.score / best)
            notes[doc].append(f"goes with {view.product(anchor).title[:60]!r}: {item.reasons[0]}")
    for doc, mass in interest.items():
        if not view.snapshot.products.passes(doc, filters):
            continue
        if doc in bought:
            share = view.consumable_share(view.product(doc).id)
            # A consumable comes back once the shopper's rebuying could have started
            due = now - bought[doc] >= settings.rebuy_gap_days * DAY
            if share is not None and share >= settings.rebuy_share and due:
                parts[doc]["rebuy"] = share
                notes[doc].append(f"you bought it; {share:.0%} of its buyers buy it again")
        else:
            parts[doc]["seen"] = mass / total
            notes[doc].append("you looked at it and have not bought it")
    top_trend = float(view.trending_scores[0]) if len(view.trending_scores) else 0.0
    trend_of = view.counts.trend
    scored = []
    for doc, part in parts.items():
        if doc in bought and "rebuy" not in part:
            continue
        product = view.product(doc)
        part["taste"] = (brands.get(product.brand, 0.0) + types.get(view.type_of_doc(doc) or "", 0.0)) / (2 * total)
        if top_trend:
            part["trending"] = trend_of.get(product.id, 0.0) / top_trend
        score = sum(getattr(weights, name) * value for name, value in part.items())
        scored.append((score, doc))
    scored.sort(key=lambda item: (-item[0], item[1]))
    chosen = [Recommendation(view.product(doc), score, notes[doc] + _taste_note(parts[doc]))
              for score, doc in scored[:k]]
    if len(chosen) < k:  # little history: the rest from what is trending
        have = {r.product.id for r in chosen} | {view.product(doc).id for doc in bought}
        chosen += [r for r in trending(view, k + len(have), filters) if r.product.id not in have][:k - len(chosen)]
    return chosen, "history"


def _taste_note(part: dict[str, float]) -> list[str]:
    return [f"your brand and type share {part['taste']:.2f}"] if part.get("taste") else []
