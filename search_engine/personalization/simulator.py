"""SIMULATED shoppers, for training and measuring personalization without real users.

There are no real interaction logs here, so this module invents shoppers over the real
Icecat catalog and the real judged queries. Nothing it writes is real behaviour; every event
it makes is marked with a session id starting "sim-". The same training path reads real logs.

A simulated shopper has one kind of taste (TASTE_KINDS), which adds to how much they like a
product, relevance aside (its "fit"):
  mixed      the first simulator's shopper: two or three favourite brands (weighted), one or
             two favourite product types, and a price band within each category (0 budget ..
             4 premium) with how much they care; the taste the preference model's first
             features were written for
  brand      one favourite brand (+1.5)
  type       one favourite product type, the catalog's category (+1.5)
  attribute  one value of one facet attribute the catalog declares ("product_colour" Black,
             "connectivity_technology" Wireless), drawn among values at least 30 products in
             the judged queries' results hold (+1.5 for a product that holds it)
  cheapest   the cheapest of what is shown: +0.75 for the cheapest product of the list they
             look at, falling linearly to -0.75 for the dearest (price as the shopper sees it)
  budget     an absolute price limit, between the 20th and 60th percentile of the prices in
             the judged queries' results: +0.75 at or under it, -0.75 over it
  vector     a taste no attribute names: a random product of the judged results as a centre in
             the product tower's space; +1.5 for products among the 15% of those results most
             similar to it
Brands, types, values and centres are drawn from the products the judged queries return, so
tastes meet real result lists.

A session: the shopper issues one judged Icecat query, more likely one whose results hold
products that fit them, sometimes as a variation (plural or singular, lower-case, a word
dropped); sees the engine's unpersonalized top 10, examines position i with probability
1 / i ** 0.8 (position bias), and clicks an examined product with a probability that rises
with its human relevance grade for the query (0-3; unjudged counts 0) and with its fit. A
click may lead to add-to-cart and a purchase, more likely for a good fit. Between searches
they sometimes view a product that fits them directly (a mixed shopper: of a favourite brand).

Held-out measurement sessions are different in one way: the top 100 candidates are shown in
a random order (a randomization bucket), so the items the shopper clicks or buys before
they stop (after a purchase or three clicks) favour neither the unpersonalized nor the
personalized order.
"""
from __future__ import annotations

import math
import random
import uuid
from collections import Counter
from dataclasses import dataclass
from typing import Callable, Mapping, Protocol, Sequence

import numpy as np

from indexer.attributes import facet_terms
from indexer.schema import Product
from search_engine.personalization.profiles import PriceBands, price_places
from search_engine.types import Event

EXAMINE_EXPONENT = 0.8
SHOWN = 10
MEASURE_DEPTH = 100
DAY = 86400.0
TASTE_KINDS = ("mixed", "brand", "type", "attribute", "cheapest", "budget", "vector")
LIKED = 0.5  # a fit above this is a product the shopper goes looking for


class Taste(Protocol):
    def score(self, product: Product, places: Mapping[str, float]) -> float:
        """How much the shopper likes the product; places: where each product of the list
        they look at sits in its price range (profiles.price_places)."""

    def describe(self) -> dict: ...


@dataclass(frozen=True)
class BrandTaste:
    brands: Mapping[str, float]  # brand -> weight
    strength: float = 1.5

    def score(self, product, places):
        return self.strength * self.brands.get(product.brand or "", 0.0) / max(self.brands.values())

    def describe(self):
        return {"brands": dict(self.brands)}


@dataclass(frozen=True)
class TypeTaste:
    categories: frozenset[str]
    strength: float = 1.5

    def score(self, product, places):
        return self.strength if product.category in self.categories else 0.0

    def describe(self):
        return {"types": sorted(self.categories)}


@dataclass(frozen=True)
class PriceBandTaste:
    band: float
    care: float
    bands: PriceBands

    def score(self, product, places):
        band = self.bands.band(product)
        return 0.0 if band is None else -self.care * abs(band - self.band) / 2

    def describe(self):
        return {"price_band": self.band, "price_care": round(self.care, 3)}


@dataclass(frozen=True)
class AttributeTaste:
    term: str  # one of facet_terms(name, value): "product_colour=black"
    strength: float = 1.5

    def score(self, product, places):
        name = self.term.split("=", 1)[0]
        return self.strength if self.term in facet_terms(name, product.attributes.get(name)) else 0.0

    def describe(self):
        return {"attribute": self.term}


