"""Per-field BM25: how well each field of a product alone matches the query, for the ranker.

The keyword leg scores the fields as one document (term-centric BM25F), which is the right
retrieval score but hides where the words are: a query word in the title says more about
what a product is than the same word in a compatibility list. These scores say it, one per
field (indexer.keyword.base.TEXT_FIELDS), each with that field's own term statistics
(Lucene's BM25, as tantivy and Elasticsearch score a single field), and let the ranker learn
from a shop's judgments how much each is worth. Statistics come from the index version's
products at build time; a product updated since is scored from its current text.

Words are compared as the keyword leg compares them: lower-cased, accents folded, stemmed.
Each score is divided by the most the query's words could score in any field (each word's
idf times k1 + 1), so it lies in [0, 1) and queries of different lengths compare.
"""
from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass
from typing import Iterable, Mapping, Sequence

import numpy as np

from indexer.keyword.base import TEXT_FIELDS, fold_accents, product_texts, query_terms
from indexer.keyword.stemming import stem
from indexer.schema import Product

K1, B = 1.2, 0.75  # Lucene's (and tantivy's) BM25 defaults, as the keyword leg scores
DOCS_CACHED = 200_000  # products whose fields' word counts are remembered (a catalog's worth)


def _stems(text: str) -> list[str]:
    return [stem(word) for word in query_terms(fold_accents(text))]


def field_terms(product: Product, attribute_max_chars: int) -> tuple[dict[str, tuple[int, ...]], tuple[int, ...]]:
    """The product's words (stemmed), each with how often each field (TEXT_FIELDS order)
    holds it, and each field's number of words."""
    per_field = [_stems(text) for text in product_texts(product, attribute_max_chars).values()]
    counts: dict[str, list[int]] = {}
    for f, stems in enumerate(per_field):
        for word in stems:
            counts.setdefault(word, [0] * len(per_field))[f] += 1
    return {word: tuple(c) for word, c in counts.items()}, tuple(len(stems) for stems in per_field)


def query_stems(text: str) -> tuple[str, ...]:
    """The query's distinct words as the fields hold them."""
    return tuple(dict.fromkeys(_stems(text)))


def idf(documents: int, document_frequency: int) -> float:
    """Lucene's idf: never negative, however common the word."""
    return math.log(1 + (documents - document_frequency + 0.5) / (document_frequency + 0.5))


@dataclass(frozen=True)
class FieldStatistics:
    """Each field's term statistics over one index version's products. Immutable once built."""

    documents: int
    mean_length: Mapping[str, float]  # field -> mean words per product
    document_frequency: Mapping[str, Mapping[str, int]]  # field -> stemmed word -> products holding it there
    attribute_max_chars: int  # as the version's keyword leg reads attribute values

    @classmethod
    def build(cls, products: Iterable[Product | None], attribute_max_chars: int) -> "FieldStatistics":
        frequency = {name: Counter() for name in TEXT_FIELDS}
        lengths = Counter()
        documents = 0
        for product in products:
            if product is None:
                continue
            documents += 1
            for name, text in product_texts(product, attribute_max_chars).items():
                stems = _stems(text)
                frequency[name].update(set(stems))
                lengths[name] += len(stems)
        return cls(documents, {name: lengths[name] / documents if documents else 0.0 for name in TEXT_FIELDS},
                   {name: dict(counts) for name, counts in frequency.items()}, attribute_max_chars)

    def __post_init__(self):
        object.__setattr__(self, "_by_doc", {})  # doc -> field_terms: a doc always holds one product

    def _terms_of(self, doc: int, product: Product) -> tuple[dict[str, tuple[int, ...]], tuple[int, ...]]:
        terms = self._by_doc.get(doc)
        if terms is None:
            terms = field_terms(product, self.attribute_max_chars)
            if len(self._by_doc) < DOCS_CACHED:  # racing threads store the same value
                self._by_doc[doc] = terms
        return terms

    def scores(self, stems: Sequence[str], docs: Sequence[int], products: Sequence[Product]) -> np.ndarray:
        """(products, fields): each product's BM25 per field (TEXT_FIELDS order) for these
        query stems, over the most the stems could score (all 0 for a query with no words)."""
        out = np.zeros((len(products), len(TEXT_FIELDS)), dtype=np.float32)
        if not stems or not len(products):
            return out
        weights = np.array([[idf(self.documents, self.document_frequency[name].get(word, 0)) for word in stems]
                            for name in TEXT_FIELDS])  # (fields, stems)
        frequency = np.zeros((len(products), len(TEXT_FIELDS), len(stems)))
        length = np.zeros((len(products), len(TEXT_FIELDS)))
        for i, (doc, product) in enumerate(zip(docs, products)):
            counts, length[i] = self._terms_of(doc, product)
            for s, word in enumerate(stems):
                held = counts.get(word)
                if held is not None:
                    frequency[i, :, s] = held
        mean = np.array([self.mean_length[name] for name in TEXT_FIELDS])
        norm = K1 * (1 - B + B * length / np.where(mean > 0, mean, 1.0))  # (products, fields)
        per_word = weights * frequency * (K1 + 1) / (frequency + norm[:, :, None])  # 0 where the word is absent
        best = (weights * (K1 + 1)).sum(axis=1)  # (fields,)
        return (per_word.sum(axis=2) / np.where(best > 0, best, 1.0)).astype(np.float32)
