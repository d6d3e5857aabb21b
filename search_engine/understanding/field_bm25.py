"""Per-field BM25: how well each field of a product alone matches the query, for the ranker.

The keyword leg scores the fields as one document (term-centric BM25F), which is the right
retrieval score but hides where the words are: a query word in the title says more about
what a product is than the same word in a compatibility list. These scores say it, one per
field (indexer.keyword.base.TEXT_FIELDS), each with that field's own term statistics over
the version's live products (Lucene's BM25 form, k1 1.2, b 0.75), and let the ranker learn
from a shop's judgments how much each is worth. Statistics and word counts come from the
index version's products at build time; a product added since (a live update) is counted
from its text when met.

Words: the keyword leg's words (query_terms: lower-cased, split at anything not a letter or
digit), accents folded and stemmed with its English stemmer (indexer.keyword.stemming, which
always folds), in every field alike: the keyword leg's combined field reads them so, though
its separate model field is not stemmed.

Each field's score is divided by the most the query's words that the field holds anywhere
in the catalog could score there (each one's idf times k1 + 1), so it lies in [0, 1) and
queries of different lengths compare; a word no product's field holds (a typo) does not
lower it. NaN for a query with no words, as for any feature that does not apply.
"""
from __future__ import annotations

from array import array
from collections import Counter
from dataclasses import dataclass
from typing import Sequence

import numpy as np

from indexer.keyword.base import TEXT_FIELDS, fold_accents, product_texts, query_terms
from indexer.keyword.stemming import stem
from indexer.schema import Product

K1, B = 1.2, 0.75  # Lucene's (and tantivy's) BM25 defaults


def _stems(text: str) -> list[str]:
    return [stem(word) for word in query_terms(fold_accents(text))]


def field_words(product: Product, attribute_max_chars: int) -> list[list[str]]:
    """Each field's stemmed words (TEXT_FIELDS order)."""
    return [_stems(text) for text in product_texts(product, attribute_max_chars).values()]


def query_stems(text: str) -> tuple[str, ...]:
    """The query's distinct words as the fields are counted."""
    return tuple(dict.fromkeys(_stems(text)))


def idf(documents: int, document_frequency: np.ndarray) -> np.ndarray:
    """Lucene's idf: never negative, however common the word."""
    return np.log(1 + (documents - document_frequency + 0.5) / (document_frequency + 0.5))


def bm25_share(frequency: np.ndarray, length: np.ndarray, mean_length: np.ndarray,
               document_frequency: np.ndarray, documents: int) -> np.ndarray:
    """Per-field BM25 over the most it could be. frequency (products, fields, words): each
    query word's count in each field; length (products, fields); mean_length (fields,);
    document_frequency (fields, words): products whose field holds the word. Words a field
    holds nowhere count neither way."""
    weight = np.where(document_frequency > 0, idf(documents, document_frequency), 0.0)  # (fields, words)
    norm = K1 * (1 - B + B * length / np.where(mean_length > 0, mean_length, 1.0))  # (products, fields)
    per_word = weight * frequency * (K1 + 1) / (frequency + norm[:, :, None])
    best = (weight * (K1 + 1)).sum(axis=1)  # (fields,)
    return per_word.sum(axis=2) / np.where(best > 0, best, 1.0)


@dataclass(frozen=True)
class _Postings:
    """One field's word counts, by word: the docs holding word w are
    docs[starts[w]:starts[w + 1]] (ascending), with their counts alongside."""

    starts: np.ndarray  # (words + 1,)
    docs: np.ndarray
    counts: np.ndarray

    def counts_in(self, word: int, docs: np.ndarray) -> np.ndarray:
        """The word's count in each of these docs (0 where absent)."""
        start, end = self.starts[word], self.starts[word + 1]
        held = self.docs[start:end]
        if not len(held):
            return np.zeros(len(docs), dtype=np.int32)
        at = np.minimum(np.searchsorted(held, docs), len(held) - 1)
        return np.where(held[at] == docs, self.counts[start:end][at], 0)


