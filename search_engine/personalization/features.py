"""The preference model's features for one (shopper, query, candidate product).

Four families, as a search team would name them:
  retrieval   what the engine already knows: dense, keyword and fused scores and ranks; the
              "fused" pair is the order it reranks, the relevance ranker's where one ranked
  match       how the query meets the product: title term coverage, brand named in the query
  shopper     the shopper's affinity (smoothed log-lift against their exposure, see profiles)
              to the product's brand and category, the strongest liking and disliking among
              the product's facet values (colour, connectivity, material: any attribute the
              catalog declares), its price band's affinity and distance from their usual
              band; the product's similarity to their taste vector and to what they pick
              beyond what they are shown (both against the list's mean); where its price sits
              in this list against where the shopper's picks sat in theirs, and its log price
              against theirs; the share of their picks, and of what they were shown, at least
              as dear as it; how much history there is at all
  product     popularity, clicks over expected clicks and conversion from everyone's events
Missing values (a product only one leg found, a shopper with no priced picks) are NaN, which
the tree learner handles natively.
"""
from __future__ import annotations

import math
import re
from collections import Counter
from dataclasses import dataclass
from functools import lru_cache
from typing import Iterable, Mapping, Sequence

import numpy as np

from indexer.schema import Product
from search_engine.personalization.product_stats import ProductStats
from search_engine.personalization.profiles import (
    PRICE_BANDS, CatalogReader, PriceBands, PriceSpread, UserProfile, brand_key, category_key, lift, price_places)
from search_engine.types import Candidate

FEATURES = (
    "fused_score", "fused_rank", "dense_score", "dense_rank", "keyword_score", "keyword_rank",
    "title_match", "brand_in_query",
    "user_brand_affinity", "user_brand_share", "user_category_affinity", "user_category_share",
    "user_value_affinity_max", "user_value_affinity_min", "user_value_share_max",
    "user_price_band_affinity", "user_price_band_distance",
    "user_taste_similarity", "user_taste_contrast",
    "price_place", "user_price_place_gap", "user_log_price_gap", "user_picks_as_dear", "user_shown_as_dear",
    "user_history",
    "popularity", "click_over_expected", "conversion",
)
SHOPPER_FEATURES = tuple(f for f in FEATURES if f.startswith("user_"))
_TASTE, _CONTRAST = FEATURES.index("user_taste_similarity"), FEATURES.index("user_taste_contrast")
_PICKS_AS_DEAR, _SHOWN_AS_DEAR = FEATURES.index("user_picks_as_dear"), FEATURES.index("user_shown_as_dear")
_TOKEN = re.compile(r"\w+")


@lru_cache(maxsize=200_000)  # the same titles come back query after query
def tokens(text: str | None) -> frozenset[str]:
    return frozenset(_TOKEN.findall((text or "").lower()))


@dataclass(frozen=True)
class CatalogPriors:
    """Each brand's, category's and facet value's share of the catalog: what 'no preference' looks like."""

    brands: Mapping[str, float]
    categories: Mapping[str, float]
    values: Mapping[str, float]  # facet term -> share of products holding it

    @classmethod
    def fit(cls, products: Iterable[Product], catalog: CatalogReader = CatalogReader(lambda pid: None)) -> "CatalogPriors":
        products = [p for p in products if p is not None]
        brands = Counter(p.brand for p in products if p.brand)
        categories = Counter(p.category for p in products if p.category)
        values = Counter(term for p in products for term in catalog.terms(p))
        n = max(1, len(products))
        return cls({b: c / n for b, c in brands.items()}, {c: k / n for c, k in categories.items()},
                   {t: k / n for t, k in values.items()})


def order_prior(ranks: np.ndarray, scale: float) -> np.ndarray:
    """The unpersonalized order as a score, what the model learns a correction to: every
    place counts, the top ones most (scale * -log2(1 + rank), the discount nDCG uses)."""
    return -scale * np.log2(1.0 + np.asarray(ranks, dtype=np.float64))


def _or_nan(value):
    return float("nan") if value is None else float(value)


def likings(profile: UserProfile, product: Product, priors: CatalogPriors,
            catalog: CatalogReader) -> dict[str, tuple[float, float]]:
    """The shopper's (affinity, share) for each of the product's facet values ("name=value"),
    its brand (brand_key) and its category (category_key)."""
    values, brand, category = _likings(profile, product, priors, catalog, {})
    found = dict(zip(catalog.terms(product), values))
    if brand is not None:
        found[brand_key(product.brand)] = brand
    if category is not None:
        found[category_key(product.category)] = category
    return found


_NO_LIKING = (0.0, 0.0)


def _likings(profile: UserProfile, product: Product, priors: CatalogPriors, catalog: CatalogReader,
             known: dict[str, tuple[float, float]]) -> tuple[list[tuple[float, float]], tuple | None, tuple | None]:
    """(the facet values' (affinity, share) in catalog.terms order, the brand's, the
    category's: None where the product has none). known: those already worked out for this
    shopper, by key; what is worked out here is added (a list's products share most)."""

    def liking(key: str, mass: float, share: float) -> tuple[float, float]:
        found = known.get(key)
        if found is None:
            found = known[key] = profile.liking(mass, key, share)
        return found

    values = [liking(term, profile.values.get(term, 0.0), priors.values.get(term, 1e-4))
              for term in catalog.terms(product)]
    brand = liking(brand_key(product.brand), profile.brands.get(product.brand, 0.0),
                   priors.brands.get(product.brand, 1e-4)) if product.brand else None
    category = liking(category_key(product.category), profile.categories.get(product.category, 0.0),
                      priors.categories.get(product.category, 1e-4)) if product.category else None
    return values, brand, category


