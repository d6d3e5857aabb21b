"""SIMULATED shoppers, for training and measuring personalization without real users.

There are no real interaction logs here, so this module invents shoppers over the real
Icecat catalog and the real judged queries. Nothing it writes is real behaviour; every event
it makes is marked with a session id starting "sim-". The same training path reads real logs.

A simulated shopper has latent preferences:
  brands      two or three favourite brands with weights (drawn from brands that the judged
              queries' results actually contain, so preferences meet real result lists)
  categories  one or two favourite product types
  price band  where in each category's price range they buy (0 budget .. 4 premium) and how
              much they care
A session: the shopper issues one judged Icecat query, more likely one whose results hold
products that fit them (a Logitech fan searches for mice more than for toner), sometimes as a
variation (plural or singular, lower-case, a word dropped); sees the engine's unpersonalized top 10, examines
position i with probability 1 / i ** 0.8 (position bias), and clicks an examined product
with a probability that rises with its human relevance grade for the query (0-3; unjudged
counts 0) and with how well it fits their preferences. A click may lead to add-to-cart
and a purchase, more likely for a good fit. Between searches they sometimes view products
of a favourite brand directly.

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
from typing import Callable, Mapping, Sequence

from indexer.schema import Product
from search_engine.personalization.profiles import PriceBands
from search_engine.types import Event

EXAMINE_EXPONENT = 0.8
SHOWN = 10
MEASURE_DEPTH = 100
DAY = 86400.0


@dataclass(frozen=True)
class SimulatedShopper:
    user_id: str
    brands: Mapping[str, float]
    categories: frozenset[str]
    price_band: float
    price_care: float

    def fit(self, product: Product, bands: PriceBands) -> float:
        """How much this shopper likes the product, relevance aside (about -1 .. 2)."""
        score = 1.5 * self.brands.get(product.brand or "", 0.0) / max(self.brands.values())
        score += 0.7 if product.category in self.categories else 0.0
        band = bands.band(product)
        if band is not None:
            score -= self.price_care * abs(band - self.price_band) / 2
        return score


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
                 bands: PriceBands, seed: int = 7):
        """results_of(query): the engine's unpersonalized candidates for a query, best first."""
        self.judgments = judgments
        self.queries = sorted(judgments)
        self.results_of = results_of
        self.bands = bands
        self.rng = random.Random(seed)
        self._interest: dict[str, list[float]] = {}
        brands, categories = Counter(), Counter()
        for query in self.queries:
            for product in results_of(query)[:SHOWN]:
                brands[product.brand] += bool(product.brand)
                categories[product.category] += bool(product.category)
        self.brand_pool = [b for b, _ in brands.most_common(60) if b]
        self.category_pool = [c for c, _ in categories.most_common(40) if c]

    def shopper(self, user_id: str) -> SimulatedShopper:
        rng = self.rng
        # A small catalog slice may offer fewer brands or categories than a shopper would like.
        favourites = rng.sample(self.brand_pool, min(rng.choice((2, 3)), len(self.brand_pool)))
        weights = [rng.random() + 0.2 for _ in favourites]
        return SimulatedShopper(
            user_id=user_id,
            brands=dict(zip(favourites, weights)),
            categories=frozenset(rng.sample(self.category_pool, min(rng.choice((1, 2)), len(self.category_pool)))),
            price_band=rng.choice((0.0, 1.0, 2.0, 3.0, 4.0)),
            price_care=rng.uniform(0.4, 1.2),
        )

    def query_of(self, shopper: SimulatedShopper) -> tuple[str, str]:
        """(query as typed, the judged query it varies)."""
        weights = self._interest.get(shopper.user_id)
        if weights is None:
            weights = self._interest[shopper.user_id] = [
                0.2 + sum(shopper.fit(p, self.bands) > 0.5 for p in self.results_of(q)[:20]) for q in self.queries]
        base = self.rng.choices(self.queries, weights=weights)[0]
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
        for position, product in enumerate(shown, start=1):
            if clicks == 3:
                break
            if not measure and rng.random() > position ** -EXAMINE_EXPONENT:
                continue
            fit = shopper.fit(product, self.bands)
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
        """A product page view of a favourite brand, outside search."""
        brand = self.rng.choices(list(shopper.brands), weights=list(shopper.brands.values()))[0]
        products = catalog_by_brand.get(brand) or []
        preferred = [p for p in products if p.category in shopper.categories] or products
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
