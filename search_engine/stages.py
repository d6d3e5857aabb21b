"""The stages of a search. Each takes the search's context (its query and its one index
snapshot) and the candidates so far, and returns the candidates for the next stage:

    query understanding -> dense retrieval, keyword retrieval -> fusion -> matching
    -> relevance ranking -> personalization -> merchandising

and then the results page (search_engine/results_page.py) adds the rest of the matched set
below the candidates and applies the merchandising rules over that whole order.

The engine runs the ones that apply to a query in that order (search_engine/engine.py);
an evaluation swaps one by configuration. Every stage reads only the snapshot it is handed.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Protocol, Sequence

import numpy as np

from indexer.keyword.synonyms import NO_SYNONYMS, Synonyms
from indexer.snapshot import IndexSnapshot
from search_engine.fusion import fuse
from search_engine.matching import MatchedSet, contains, dense_matches, live_only, merged
from search_engine.merchandising import Rule, active_rules, pinned_ids
from search_engine.query_cache import QueryVectorCache
from search_engine.personalization.profiles import CatalogReader
from search_engine.types import Candidate, Query
from search_engine.understanding.analysis import QueryAnalysis, analyze
from search_engine.understanding.features import RANKER_FEATURES, feature_matrix
from search_engine.understanding.ranker import RelevanceModel
from search_engine.understanding.version_vocabulary import VersionVocabulary



@dataclass
class SearchContext:
    query: Query
    snapshot: IndexSnapshot
    depth: int  # how many candidates each retrieval leg fetches
    synonyms: Synonyms = NO_SYNONYMS  # the rules the keyword leg reads the query through
    personalized_by: str | None = None  # set by the personalization stage when it reranked
    analysis: QueryAnalysis | None = None  # set by the query understanding stage
    ranked_by: str | None = None  # set by the relevance ranking stage when it ranked
    matched: MatchedSet | None = None  # set by the matching stage (pins added by merchandising)
    match: str = "matched"  # "nearest" when nothing matched and the set is the nearest products
    # The dense leg's unfiltered hits as deep as matching looks, when the leg ran unfiltered:
    # one vector search serves both.
    nearest: list[tuple[int, float]] | None = None
    rules: list[Rule] = field(default_factory=list)  # the merchandising rules for this query


class Stage(Protocol):
    name: str  # its key in the result's timings

    def run(self, context: SearchContext, candidates: list[Candidate]) -> list[Candidate]: ...


def _add_leg(candidates: list[Candidate], hits: Sequence[tuple[int, float]], leg: str) -> list[Candidate]:
    """Candidates with one leg's (doc, score) hits merged in, each with its rank and score."""
    by_doc = {c.doc: c for c in candidates}
    merged = list(candidates)
    for rank, (doc, score) in enumerate(hits, start=1):
        candidate = by_doc.get(doc)
        if candidate is None:
            candidate = by_doc[doc] = Candidate(doc=doc)
            merged.append(candidate)
        setattr(candidate, f"{leg}_rank", rank)
        setattr(candidate, f"{leg}_score", score)
    return merged


def _analysis(context: SearchContext, query_vector: QueryVectorCache, vocabulary: VersionVocabulary) -> QueryAnalysis:
    """The query's analysis, made once per search by whichever stage needs it first."""
    if context.analysis is None:
        text = context.query.text
        context.analysis = analyze(text, query_vector(text), vocabulary.get())
    return context.analysis


@dataclass(frozen=True)
class QueryUnderstanding:
    """Recognises what the query names in the catalog's vocabulary; changes no candidate."""

    query_vector: QueryVectorCache
    vocabulary: VersionVocabulary
    name: str = "understand"

    def run(self, context: SearchContext, candidates: list[Candidate]) -> list[Candidate]:
        _analysis(context, self.query_vector, self.vocabulary)
        return candidates


@dataclass(frozen=True)
class DenseRetrieval:
    query_vector: QueryVectorCache
    match_depth: int = 0  # unfiltered, fetch this deep for the matching stage too
    name: str = "dense"

    def run(self, context: SearchContext, candidates: list[Candidate]) -> list[Candidate]:
        query, vectors = context.query, context.snapshot.vectors
        vector = self.query_vector(query.text)
        if query.filters.is_empty and self.match_depth:
            context.nearest = vectors.search(vector, max(context.depth, self.match_depth))
            return _add_leg(candidates, context.nearest[:context.depth], "dense")
        return _add_leg(candidates, vectors.search(vector, context.depth, query.filters), "dense")


@dataclass(frozen=True)
class KeywordRetrieval:
    name: str = "keyword"

    def run(self, context: SearchContext, candidates: list[Candidate]) -> list[Candidate]:
        query, snapshot = context.query, context.snapshot
        hits = snapshot.keyword.search(query.words_to_match, context.depth,
                                       None if query.filters.is_empty else query.filters, context.synonyms)
        live = snapshot.products.live  # a shared backend (Elasticsearch) may be ahead of this snapshot
        return _add_leg(candidates, [(doc, score) for doc, score in hits if doc in live], "keyword")


