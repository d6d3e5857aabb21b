"""What a shopper's events say about them: affinities, a taste vector, where they buy in a price range.

Each event counts by how much intent it shows (a purchase far more than a view) and fades
with age (half-life, default 30 days), so last week's laptop hunt outweighs last year's.

Affinities exist for every brand, category, price band and value of every facet attribute the
catalog declares ("product_colour=black"), nobody names them. Each is a smoothed log-lift
(see `lift`) of the share of the shopper's interactions holding it over what they would hold
by chance: the share of what the shopper's searches showed them (their exposure), itself
smoothed towards the catalog's share. Against exposure, not the catalog alone, because a
shopper who searches printers clicks laser printers more than the catalog's share for no
reason but their query; against what they were shown, only a preference is left.

The taste vector is the interactions' weighted sum of product-tower vectors; its exposure
counterpart is the shown products' sum. Their difference points at what the shopper picks
among what they see ("compact", "gaming"), which no attribute may name.

Price as shoppers see it: where each product they picked sat in the price range of the list
that showed it (0 cheapest .. 1 dearest), averaged; their average log price; and the spread
of the prices they picked against the spread of those they were shown (PriceSpread).
"""
from __future__ import annotations

import math
from bisect import bisect_right
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Callable, Iterable, Mapping, Sequence

import numpy as np

from indexer.attributes import facet_terms
from indexer.schema import Product
from indexer.suggestions import phrase_key
from search_engine.types import Event

EVENT_WEIGHTS = {"view": 0.5, "click": 1.0, "add_to_cart": 3.0, "purchase": 5.0}
PRICE_BANDS = 5  # quintiles of price within the product's category
SMOOTHING = 5.0  # pseudo-events of the baseline share in every affinity
EXPOSURE_SMOOTHING = 1.0  # pseudo-products of catalog share in the exposure baseline: pages show 10 at a time
EXPOSURE_SEARCHES = 50  # the most recent searches whose shown products count as exposure
PROFILE_INTERACTIONS = 500  # the most recent views, clicks, carts and purchases a profile reads
EXPOSURE_DEPTH = 10  # shown products per search that count (the first page)


@dataclass(frozen=True)
class PriceBands:
    """Price quintiles per category: a 30-euro mouse and a 1000-euro laptop can both be 'premium'."""

    edges: Mapping[str, tuple[float, ...]]  # category -> 4 inner quintile edges
    overall: tuple[float, ...]

    @classmethod
    def fit(cls, products: Iterable[Product]) -> "PriceBands":
        by_category: dict[str, list[float]] = defaultdict(list)
        everything = []
        for p in products:
            if p.price is not None and p.price > 0:
                by_category[p.category or ""].append(p.price)
                everything.append(p.price)
        edges = {c: _quantile_edges(prices) for c, prices in by_category.items() if len(prices) >= PRICE_BANDS}
        return cls(edges=edges, overall=_quantile_edges(everything))

    def band(self, product: Product) -> int | None:
        if product.price is None or product.price <= 0:
            return None
        return bisect_right(self.edges.get(product.category or "", self.overall), product.price)

    def to_dict(self) -> dict:
        return {"edges": {k: list(v) for k, v in self.edges.items()}, "overall": list(self.overall)}

    @classmethod
    def from_dict(cls, data: Mapping) -> "PriceBands":
        return cls(edges={k: tuple(v) for k, v in data["edges"].items()}, overall=tuple(data["overall"]))


def _quantile_edges(prices: Sequence[float]) -> tuple[float, ...]:
    if not prices:
        return ()
    ordered = sorted(prices)
    return tuple(ordered[min(len(ordered) - 1, int(len(ordered) * q / PRICE_BANDS))] for q in range(1, PRICE_BANDS))