@dataclass(frozen=True)
class CheapestTaste:
    strength: float = 1.5

    def score(self, product, places):
        place = places.get(product.id)
        return 0.0 if place is None else self.strength * (0.5 - place)

    def describe(self):
        return {"cheapest_shown": True}


@dataclass(frozen=True)
class BudgetTaste:
    limit: float
    strength: float = 0.75

    def score(self, product, places):
        if product.price is None or product.price <= 0:
            return 0.0
        return self.strength if product.price <= self.limit else -self.strength

    def describe(self):
        return {"budget": round(self.limit, 2)}


@dataclass(frozen=True)
class VectorTaste:
    liked: frozenset[str]  # product ids near the centre
    centre: str  # the product the centre is
    strength: float = 1.5

    def score(self, product, places):
        return self.strength if product.id in self.liked else 0.0

    def describe(self):
        return {"vector_centre": self.centre, "liked_products": len(self.liked)}


@dataclass(frozen=True)
class SimulatedShopper:
    user_id: str
    tastes: tuple[Taste, ...]
    kind: str = "mixed"

    def fit(self, product: Product, places: Mapping[str, float]) -> float:
        """How much this shopper likes the product, relevance aside (about -1 .. 2); places:
        the price places of the list they look at."""
        return sum(taste.score(product, places) for taste in self.tastes)

    def describe(self) -> dict:
        described = {"user_id": self.user_id, "kind": self.kind}
        for taste in self.tastes:
            described.update(taste.describe())
        return described


def click_probability(grade: float, fit: float) -> float:
    relevance = grade / 3
    return 1 / (1 + math.exp(-(-4.0 + 2.5 * relevance + 2.5 * fit * (0.3 + 0.7 * relevance))))


def query_variation(query: str, rng: random.Random) -> str:
    words = query.split()
    choice = rng.random()
    if choice < 0.4:
        last = words[-1]
        words[-1] = last[:-1] if last.endswith("s") and len(last) > 3 else last + "s"
    elif choice < 0.7 and len(words) > 1:
        del words[rng.randrange(len(words))]
    return " ".join(words).lower()