@dataclass(frozen=True)
class Matching:
    """Finds the query's matched set (search_engine/matching.py) and keeps the candidates in
    it, in their order: a product outside it is not a result, wherever a leg ranked it.
    When nothing matches, the set is the `depth` nearest products instead (said in the
    result), so a shopper who misspelt every word still sees the closest products."""

    query_vector: QueryVectorCache
    dense_floor: float
    dense_limit: int
    name: str = "match"

    def run(self, context: SearchContext, candidates: list[Candidate]) -> list[Candidate]:
        query, snapshot = context.query, context.snapshot
        dense = keyword = (np.zeros(0, dtype=np.int64), np.zeros(0))
        if query.mode != "keyword":
            vector = self.query_vector(query.text)
            dense_hits = context.nearest[:self.dense_limit] if context.nearest is not None else \
                snapshot.vectors.search(vector, self.dense_limit)
            dense = dense_matches(dense_hits, self.dense_floor)
        if query.mode != "dense":
            docs, scores = live_only(*snapshot.keyword.matches(query.words_to_match, context.synonyms),
                                     snapshot.products.size, snapshot.products.live.mask())
            if query.mode == "hybrid":  # one order for the set's rest: similarity to the query
                docs = docs[~contains(np.sort(dense[0]), docs)]  # the dense matches have theirs
                scores = snapshot.vectors.similarities(vector, docs)
            keyword = (docs, scores)
        context.matched = merged(*dense, *keyword)
        if not len(context.matched):
            nearest = dense_hits[:context.depth] if query.mode != "keyword" else [
                (doc, score) for doc, score in snapshot.keyword.search(query.words_to_match, context.depth,
                                                                       synonyms=context.synonyms)
                if doc in snapshot.products.live]
            context.matched = merged(*dense_matches(nearest, -np.inf), *keyword)
            context.match = "nearest"
        inside = contains(context.matched.docs, [c.doc for c in candidates])
        return [c for c, ok in zip(candidates, inside) if ok]


@dataclass(frozen=True)
class Fusion:
    method: str  # "linear" or "rrf"
    dense_weight: float
    rrf_k: int
    name: str = "fusion"

    def run(self, context: SearchContext, candidates: list[Candidate]) -> list[Candidate]:
        dense = _leg(candidates, "dense")
        keyword = _leg(candidates, "keyword")
        if context.query.mode == "dense":
            fused = dense
        elif context.query.mode == "keyword":
            fused = keyword
        else:
            fused = fuse(self.method, dense, keyword, self.dense_weight, self.rrf_k)
        by_doc = {c.doc: c for c in candidates}
        ranked = []
        for rank, (doc, score) in enumerate(fused, start=1):
            candidate = by_doc[doc]
            candidate.fused_score, candidate.fused_rank = score, rank
            ranked.append(candidate)
        return ranked


def _leg(candidates: list[Candidate], leg: str) -> list[tuple[int, float]]:
    ranked = sorted((c for c in candidates if getattr(c, f"{leg}_rank") is not None),
                    key=lambda c: getattr(c, f"{leg}_rank"))
    return [(c.doc, getattr(c, f"{leg}_score")) for c in ranked]


@dataclass(frozen=True)
class RelevanceRanking:
    """The learned relevance ranker over the top `depth` fused candidates; the rest keep their
    fused order below them. Uses the query's analysis, made here if no stage made it yet."""

    model: RelevanceModel
    query_vector: QueryVectorCache
    vocabulary: VersionVocabulary
    depth: int
    name: str = "relevance"

    def run(self, context: SearchContext, candidates: list[Candidate]) -> list[Candidate]:
        top, rest = candidates[:self.depth], candidates[self.depth:]
        if not top:
            return candidates
        analysis = _analysis(context, self.query_vector, self.vocabulary)
        if analysis.kind not in self.model.ranked_kinds:  # cross-validation said it does not help these
            return candidates
        products = context.snapshot.products
        docs = [c.doc for c in top]
        rows = feature_matrix(analysis, self.vocabulary.get(), docs, [products.product(d) for d in docs], top)
        scores = self.model.score(rows)
        contributions = self.model.contributions(rows) if context.query.explain else None
        order = np.argsort(-scores, kind="stable")  # ties keep the fused order
        for rank, i in enumerate(order, start=1):
            candidate = top[i]
            candidate.relevance_score, candidate.relevance_rank = float(scores[i]), rank
            if contributions is not None:
                candidate.relevance_contributions = {
                    name: round(float(value), 6) for name, value in zip((*RANKER_FEATURES, "bias"), contributions[i])}
        context.ranked_by = self.model.version
        return [top[i] for i in order] + rest


@dataclass(frozen=True)
class Personalization:
    """The shopper's preference model over the top candidates; a shopper without usable
    events keeps exactly the unpersonalized order."""

    reranker: object  # a personalization.PreferenceReranker
    name: str = "personalize"

    def run(self, context: SearchContext, candidates: list[Candidate]) -> list[Candidate]:
        query, products = context.query, context.snapshot.products
        model = self.reranker.model  # one model for the whole search, even if a newer one is swapped in
        catalog = CatalogReader.of_snapshot(context.snapshot)
        profile = self.reranker.profile(query.user, catalog, model=model, page=query)
        if profile.empty:
            return candidates
        context.personalized_by = model.version
        return self.reranker.rerank(query.text, profile, candidates, products.product, catalog, query.explain,
                                    model=model)


@dataclass(frozen=True)
class Merchandising:
    """Finds the merchant's rules for this query; their pins join the matched set. The
    results page applies the rules over the whole relevance order (search_engine/results_page.py)."""

    rules: Callable[[], Sequence[Rule]]  # e.g. RuleStore.rules
    name: str = "merchandising"

    def run(self, context: SearchContext, candidates: list[Candidate]) -> list[Candidate]:
        products = context.snapshot.products
        context.rules = active_rules(context.query.text, self.rules())
        pinned = [doc for doc in map(products.doc_of, pinned_ids(context.rules)) if doc is not None]
        if pinned:  # a pin says the product matches this query
            docs = np.array(pinned, dtype=np.int64)
            context.matched = context.matched.with_docs(docs, np.full(len(docs), -np.inf))
        return candidates