def _centred_similarity(direction: np.ndarray | None, vectors: np.ndarray | None,
                        context_vectors: np.ndarray | None, count: int) -> np.ndarray:
    """Cosine of each of the `count` candidates (rows of `vectors`, NaN where unknown; None:
    none known) with the direction, less the mean over the list it is read against."""
    if direction is None or vectors is None:
        return np.full(count, np.nan, dtype=np.float32)
    direction = direction.astype(np.float32)
    similarity = vectors @ direction
    if context_vectors is None:  # nothing in the list to read it against
        return similarity
    around = similarity if context_vectors is vectors else context_vectors @ direction
    known = ~np.isnan(around)
    if known.any():
        similarity = similarity - around[known].mean()
    return similarity


def feature_matrix(query: str, products: Sequence[Product], candidates: Sequence[Candidate],
                   profile: UserProfile, stats: ProductStats, bands: PriceBands, priors: CatalogPriors,
                   catalog: CatalogReader, context: Sequence[Product] | None = None) -> np.ndarray:
    """One row per candidate, columns in FEATURES order. context: the list that price places
    and taste similarities are read against, the candidates the model reranks when serving
    (default: the products given); training passes the replayed candidates of the query, so
    a logged page of 10 is read against the same list serving would read it against."""
    context = products if context is None else context
    query_tokens = tokens(query)
    mean_band = profile.mean_band()
    band_mass = sum(profile.bands.values())
    history = math.log1p(profile.events)
    places = price_places(context)
    user_place, user_log_price = profile.mean_price_place(), profile.mean_log_price()
    vectors = catalog.vector_rows([p.id for p in products])
    context_vectors = vectors if context is products else catalog.vector_rows([p.id for p in context])
    taste = _centred_similarity(profile.taste_unit(), vectors, context_vectors, len(products))
    contrast = _centred_similarity(profile.taste_direction(), vectors, context_vectors, len(products))
    known: dict[str, tuple[float, float]] = {}
    table = []  # one tuple per row, made an array once (row by row into an array is slower)
    for product, c in zip(products, candidates):
        title = tokens(product.title)
        brand_tokens = tokens(product.brand)
        band = bands.band(product)
        if profile.empty:
            values, brand, category = [], None, None
        else:
            values, brand, category = _likings(profile, product, priors, catalog, known)
        brand_aff, brand_share = brand or _NO_LIKING
        category_aff, category_share = category or _NO_LIKING
        affinities = [a for a, _ in values]
        band_aff = lift(profile.bands.get(band, 0.0), band_mass, 1 / PRICE_BANDS) if band is not None and band_mass else 0.0
        place = places.get(product.id)
        priced = product.price is not None and product.price > 0
        table.append((
            c.base_score, _or_nan(c.base_rank), _or_nan(c.dense_score), _or_nan(c.dense_rank),
            _or_nan(c.keyword_score), _or_nan(c.keyword_rank),
            len(query_tokens & title) / len(query_tokens) if query_tokens else 0.0,
            1.0 if brand_tokens and brand_tokens <= query_tokens else 0.0,
            brand_aff, brand_share, category_aff, category_share,
            max(affinities, default=0.0), min(affinities, default=0.0),
            max((share for _, share in values), default=0.0),
            band_aff,
            abs(band - mean_band) if band is not None and mean_band is not None else float("nan"),
            0.0, 0.0,  # taste and contrast: their columns are filled below
            _or_nan(place),
            place - user_place if place is not None and user_place is not None else float("nan"),
            math.log(product.price) - user_log_price if priced and user_log_price is not None else float("nan"),
            0.0, 0.0,  # the picks' and the shown products' share as dear: filled below
            history,
            *stats.features(product.id),
        ))
    rows = np.array(table, dtype=np.float32).reshape(len(table), len(FEATURES))
    rows[:, _TASTE] = taste
    rows[:, _CONTRAST] = contrast
    prices = np.array([p.price if p.price is not None and p.price > 0 else np.nan for p in products], dtype=np.float64)
    rows[:, _PICKS_AS_DEAR] = _share_as_dear(profile.picked_prices, prices)
    rows[:, _SHOWN_AS_DEAR] = _share_as_dear(profile.shown_prices, prices)
    return rows


def _share_as_dear(spread: PriceSpread | None, prices: np.ndarray) -> np.ndarray:
    """PriceSpread.shares_at_or_above of the prices (NaN for an unpriced product, or none to read)."""
    return spread.shares_at_or_above(prices) if spread is not None else np.full(len(prices), np.nan)


def tastes_of(profile: UserProfile, product: Product, priors: CatalogPriors, catalog: CatalogReader,
              limit: int = 3) -> dict[str, float]:
    """For explain: the product's brand, category and facet values the shopper likes or
    dislikes most, with their affinities (strongest first)."""
    if profile.empty:
        return {}
    found = {key: affinity for key, (affinity, _) in likings(profile, product, priors, catalog).items()}
    strongest = sorted(found.items(), key=lambda item: -abs(item[1]))[:limit]
    return {key: round(value, 4) for key, value in strongest if abs(value) > 1e-3}
