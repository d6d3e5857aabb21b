"""The Engine runs one search as a sequence of stages over one index snapshot, then pages."""
from __future__ import annotations

import numbers
import time
from dataclasses import dataclass, field, replace
from typing import Callable, Sequence

from encoders.towers import Towers
from indexer.keyword.base import query_terms
from indexer.keyword.factory import keyword_config
from indexer.keyword.synonyms import NO_SYNONYMS, Synonyms
from indexer.search_index import SearchIndex
from indexer.spelling import SpellingDictionary
from indexer.suggestions import catalog_phrases
from search_engine.built_once import BuiltOnce
from search_engine.fusion import DEFAULT_RRF_K, FUSION_METHODS
from search_engine.fusion_tuning import Leg
from search_engine.merchandising import Rule
from search_engine.query_cache import QueryVectorCache
from search_engine.results_page import check_fields, results_page
from search_engine.spelling import correct, correct_from_queries, relaxed
from search_engine.stages import (DenseRetrieval, Fusion, KeywordRetrieval, Matching, Merchandising, Personalization,
                                  QueryUnderstanding, RelevanceRanking, SearchContext, Stage)
from search_engine.suggest.popularity import NO_QUERIES, PopularQueries
from search_engine.suggest.suggester import CatalogIndex
from search_engine.types import Candidate, Hit, Query, SearchResult
from search_engine.understanding.ranker import RelevanceModel
from search_engine.understanding.version_vocabulary import VersionVocabulary


@dataclass(frozen=True)
class EngineConfig:
    fusion: str = "linear"
    dense_weight: float = 0.4  # linear fusion: weight of the dense leg, the keyword leg gets the rest
    rrf_k: int = DEFAULT_RRF_K
    candidates: int = 100  # how deep each leg retrieves before fusion
    ranker_depth: int = 100  # how many fused candidates the relevance ranker reorders
    # The matched set (search_engine/matching.py): products at least this similar to the query
    # match it, among the dense_match_limit most similar. The default is what `search-train
    # matching` fits for the packaged MiniLM towers on the bundled Icecat judgments; other
    # towers (their similarities run on another scale) and other catalogs: fit it again.
    dense_floor: float = 0.5
    dense_match_limit: int = 1000

    def __post_init__(self):
        # Messages start with the field's name: the API turns that into the parameter it names.
        if self.fusion not in FUSION_METHODS:
            raise ValueError(f"fusion: unknown fusion {self.fusion!r}; expected one of {', '.join(FUSION_METHODS)}")
        weight = self.dense_weight
        if isinstance(weight, bool) or not isinstance(weight, numbers.Real) or not 0.0 <= weight <= 1.0:
            raise ValueError(f"dense_weight: must be a number from 0 to 1, got {weight!r}")
        if self.ranker_depth < 1:
            raise ValueError(f"ranker_depth: must be at least 1, got {self.ranker_depth}")
        floor = self.dense_floor
        if isinstance(floor, bool) or not isinstance(floor, numbers.Real) or not -1.0 <= floor <= 1.0:
            raise ValueError(f"dense_floor: must be a similarity from -1 to 1, got {floor!r}")
        if self.dense_match_limit < 1:
            raise ValueError(f"dense_match_limit: must be at least 1, got {self.dense_match_limit}")

    @property
    def ranked_depth(self) -> int:
        """How many fused candidates the ranker reorders: no deeper than retrieval fetched for a
        first page, so serving and training (ranker_training) rank the same lists."""
        return min(self.ranker_depth, self.candidates)


class TowerMismatchError(ValueError):
    """The towers given are not the ones the index version was built with: a wrong model
    setting (bad input to say so about, as the commands do), never a search to run."""


