"""The matched set: which products a query matches, before any filter.

- keyword: the products holding every query word as the keyword leg reads it (stemmed, in
  any field; when fewer than `fuzzy_below` products do, a word that fewer than
  `fuzzy_below` products hold may match by a typo of it in title, brand or model): the
  keyword backend's `matches`.
- dense: the products whose similarity to the query is at least the dense floor, among the
  `dense_match_limit` most similar (a cap, so a vague query costs at most that many).
- hybrid: both.
Merchandising pins add their products. The results page takes this set, applies the
query's filters, and everything it reports (total, pages, sort orders, facet counts) is
about that one set (search_engine/results_page.py, docs/relevance.md "The matched set").

Why these rules: requiring every word is what storefront engines do by default (Algolia,
Meilisearch's "last", Typesense's drop_tokens_threshold), and it keeps a price-sorted page
free of products that share one word with the query; the dense floor brings back the
products that say it in other words ("notebook" for "laptop"). The floor depends on the
towers and the catalog: `search-train matching` fits it on a shop's judgments.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class MatchedSet:
    docs: np.ndarray  # ascending, unique, live in the snapshot, before filters
    scores: np.ndarray  # per doc, what orders it below the ranked candidates: similarity, or BM25 in keyword mode

    def __len__(self) -> int:
        return len(self.docs)

    def with_docs(self, extra: np.ndarray, extra_scores: np.ndarray) -> "MatchedSet":
        """This set with more docs (pinned products); docs already in it keep their score."""
        new = ~contains(self.docs, extra)
        return merged(self.docs, self.scores, extra[new], extra_scores[new])


def contains(sorted_docs: np.ndarray, docs: np.ndarray) -> np.ndarray:
    """For each of docs, whether it is in sorted_docs (ascending): np.isin without sorting
    the big side again, which is most of a page's cost for a large matched set."""
    docs = np.asarray(docs, dtype=np.int64)
    if not len(sorted_docs):
        return np.zeros(len(docs), dtype=bool)
    at = np.minimum(np.searchsorted(sorted_docs, docs), len(sorted_docs) - 1)
    return sorted_docs[at] == docs


def merged(docs_a: np.ndarray, scores_a: np.ndarray, docs_b: np.ndarray, scores_b: np.ndarray) -> MatchedSet:
    """The union of two (doc, score) sets; a doc in both keeps its score from the first."""
    docs = np.concatenate([docs_a, docs_b]).astype(np.int64)
    scores = np.concatenate([scores_a, scores_b]).astype(np.float64)
    unique, first = np.unique(docs, return_index=True)  # np.unique keeps the first occurrence's index
    return MatchedSet(unique, scores[first])


def dense_matches(hits: list[tuple[int, float]], floor: float) -> tuple[np.ndarray, np.ndarray]:
    """The dense hits at or above the floor, as (docs, similarities)."""
    kept = [(doc, score) for doc, score in hits if score >= floor]
    return (np.array([d for d, _ in kept], dtype=np.int64), np.array([s for _, s in kept], dtype=np.float64))


def live_only(docs: np.ndarray, scores: np.ndarray, size: int, live_mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The docs a snapshot holds (a shared backend may be ahead of it) and that are live."""
    inside = docs < size
    docs, scores = docs[inside], scores[inside]
    keep = live_mask[docs]
    return docs[keep], scores[keep]
