"""The relevance ranker's features for one (query, candidate product).

  retrieval  what both legs and fusion said: scores and ranks (the keyword score relative to
             the best keyword score of the query, so queries of different lengths compare)
  coverage   the share of the query's words in the title, and in any text field
  names      the query names the candidate's brand; its model code; its product type (every
             word of the type in the query, or the type's head noun); the query tower's
             similarity to the type's name and how far it is from the best type on the list;
             the share of the top fused candidates of the same type; attribute values
  shape      title and query length
  fields     each text field's own BM25 of the query (field_bm25.py): where the words are
NaN where a feature does not apply (no brand named, a product one leg did not find), which
the tree learner handles natively.
"""
from __future__ import annotations

from collections import Counter
from functools import lru_cache
from typing import Sequence

import numpy as np

from indexer.attributes import text_values
from indexer.keyword.base import TEXT_FIELDS
from indexer.schema import Product
from search_engine.types import Candidate
from search_engine.understanding.analysis import QueryAnalysis
from search_engine.understanding.vocabulary import CatalogVocabulary, compact, normalize, words

RANKER_FEATURES = (
    "fused_score", "fused_rank", "dense_score", "dense_rank", "keyword_score", "keyword_rank",
    "title_coverage", "text_coverage",
    "brand_named", "code_match", "type_named", "type_head_named", "type_similarity", "type_similarity_gap",
    "type_share", "attribute_match",
    "title_words", "query_words",
    *(f"{name}_bm25" for name in TEXT_FIELDS),
)
TYPE_SHARE_DEPTH = 20  # the top fused candidates whose types say what the query is about
NAN = float("nan")


@lru_cache(maxsize=500_000)  # the same texts come back query after query
def _terms(text: str) -> frozenset[str]:
    return frozenset(normalize(w) for w in words(text))


@lru_cache(maxsize=200_000)
def _compact(text: str) -> str:
    return compact(text)


@lru_cache(maxsize=50_000)
def _brand_words(brand: str) -> tuple[str, ...]:
    """A brand as query understanding compares it: "Nestle" and "Nestlé" are one brand."""
    return tuple(words(brand))


def text_terms(product: Product) -> frozenset[str]:
    """Every normalized word of the product's text fields and text attributes (not the EAN)."""
    attributes = " ".join(text for name, value in product.attributes.items() if name != "ean"
                          for text in text_values(value))
    return (_terms(product.title) | _terms(product.brand) | _terms(product.category) | _terms(product.description)
            | _terms(attributes))


def _or_nan(value) -> float:
    return NAN if value is None else float(value)


def _has_value(product: Product, value: tuple[str, ...], names: tuple[str, ...]) -> bool:
    for name in names:
        held = text_values(product.attributes.get(name))
        if any(tuple(normalize(w) for w in words(part)) == value for text in held for part in text.split(",")):
            return True
    return False


def feature_matrix(analysis: QueryAnalysis, vocabulary: CatalogVocabulary, docs: Sequence[int],
                   products: Sequence[Product], candidates: Sequence[Candidate]) -> np.ndarray:
    """One row per candidate (in fused order), columns in RANKER_FEATURES order."""
    terms = set(analysis.terms)
    brands = {_brand_words(b) for b in analysis.brands}
    types = [vocabulary.type_of(doc, product) for doc, product in zip(docs, products)]
    similarity = analysis.type_similarity
    best_similarity = max((similarity[t] for t in types if t >= 0), default=0.0)
    shares = Counter(types[:TYPE_SHARE_DEPTH])
    top = min(len(types), TYPE_SHARE_DEPTH) or 1
    best_keyword = max((c.keyword_score for c in candidates if c.keyword_score is not None), default=0.0) or 1.0
    field_scores = vocabulary.field_statistics.get().scores(analysis.stems, docs, products)
    rows = np.empty((len(candidates), len(RANKER_FEATURES)), dtype=np.float32)
    for i, (doc, product, c, kind) in enumerate(zip(docs, products, candidates, types)):
        title = _terms(product.title)
        type_words = vocabulary.type_words[kind] if kind >= 0 else ()
        code_text = _compact(f"{product.title} {product.attributes.get('model', '')}")
        rows[i] = (
            c.fused_score, _or_nan(c.fused_rank), _or_nan(c.dense_score), _or_nan(c.dense_rank),
            NAN if c.keyword_score is None else c.keyword_score / best_keyword, _or_nan(c.keyword_rank),
            len(terms & title) / len(terms) if terms else 0.0,
            len(terms & vocabulary.text_terms(doc, product, text_terms)) / len(terms) if terms else 0.0,
            (1.0 if _brand_words(product.brand) in brands else 0.0) if brands else NAN,
            sum(code in code_text for code in analysis.codes) / len(analysis.codes) if analysis.codes else NAN,
            (1.0 if set(type_words) <= terms else 0.0) if type_words else NAN,
            (1.0 if type_words[-1] in terms else 0.0) if type_words else NAN,
            float(similarity[kind]) if kind >= 0 else NAN,
            float(similarity[kind] - best_similarity) if kind >= 0 else NAN,
            shares[kind] / top if kind >= 0 else NAN,
            (sum(_has_value(product, value, names) for value, names in analysis.attributes) / len(analysis.attributes)
             if analysis.attributes else NAN),
            len(title), len(analysis.terms),
            *field_scores[i],
        )
    return rows


