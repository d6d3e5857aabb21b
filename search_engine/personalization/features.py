"""The preference model's features for one (shopper, query, candidate product).

Four families, as a search team would name them:
  retrieval   what the engine already knows: dense, keyword and fused scores and ranks; the
              "fused" pair is the order it reranks, the relevance ranker's where one ranked
  match       how the query meets the product: title term coverage, brand named in the query
  shopper     the shopper's affinity (smoothed log-lift, see profiles.lift) to the product's
              brand, category and price band, how far the product's price band is from the
              shopper's usual one, and how much history there is at all
  product     popularity, clicks over expected clicks and conversion from everyone's events
Missing values (a product only one leg found) are NaN, which the tree learner handles natively.
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
from search_engine.personalization.profiles import PRICE_BANDS, PriceBands, UserProfile, lift
from search_engine.types import Candidate

FEATURES = (
    "fused_score", "fused_rank", "dense_score", "dense_rank", "keyword_score", "keyword_rank",
    "title_match", "brand_in_query",
    "user_brand_affinity", "user_category_affinity", "user_price_band_affinity", "user_price_band_distance",
    "user_history",
    "popularity", "click_over_expected", "conversion",
)
SHOPPER_FEATURES = tuple(f for f in FEATURES if f.startswith("user_"))
_TOKEN = re.compile(r"\w+")


@lru_cache(maxsize=200_000)  # the same titles come back query after query
def tokens(text: str | None) -> frozenset[str]:
    return frozenset(_TOKEN.findall((text or "").lower()))


@dataclass(frozen=True)
class CatalogPriors:
    """Each brand's and category's share of the catalog: what 'no preference' looks like."""

    brands: Mapping[str, float]
    categories: Mapping[str, float]

    @classmethod
    def fit(cls, products: Iterable[Product]) -> "CatalogPriors":
        products = [p for p in products if p is not None]
        brands = Counter(p.brand for p in products if p.brand)
        categories = Counter(p.category for p in products if p.category)
        n = max(1, len(products))
        return cls({b: c / n for b, c in brands.items()}, {c: k / n for c, k in categories.items()})


def _or_nan(value):
    return float("nan") if value is None else float(value)


def feature_matrix(query: str, products: Sequence[Product], candidates: Sequence[Candidate],
                   profile: UserProfile, stats: ProductStats, bands: PriceBands, priors: CatalogPriors) -> np.ndarray:
    """One row per candidate, columns in FEATURES order."""
    query_tokens = tokens(query)
    position_ctr = stats.position_ctr()
    mean_band = profile.mean_band()
    band_mass = sum(profile.bands.values())
    history = math.log1p(profile.events)
    rows = np.empty((len(candidates), len(FEATURES)), dtype=np.float32)
    for i, (product, c) in enumerate(zip(products, candidates)):
        title = tokens(product.title)
        brand_tokens = tokens(product.brand)
        band = bands.band(product)
        if profile.empty:
            brand_aff = category_aff = band_aff = 0.0
        else:
            brand_aff = lift(profile.brands.get(product.brand, 0.0), profile.total,
                             priors.brands.get(product.brand, 1e-4)) if product.brand else 0.0
            category_aff = lift(profile.categories.get(product.category, 0.0), profile.total,
                                priors.categories.get(product.category, 1e-4)) if product.category else 0.0
            band_aff = lift(profile.bands.get(band, 0.0), band_mass, 1 / PRICE_BANDS) if band is not None and band_mass else 0.0
        rows[i] = (
            c.base_score, _or_nan(c.base_rank), _or_nan(c.dense_score), _or_nan(c.dense_rank),
            _or_nan(c.keyword_score), _or_nan(c.keyword_rank),
            len(query_tokens & title) / len(query_tokens) if query_tokens else 0.0,
            1.0 if brand_tokens and brand_tokens <= query_tokens else 0.0,
            brand_aff, category_aff, band_aff,
            abs(band - mean_band) if band is not None and mean_band is not None else float("nan"),
            history,
            *stats.features(product.id, position_ctr),
        )
    return rows