@dataclass(frozen=True)
class CatalogReader:
    """What profiles and features read of the index version they serve."""

    product_of: Callable[[str], Product | None]
    vector_of: Callable[[str], np.ndarray | None] = lambda product_id: None  # the product tower's vector
    facets: tuple[str, ...] = ()  # the catalog's facet attributes
    # vectors_of(product ids): (which have a vector, those vectors in order), in one read;
    # None: one vector_of call per product
    vectors_of: Callable[[Sequence[str]], tuple[np.ndarray, np.ndarray]] | None = None

    @classmethod
    def of_snapshot(cls, snapshot) -> "CatalogReader":
        products, vectors = snapshot.products, snapshot.vectors

        def vector_of(product_id: str) -> np.ndarray | None:
            doc = products.doc_of(product_id)
            return None if doc is None else vectors.vector(doc)

        def vectors_of(product_ids: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
            docs = [products.doc_of(pid) for pid in product_ids]
            known = np.array([d is not None for d in docs], dtype=bool)
            has_vector, rows = vectors.vectors_of(np.array([d for d in docs if d is not None], dtype=np.int64))
            known[known] = has_vector
            return known, rows

        return cls(products.get, vector_of, tuple(products.attributes.facets), vectors_of)

    def _vectors(self, product_ids: Sequence[str]) -> tuple[np.ndarray, np.ndarray] | None:
        """(which products have a vector, those vectors in order); None when none has one."""
        if not len(product_ids):
            return None
        if self.vectors_of is not None:
            known, found = self.vectors_of(product_ids)
        else:
            vectors = [self.vector_of(pid) for pid in product_ids]
            known = np.array([v is not None for v in vectors], dtype=bool)
            found = np.array([v for v in vectors if v is not None], dtype=np.float32)
        return (known, found) if known.any() else None

    def vector_rows(self, product_ids: Sequence[str]) -> np.ndarray | None:
        """One row per product, its vector, NaN for a product without one; None when none has one."""
        read = self._vectors(product_ids)
        if read is None:
            return None
        known, found = read
        rows = np.full((len(product_ids), found.shape[1]), np.nan, dtype=np.float32)
        rows[known] = found
        return rows

    def weighted_sum(self, product_ids: Sequence[str], weights: Sequence[float]) -> np.ndarray | None:
        """The weighted sum of these products' vectors (those that have one); None if none has."""
        read = self._vectors(product_ids)
        if read is None:
            return None
        known, found = read
        return np.asarray(weights, dtype=np.float32)[known] @ found

    def terms(self, product: Product) -> tuple[str, ...]:
        """The product's facet values as "name=value" terms."""
        return _TERMS.of(product, self.facets)[0]

    def keys(self, product: Product) -> tuple[str, ...]:
        """Its terms, then its brand_key and category_key where it has them: what a profile
        keeps a mass for."""
        return _TERMS.of(product, self.facets)[1]


class _TermCache:
    """Facet terms and profile keys per product object, so the same products shown and
    reranked search after search are normalised once. Keyed by the object's identity, and
    each entry holds the object: while the entry lives no other object can have that
    identity, so it only ever answers for the product it was made from (an update makes a
    new Product). A plain dict
    whose single reads and writes are atomic, so threads at worst compute an entry twice.
    Emptied when full."""

    LIMIT = 200_000

    def __init__(self):
        self._entries: dict[tuple[int, tuple[str, ...]], tuple[Product, tuple[tuple[str, ...], tuple[str, ...]]]] = {}

    def of(self, product: Product, facets: tuple[str, ...]) -> tuple[tuple[str, ...], tuple[str, ...]]:
        """(terms, keys): see CatalogReader.terms and keys."""
        key = (id(product), facets)
        entry = self._entries.get(key)
        if entry is not None:
            return entry[1]
        terms = tuple(term for name in facets for term in facet_terms(name, product.attributes.get(name)))
        keys = terms + tuple(k for k in (product.brand and brand_key(product.brand),
                                         product.category and category_key(product.category)) if k)
        if len(self._entries) >= self.LIMIT:
            self._entries = {}
        self._entries[key] = (product, (terms, keys))
        return terms, keys


_TERMS = _TermCache()


def brand_key(brand: str) -> str:
    return f"brand={brand}"


def category_key(category: str) -> str:
    return f"category={category}"


@dataclass
class UserProfile:
    brands: dict[str, float] = field(default_factory=dict)  # decayed, weighted event mass per brand
    categories: dict[str, float] = field(default_factory=dict)
    bands: dict[int, float] = field(default_factory=dict)
    values: dict[str, float] = field(default_factory=dict)  # facet term -> mass
    shown: dict[str, float] = field(default_factory=dict)  # brand_key/category_key/facet term -> exposure
    shown_total: float = 0.0  # decayed count of shown products
    taste: np.ndarray | None = None  # mass-weighted sum of the picked products' vectors
    shown_vector: np.ndarray | None = None  # exposure-weighted sum of the shown products' vectors
    price_place: float = 0.0  # mass-weighted sum of picked products' place in their list's price range
    price_place_mass: float = 0.0
    log_price: float = 0.0  # mass-weighted sum of picked products' log price
    log_price_mass: float = 0.0
    picked_prices: "PriceSpread | None" = None  # the picks' prices, mass-weighted
    shown_prices: "PriceSpread | None" = None  # the shown products' prices, exposure-weighted
    total: float = 0.0  # decayed mass of every counted event
    events: int = 0

    @property
    def empty(self) -> bool:
        return self.events == 0

    def mean_band(self) -> float | None:
        mass = sum(self.bands.values())
        return sum(b * w for b, w in self.bands.items()) / mass if mass else None

    def mean_price_place(self) -> float | None:
        return self.price_place / self.price_place_mass if self.price_place_mass else None

    def mean_log_price(self) -> float | None:
        return self.log_price / self.log_price_mass if self.log_price_mass else None

    def baseline(self, key: str, catalog_share: float) -> float:
        """The share of the shopper's interactions expected to hold `key` by chance: their
        exposure to it, smoothed towards the catalog's share."""
        return (self.shown.get(key, 0.0) + EXPOSURE_SMOOTHING * catalog_share) / (self.shown_total + EXPOSURE_SMOOTHING)

    def liking(self, mass: float, key: str, catalog_share: float) -> tuple[float, float]:
        """(affinity, share) for `key` held by `mass` of the shopper's picks: the lift over the
        baseline, which says how surprising the picks are, and the smoothed share of picks
        holding it, which says how much of the shopper's choosing it is."""
        baseline = self.baseline(key, max(catalog_share, 1e-4))
        return lift(mass, self.total, baseline), (mass + SMOOTHING * baseline) / (self.total + SMOOTHING)

    def taste_direction(self) -> np.ndarray | None:
        """What the shopper picks beyond what they are shown, unit length (None without a taste)."""
        if self.taste is None:
            return None
        direction = _unit(self.taste)
        if self.shown_vector is not None:
            direction = direction - _unit(self.shown_vector)
        norm = float(np.linalg.norm(direction))
        return direction / norm if norm > 1e-6 else None

    def taste_unit(self) -> np.ndarray | None:
        return None if self.taste is None else _unit(self.taste)


def _unit(vector: np.ndarray) -> np.ndarray:
    norm = float(np.linalg.norm(vector))
    return vector / norm if norm > 0 else vector


def price_places(products: Sequence[Product | None]) -> dict[str, float]:
    """Where each priced product sits in this list's price range: 0 cheapest .. 1 dearest."""
    prices = sorted({p.price for p in products if p is not None and p.price is not None and p.price > 0})
    place = {price: i / max(1, len(prices) - 1) for i, price in enumerate(prices)}
    return {p.id: place[p.price] for p in products if p is not None and p.price in place}


def build_profile(events: Iterable[Event], catalog: CatalogReader, bands: PriceBands,
                  now: float, half_life_days: float = 30.0) -> UserProfile:
    """The profile as of `now` from events before it (events at or after `now` are ignored):
    the latest EXPOSURE_SEARCHES searches and PROFILE_INTERACTIONS other events, however
    many more there are (serving fetches those: EventStore.latest_for_user; training reads
    the same window, so a heavy browser is read alike in both)."""
    events = sorted((e for e in events if e.timestamp < now), key=lambda e: e.timestamp)
    searches = [e for e in events if e.type == "search" and e.shown][-EXPOSURE_SEARCHES:]
    interactions = [e for e in events if e.type != "search"][-PROFILE_INTERACTIONS:]
    events = sorted(searches + interactions, key=lambda e: e.timestamp)
    profile = UserProfile()
    exposed = {id(e) for e in searches}
    lists: dict[str, dict[str, float]] = {}  # search_id or session -> price places of what it showed
    picked, shown_to = _WeightedProducts(), _WeightedProducts()  # summed in the product tower's space at the end
    decay = math.log(2) / (half_life_days * 86400)
    for event in events:
        age_weight = math.exp(-decay * (now - event.timestamp))
        if event.type == "search":
            if id(event) in exposed:
                shown = [catalog.product_of(pid) for pid in event.shown[:EXPOSURE_DEPTH]]
                places = price_places(shown)
                lists[event.session_id] = places
                if event.search_id:
                    lists[event.search_id] = places
                _add_exposure(profile, shown, catalog, age_weight, shown_to, first=event.position or 1)
            continue
        weight = EVENT_WEIGHTS.get(event.type)
        if weight is None or not event.product_id:
            continue
        product = catalog.product_of(event.product_id)
        if product is None:  # since deleted from the catalog
            continue
        weight *= age_weight
        profile.total += weight
        profile.events += 1
        if product.brand:
            profile.brands[product.brand] = profile.brands.get(product.brand, 0.0) + weight
        if product.category:
            profile.categories[product.category] = profile.categories.get(product.category, 0.0) + weight
        band = bands.band(product)
        if band is not None:
            profile.bands[band] = profile.bands.get(band, 0.0) + weight
        for term in catalog.terms(product):
            profile.values[term] = profile.values.get(term, 0.0) + weight
        picked.add(product, weight)
        if product.price is not None and product.price > 0:
            profile.log_price += weight * math.log(product.price)
            profile.log_price_mass += weight
        places = lists.get(event.search_id or "") or lists.get(event.session_id)
        if places and product.id in places:
            profile.price_place += weight * places[product.id]
            profile.price_place_mass += weight
    profile.taste = picked.sum_of_vectors(catalog)
    profile.shown_vector = shown_to.sum_of_vectors(catalog)
    profile.picked_prices = picked.price_spread()
    profile.shown_prices = shown_to.price_spread()
    return profile


class FirstPages:
    """When a search reads the shopper's profile. A later page of a result list reads it as
    of the latest first page of the same query in the same session before it: the first
    page's own logging (what it showed counts as exposure) and any click on it change the
    profile, and every page must still be cut from one order, or products repeat on page 2
    and others are on no page. Anything else reads it as of its own time. Fed searches in
    time order (add), or given them all at once (of)."""

    def __init__(self):
        # (session, query as the search log keys it) -> its latest first page's time
        self._at: dict[tuple[str, str], float] = {}

    @classmethod
    def of(cls, events: Iterable[Event], before: float) -> "FirstPages":
        pages = cls()
        for event in sorted((e for e in events if e.type == "search" and e.timestamp < before),
                            key=lambda e: e.timestamp):
            pages.add(event)
        return pages

    def add(self, search: Event) -> None:
        if (search.position or 1) == 1:
            self._at[(search.session_id, phrase_key(search.query or ""))] = search.timestamp

    def profile_time(self, now: float, query: str, first_position: int, session: str | None) -> float:
        """now, or for a later page (first_position > 1) of a query whose first page this
        session searched, that first page's time."""
        if first_position <= 1 or session is None:
            return now
        return min(now, self._at.get((session, phrase_key(query)), now))


@dataclass(frozen=True)
class PriceSpread:
    """Prices with weights, to ask what share of the weight lies at or above a price: of
    the picks, how much the shopper pays at least this much; of what they were shown, how
    much the searches offered at that price. A price limit, or a taste for the dear end,
    is the first running below the second."""

    prices: np.ndarray  # ascending
    weight_above: np.ndarray  # weight_above[i]: the share of the weight priced at prices[i] or more

    @classmethod
    def of(cls, priced: list[tuple[float, float]]) -> "PriceSpread | None":
        """From (price, weight) pairs; None when there are none, or no weight."""
        if not priced:
            return None
        priced.sort()
        prices = np.array([price for price, _ in priced])
        weights = np.array([w for _, w in priced])
        if not weights.sum() > 0:  # events so old their weight fades to nothing
            return None
        above = np.cumsum(weights[::-1])[::-1] / weights.sum()
        return cls(prices, above)

    def shares_at_or_above(self, prices: np.ndarray) -> np.ndarray:
        """For each price, the share of the weight priced at it or more (NaN for a NaN price)."""
        at = np.searchsorted(self.prices, prices, side="left")
        shares = np.append(self.weight_above, 0.0)[np.minimum(at, len(self.prices))]
        return np.where(np.isnan(prices), np.nan, shares)


class _WeightedProducts:
    """Products with summed weights (a product shown by ten searches is read once)."""

    def __init__(self):
        self.weight_of: dict[str, float] = {}
        self.price_of: dict[str, float] = {}  # those with a price

    def add(self, product: Product, weight: float) -> None:
        self.weight_of[product.id] = self.weight_of.get(product.id, 0.0) + weight
        if product.price is not None and product.price > 0:
            self.price_of[product.id] = product.price

    def sum_of_vectors(self, catalog: CatalogReader) -> np.ndarray | None:
        return catalog.weighted_sum(list(self.weight_of), list(self.weight_of.values()))

    def price_spread(self) -> "PriceSpread | None":
        return PriceSpread.of([(price, self.weight_of[pid]) for pid, price in self.price_of.items()])


def _add_exposure(profile: UserProfile, shown: Sequence[Product | None], catalog: CatalogReader,
                  weight: float, shown_to: _WeightedProducts, first: int = 1) -> None:
    """Each shown product counts as much as shoppers look at its place: the first one fully,
    the tenth by 1 / log2(11), the discount nDCG gives a place (a later page starts further
    down: `first`)."""
    for position, product in enumerate(shown, start=first):
        if product is None:
            continue
        examined = weight / math.log2(1 + position)
        profile.shown_total += examined
        for key in catalog.keys(product):
            profile.shown[key] = profile.shown.get(key, 0.0) + examined
        shown_to.add(product, examined)


def lift(mass: float, total: float, prior: float) -> float:
    """log of the smoothed share over the baseline share: 0 for no evidence, > 0 for a liking."""
    prior = max(prior, 1e-6)
    return math.log((mass + SMOOTHING * prior) / (total + SMOOTHING) / prior)