@dataclass(frozen=True)
class Engine:
    """Searches one index version (its current snapshot per search) with these towers and
    settings. Immutable: `dataclasses.replace(engine, config=...)` gives a variant that
    shares the index and the query-vector cache.

    reranker: a personalization.PreferenceReranker, for queries with a user.
    rules: returns the merchandising rules (e.g. RuleStore.rules).
    synonyms: returns the synonym rules the keyword leg applies (e.g. SynonymStore.synonyms).
    popular_queries: returns what shoppers searched (LiveSuggestions.popular), which spelling
    correction prefers.
    ranker: the learned relevance ranker, for hybrid queries (what it is trained on); without
    one the fused order stands.
    vocabulary: this index version's catalog vocabulary for query understanding (default: one
    built from the index on first use; pass the same one to engines over the same version)."""

    index: SearchIndex
    towers: Towers
    config: EngineConfig = field(default_factory=EngineConfig)
    query_vectors: QueryVectorCache | None = None  # default: a cache over the query tower
    reranker: object | None = None
    rules: Callable[[], Sequence[Rule]] | None = None
    ranker: RelevanceModel | None = None
    vocabulary: VersionVocabulary | None = None
    spelling: BuiltOnce[SpellingDictionary] | None = None  # default: built from the index on first use
    phrases: BuiltOnce[CatalogIndex] | None = None  # the catalog's phrases for suggestions, by products holding them
    synonyms: Callable[[], Synonyms] | None = None
    popular_queries: Callable[[], PopularQueries] | None = None
    # Products holding every word below which a query's spelling is checked: where the
    # keyword leg starts to accept typos too (the version's fuzzy_below, read once).
    spelling_enough: int = field(init=False, repr=False)

    def __post_init__(self):
        expected = self.index.manifest["encoder"]["fingerprint"]
        if self.towers.product.fingerprint != expected:
            raise TowerMismatchError(
                f"index {self.index.version} was built with product tower {self.index.manifest['encoder']['model']} "
                f"(fingerprint {expected}) but the engine loaded {self.towers.product.name} "
                f"(fingerprint {self.towers.product.fingerprint}); load that model or reindex"
            )
        if self.query_vectors is None:
            object.__setattr__(self, "query_vectors", QueryVectorCache(self.towers.query))
        keyword = keyword_config(self.index.manifest)
        if self.vocabulary is None:
            object.__setattr__(self, "vocabulary", VersionVocabulary(self.index, self.towers.query.encode,
                                                                     keyword.attribute_max_chars))
        if self.spelling is None:
            object.__setattr__(self, "spelling", BuiltOnce(lambda: SpellingDictionary.build(
                self.index.snapshot().products.by_doc(), keyword.attribute_max_chars, keyword.fold_accents)))
        if self.phrases is None:
            object.__setattr__(self, "phrases", BuiltOnce(lambda: CatalogIndex.of(
                catalog_phrases(self.index.snapshot().products.by_doc()))))
        object.__setattr__(self, "spelling_enough", keyword.fuzzy_below)

    def synonyms_in_force(self) -> Synonyms:
        """The synonym rules as they are now (read once per search: edits apply to the next)."""
        return self.synonyms() if self.synonyms is not None else NO_SYNONYMS

    def stages(self, query: Query) -> list[Stage]:
        """The stages this query runs through, in order."""
        stages: list[Stage] = []
        if query.explain:
            stages.append(QueryUnderstanding(self.query_vectors, self.vocabulary))
        if query.mode in ("dense", "hybrid"):
            stages.append(DenseRetrieval(self.query_vectors, self.config.dense_match_limit))
        if query.mode in ("keyword", "hybrid"):
            stages.append(KeywordRetrieval())
        stages.append(Fusion(self.config.fusion, self.config.dense_weight, self.config.rrf_k))
        stages.append(Matching(self.query_vectors, self.config.dense_floor, self.config.dense_match_limit))
        if self.ranker is not None and query.mode == "hybrid":  # the candidates it was trained on
            stages.append(RelevanceRanking(self.ranker, self.query_vectors, self.vocabulary, self.config.ranked_depth))
        if query.user and self.reranker is not None:
            stages.append(Personalization(self.reranker))
        if self.rules is not None:
            stages.append(Merchandising(self.rules))
        return stages

    def search(self, query: Query) -> SearchResult:
        """The query's page of its matched set, in its sort order, with its facets; spelling
        corrected when no product holds every word as typed, and relaxed (words dropped) when
        nothing matches even so (search_engine/spelling.py). FieldError (naming the
        parameter) when it names attributes this catalog lacks."""
        snapshot = self.index.snapshot()  # this search reads only this view, start to end
        check_fields(query, snapshot.products.attributes)
        synonyms = self.synonyms_in_force()  # one set for the whole search

        counted: dict[str, int] = {}  # correction and relaxation ask for the same texts again

        def count_matching(text: str) -> int:
            if text not in counted:
                counted[text] = snapshot.keyword.count(text, synonyms)
            return counted[text]

        correction = None
        if query.correct_spelling:
            popular = self.popular_queries() if self.popular_queries is not None else NO_QUERIES
            dictionary = self.spelling.get()
            correction = correct_from_queries(query.text, popular, dictionary, count_matching, self.spelling_enough) \
                or correct(query.text, dictionary, count_matching, self.spelling_enough, popular.searched,
                           snapshot.keyword.count_in_titles)
        # The results are for the correction when nothing holds the words as typed, or when
        # shoppers often searched it and few products hold what was typed (a real-word typo).
        if correction is not None and (correction.original_matching == 0 or correction.searched):
            result = self._search(replace(query, text=correction.text), snapshot, synonyms)
            result.query, result.corrected_query = query, correction.text
        else:
            result = self._search(query, snapshot, synonyms)
            # Some products hold the words as typed: offer a respelling, never a re-split ("garmin": "arm in").
            result.did_you_mean = correction.text if correction is not None and not correction.reshaped else None
        # Nothing matched: require fewer words (dense mode requires none: nothing to relax).
        if result.match == "nearest" and query.correct_spelling and query.mode != "dense":
            searched = result.corrected_query or query.text
            relaxation = relaxed(searched, self.spelling.get(), count_matching, keep_specific=query.mode == "keyword")
            if relaxation is not None:
                searched = relaxation.corrected or searched  # the dense leg reads the whole (corrected) query
                loosened = self._search(replace(query, text=searched, keyword_text=relaxation.kept), snapshot,
                                        synonyms)
                loosened.query, loosened.relaxed = query, relaxation.dropped
                loosened.corrected_query = searched if searched != query.text else None
                return loosened
        return result

    def _search(self, query: Query, snapshot, synonyms: Synonyms) -> SearchResult:
        """One pass of the stages and the results page over the snapshot, for the text as given."""
        # The ranked head is as deep whatever page is asked for, so pages never disagree;
        # deeper pages come from the rest of the matched set (search_engine/results_page.py).
        context = SearchContext(query, snapshot, self.config.candidates, synonyms)
        timings: dict[str, float] = {}
        candidates: list[Candidate] = []
        for stage in self.stages(query):
            started = time.perf_counter()
            candidates = stage.run(context, candidates)
            timings[stage.name] = (time.perf_counter() - started) * 1000
        started = time.perf_counter()
        page = results_page(query, snapshot.products, context.matched, candidates, context.rules)
        timings["page"] = (time.perf_counter() - started) * 1000
        hits = [Hit(snapshot.products.product(c.doc), c.base_score if c.personal_score is None else c.personal_score,
                    c) for c in page.candidates]
        understood = context.analysis.explain() if query.explain and context.analysis is not None else None
        applied = tuple(rule.text for rule in synonyms.applied(query_terms(query.words_to_match))) \
            if query.explain and query.mode != "dense" else ()
        return SearchResult(query, hits, page.total, snapshot.version, timings, context.personalized_by,
                            context.ranked_by, understood, page.facets, context.match, synonyms=applied)

    def legs(self, query: Query, depth: int) -> tuple[list[tuple[int, float]], list[tuple[int, float]]]:
        """The dense and the keyword leg's (doc, score) lists for a query, on one snapshot
        (what fusion-weight fitting works from)."""
        context = SearchContext(query, self.index.snapshot(), depth, self.synonyms_in_force())
        dense = DenseRetrieval(self.query_vectors).run(context, [])
        keyword = KeywordRetrieval().run(context, [])
        return [(c.doc, c.dense_score) for c in dense], [(c.doc, c.keyword_score) for c in keyword]

    def served_legs(self, text: str) -> tuple[Leg, Leg]:
        """A hybrid query's dense and keyword leg, each with its part of the matched set, on
        one snapshot: what fitting scores served pages from (fusion_tuning.served_ndcg)."""
        query = Query(text)
        snapshot, synonyms = self.index.snapshot(), self.synonyms_in_force()
        deep = SearchContext(query, snapshot, max(self.config.dense_match_limit, self.config.candidates), synonyms)
        dense = [(c.doc, c.dense_score) for c in DenseRetrieval(self.query_vectors).run(deep, [])]
        fused = SearchContext(query, snapshot, self.config.candidates, synonyms)
        keyword = [(c.doc, c.keyword_score) for c in KeywordRetrieval().run(fused, [])]
        holding = snapshot.keyword.matches(query.words_to_match, synonyms)[0]
        return (Leg(dense[:self.config.candidates],
                    frozenset(doc for doc, score in dense[:self.config.dense_match_limit]
                              if score >= self.config.dense_floor)),
                Leg(keyword, frozenset(int(doc) for doc in holding)))

    def similar(self, product_id: str, k: int = 10) -> list[Hit]:
        """Nearest live products to one product by the product tower's vectors."""
        snapshot = self.index.snapshot()
        doc = snapshot.products.doc_of(product_id)
        if doc is None:
            raise KeyError(product_id)
        neighbours = [(d, score) for d, score in snapshot.vectors.search(snapshot.vectors.vector(doc), k + 1)
                      if d != doc]
        return [
            Hit(snapshot.products.product(d), score,
                Candidate(doc=d, dense_score=score, dense_rank=rank, fused_score=score))
            for rank, (d, score) in enumerate(neighbours[:k], start=1)
        ]