class ShopperSimulator:
    def __init__(self, judgments: Mapping[str, Mapping[str, float]], results_of: Callable[[str], Sequence[Product]],
                 bands: PriceBands, seed: int = 7, facets: Sequence[str] = (),
                 vector_of: Callable[[str], np.ndarray | None] | None = None):
        """results_of(query): the engine's unpersonalized candidates for a query, best first.
        facets: the catalog's facet attributes (attribute tastes draw from them);
        vector_of(product id): its product-tower vector (vector tastes need it)."""
        self.judgments = judgments
        self.queries = sorted(judgments)
        self.results_of = results_of
        self.bands = bands
        self.rng = random.Random(seed)
        self._interest: dict[str, list[float]] = {}
        brands, categories, values = Counter(), Counter(), Counter()
        pool: dict[str, Product] = {}
        for query in self.queries:
            for product in results_of(query)[:SHOWN]:
                brands[product.brand] += bool(product.brand)
                categories[product.category] += bool(product.category)
            for product in results_of(query):
                pool[product.id] = product
        for product in pool.values():
            for name in facets:
                values.update(facet_terms(name, product.attributes.get(name)))
        self.brand_pool = [b for b, _ in brands.most_common(60) if b]
        self.category_pool = [c for c, _ in categories.most_common(40) if c]
        self.value_pool = sorted(term for term, n in values.items() if term and n >= 30)
        self.pool = [pool[pid] for pid in sorted(pool)]
        prices = sorted(p.price for p in self.pool if p.price is not None and p.price > 0)
        self._prices = prices
        self._vector_of = vector_of
        self._pool_vectors = None

    def shopper(self, user_id: str, kind: str = "mixed") -> SimulatedShopper:
        rng = self.rng
        if kind in ("mixed", "brand", "type") and not (self.brand_pool and self.category_pool):
            raise ValueError(f"{kind} tastes need brands and categories among the judged queries' results; "
                             "choose other kinds with --tastes")
        if kind == "mixed":
            # A small catalog slice may offer fewer brands or categories than a shopper would like.
            favourites = rng.sample(self.brand_pool, min(rng.choice((2, 3)), len(self.brand_pool)))
            weights = [rng.random() + 0.2 for _ in favourites]
            categories = frozenset(rng.sample(self.category_pool, min(rng.choice((1, 2)), len(self.category_pool))))
            tastes = (BrandTaste(dict(zip(favourites, weights))), TypeTaste(categories, strength=0.7),
                      PriceBandTaste(rng.choice((0.0, 1.0, 2.0, 3.0, 4.0)), rng.uniform(0.4, 1.2), self.bands))
        elif kind == "brand":
            tastes = (BrandTaste({rng.choice(self.brand_pool): 1.0}),)
        elif kind == "type":
            tastes = (TypeTaste(frozenset([rng.choice(self.category_pool)])),)
        elif kind == "attribute":
            if not self.value_pool:
                raise ValueError("no facet attribute value is held by 30 products of the judged results: "
                                 "attribute tastes need the catalog's facet attributes (or leave "
                                 "'attribute' out of --tastes)")
            tastes = (AttributeTaste(rng.choice(self.value_pool)),)
        elif kind == "cheapest":
            tastes = (CheapestTaste(),)
        elif kind == "budget":
            if not self._prices:
                raise ValueError("no product of the judged results has a price: budget tastes need prices "
                                 "(or leave 'budget' out of --tastes)")
            tastes = (BudgetTaste(self._prices[int(len(self._prices) * rng.uniform(0.2, 0.6))]),)
        elif kind == "vector":
            tastes = (self._vector_taste(rng),)
        else:
            raise ValueError(f"unknown taste kind {kind!r}; one of {', '.join(TASTE_KINDS)}")
        return SimulatedShopper(user_id, tastes, kind)

    def _vector_taste(self, rng: random.Random, centre_id: str | None = None) -> VectorTaste:
        if self._vector_of is None:
            raise ValueError("vector tastes need the products' vectors (vector_of)")
        if self._pool_vectors is None:
            vectors = [self._vector_of(p.id) for p in self.pool]
            self._pool_vectors = np.array([v for v in vectors if v is not None], dtype=np.float32)
            self._vector_ids = [p.id for p, v in zip(self.pool, vectors) if v is not None]
        if not self._vector_ids:
            raise ValueError("no product of the judged results has a vector: leave 'vector' out of --tastes")
        if centre_id is None:
            centre = rng.randrange(len(self._vector_ids))
        elif centre_id in self._vector_ids:
            centre = self._vector_ids.index(centre_id)
        else:
            raise ValueError(f"the vector taste's centre {centre_id} is not among the judged queries' results "
                             "here: simulated over another index or judgments")
        similarity = self._pool_vectors @ self._pool_vectors[centre]
        nearest = np.argsort(-similarity, kind="stable")[: max(1, int(0.15 * len(similarity)))]
        return VectorTaste(frozenset(self._vector_ids[i] for i in nearest), self._vector_ids[centre])

    def described(self, described: Mapping) -> SimulatedShopper:
        """The shopper that SimulatedShopper.describe() wrote, over the same index and judged
        queries (a vector taste is found again from its centre, and must come out as large).
        ValueError naming the shopper when the description does not fit them."""
        user = described.get("user_id", "(no user_id)")
        try:
            shopper = self._described(described)
            simulated_size = described["liked_products"] if shopper.kind == "vector" else None
        except KeyError as missing:
            raise ValueError(f"shopper {user}: no {missing} in its description") from None
        if simulated_size is not None and len(shopper.tastes[0].liked) != simulated_size:
            raise ValueError(f"shopper {user}: the vector taste around {described['vector_centre']} holds "
                             f"{len(shopper.tastes[0].liked)} products here, {described['liked_products']} when "
                             "simulated: simulated over another index or judgments")
        return shopper

    def _described(self, described: Mapping) -> SimulatedShopper:
        kind = described["kind"]
        if kind == "mixed":
            tastes: tuple[Taste, ...] = (
                BrandTaste(dict(described["brands"])), TypeTaste(frozenset(described["types"]), strength=0.7),
                PriceBandTaste(described["price_band"], described["price_care"], self.bands))
        elif kind == "brand":
            tastes = (BrandTaste(dict(described["brands"])),)
        elif kind == "type":
            tastes = (TypeTaste(frozenset(described["types"])),)
        elif kind == "attribute":
            tastes = (AttributeTaste(described["attribute"]),)
        elif kind == "cheapest":
            tastes = (CheapestTaste(),)
        elif kind == "budget":
            tastes = (BudgetTaste(described["budget"]),)
        elif kind == "vector":
            tastes = (self._vector_taste(self.rng, described["vector_centre"]),)
        else:
            raise ValueError(f"unknown taste kind {kind!r}; one of {', '.join(TASTE_KINDS)}")
        return SimulatedShopper(described["user_id"], tastes, kind)

    def _weights(self, shopper: SimulatedShopper) -> list[float]:
        weights = self._interest.get(shopper.user_id)
        if weights is None:
            weights = self._interest[shopper.user_id] = [0.2 + self._liked(shopper, q) for q in self.queries]
        return weights

    def _liked(self, shopper: SimulatedShopper, query: str) -> int:
        top = self.results_of(query)[:20]
        places = price_places(top)
        return sum(shopper.fit(p, places) > LIKED for p in top)

    def query_of(self, shopper: SimulatedShopper) -> tuple[str, str]:
        """(query as typed, the judged query it varies)."""
        base = self.rng.choices(self.queries, weights=self._weights(shopper))[0]
        return (query_variation(base, self.rng) if self.rng.random() < 0.3 else base), base

    def session(self, shopper: SimulatedShopper, start: float, measure: bool = False) -> list[Event]:
        """One shopping session's events. measure=True: examine the top 100, unbiased."""
        rng = self.rng
        session_id = f"sim-{uuid.UUID(int=rng.getrandbits(128)).hex[:16]}"
        typed, base = self.query_of(shopper)
        results = list(self.results_of(typed))
        shown = results[: MEASURE_DEPTH if measure else SHOWN]
        if measure:
            shown = rng.sample(shown, len(shown))
        search_id = uuid.UUID(int=rng.getrandbits(128)).hex
        search = Event(shopper.user_id, session_id, start, "search", query=typed, search_id=search_id,
                       position=1, shown=tuple(p.id for p in shown))
        return [search] + self.reaction(shopper, search, shown, self.judgments[base], rng, measure)

    def reaction(self, shopper: SimulatedShopper, search: Event, shown: Sequence[Product],
                 grades: Mapping[str, float], rng: random.Random, measure: bool = False) -> list[Event]:
        """What the shopper does with the products a search showed them, in order: clicks (at
        most three), carts and at most one purchase, which ends the session."""
        clock = search.timestamp
        events = []
        clicks = 0
        places = price_places(shown)
        for position, product in enumerate(shown, start=1):
            if clicks == 3:
                break
            if not measure and rng.random() > position ** -EXAMINE_EXPONENT:
                continue
            fit = shopper.fit(product, places)
            if rng.random() > click_probability(grades.get(product.id, 0.0), fit):
                continue
            clock += rng.uniform(5, 60)
            clicks += 1
            events.append(Event(shopper.user_id, search.session_id, clock, "click", product.id, search.query,
                                position, search.search_id))
            if rng.random() < 0.15 + 0.2 * max(0.0, fit):
                clock += rng.uniform(10, 120)
                events.append(Event(shopper.user_id, search.session_id, clock, "add_to_cart", product.id))
                if rng.random() < 0.6:
                    clock += rng.uniform(30, 300)
                    events.append(Event(shopper.user_id, search.session_id, clock, "purchase", product.id))
                    break
        return events

    def browse(self, shopper: SimulatedShopper, catalog_by_brand: Mapping[str, Sequence[Product]],
               at: float) -> list[Event]:
        """A product page view outside search: a mixed shopper's of a favourite brand (in a
        favourite type when there is one), anyone else's of a product that fits them among
        the results of a query they would search."""
        if shopper.kind == "mixed":
            brands, types = shopper.tastes[0].brands, shopper.tastes[1].categories
            brand = self.rng.choices(list(brands), weights=list(brands.values()))[0]
            products = catalog_by_brand.get(brand) or []
            preferred = [p for p in products if p.category in types] or products
        else:
            top = self.results_of(self.rng.choices(self.queries, weights=self._weights(shopper))[0])[:20]
            places = price_places(top)
            preferred = [p for p in top if shopper.fit(p, places) > LIKED]
        if not preferred:
            return []
        product = self.rng.choice(preferred)
        return [Event(shopper.user_id, f"sim-browse-{shopper.user_id}", at, "view", product.id)]

    def history(self, shopper: SimulatedShopper, start: float, sessions: int,
                catalog_by_brand: Mapping[str, Sequence[Product]], days: float = 60.0) -> list[Event]:
        """A shopper's sessions spread over `days` after start, with some browsing."""
        events = []
        times = sorted(start + self.rng.uniform(0, days * DAY) for _ in range(sessions))
        for at in times:
            if self.rng.random() < 0.3:
                events += self.browse(shopper, catalog_by_brand, at - 600)
            events += self.session(shopper, at)
        return events