@dataclass(frozen=True)
class FieldStatistics:
    """Each field's term statistics and word counts over one index version's products, for
    the docs it was built with. Immutable once built: every search thread reads it as is."""

    documents: int  # live products at build time
    built_docs: int  # docs below this were counted at build time (live or dead)
    word_ids: dict[str, int]  # stemmed word -> its column
    document_frequency: np.ndarray  # (fields, words): products whose field holds the word
    mean_length: np.ndarray  # (fields,): mean words per live product
    lengths: np.ndarray  # (built_docs, fields): each doc's words per field
    postings: tuple[_Postings, ...]  # per field
    attribute_max_chars: int  # as the version's keyword leg reads attribute values

    @classmethod
    def build(cls, products: Sequence[Product | None], attribute_max_chars: int) -> "FieldStatistics":
        """products[doc], None for a dead doc."""
        word_ids: dict[str, int] = {}
        # Per field, (word, doc, count) in flat int arrays: a large catalog's postings as
        # Python tuples would take ten times the memory.
        columns = [tuple(array("i") for _ in range(3)) for _ in TEXT_FIELDS]
        lengths = np.zeros((len(products), len(TEXT_FIELDS)), dtype=np.int32)
        documents = 0
        for doc, product in enumerate(products):
            if product is None:
                continue
            documents += 1
            for f, stems in enumerate(field_words(product, attribute_max_chars)):
                lengths[doc, f] = len(stems)
                words, docs, counts = columns[f]
                for word, count in Counter(stems).items():
                    words.append(word_ids.setdefault(word, len(word_ids)))
                    docs.append(doc)
                    counts.append(count)
        postings, frequency = [], np.zeros((len(TEXT_FIELDS), len(word_ids)), dtype=np.int32)
        for f, (words, docs, counts) in enumerate(columns):
            words, docs, counts = (np.asarray(column) for column in (words, docs, counts))
            order = np.lexsort((docs, words))  # by word, then doc
            per_word = np.bincount(words, minlength=len(word_ids))
            frequency[f] = per_word
            postings.append(_Postings(np.concatenate([[0], np.cumsum(per_word)]), docs[order], counts[order]))
        live = np.array([p is not None for p in products], dtype=bool)
        mean_length = lengths[live].mean(axis=0) if documents else np.zeros(len(TEXT_FIELDS))
        return cls(documents, len(products), word_ids, frequency, mean_length, lengths, tuple(postings),
                   attribute_max_chars)

    def scores(self, stems: Sequence[str], docs: Sequence[int], products: Sequence[Product]) -> np.ndarray:
        """(products, fields): each product's BM25 per field (TEXT_FIELDS order) for these
        query stems, over the most they could score there (bm25_share); NaN for no stems."""
        if not stems:
            return np.full((len(products), len(TEXT_FIELDS)), np.nan, dtype=np.float32)
        ids = [self.word_ids.get(word) for word in stems]
        docs = np.asarray(docs, dtype=np.int64)
        frequency = np.zeros((len(docs), len(TEXT_FIELDS), len(stems)))
        length = np.zeros((len(docs), len(TEXT_FIELDS)))
        counted = docs < self.built_docs
        length[counted] = self.lengths[docs[counted]]
        for s, word in enumerate(ids):
            if word is not None:
                for f, postings in enumerate(self.postings):
                    frequency[counted, f, s] = postings.counts_in(word, docs[counted])
        for i in np.flatnonzero(~counted):  # added since the build: counted from its text
            for f, words in enumerate(field_words(products[i], self.attribute_max_chars)):
                length[i, f] = len(words)
                frequency[i, f] = [words.count(word) for word in stems]
        document_frequency = np.array([[self.document_frequency[f, w] if w is not None else 0 for w in ids]
                                       for f in range(len(TEXT_FIELDS))])
        return bm25_share(frequency, length, self.mean_length, document_frequency,
                          self.documents).astype(np.float32)
