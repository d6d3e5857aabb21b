"""The Engine runs one search: retrieve with each leg, fuse, personalize, merchandise, page, and say why."""
from __future__ import annotations

import numbers
import time
from dataclasses import dataclass, replace

from encoders.towers import Towers
from indexer.search_index import SearchIndex
from search_engine.fusion import DEFAULT_RRF_K, linear_fusion, reciprocal_rank_fusion
from search_engine.merchandising import apply_rules
from search_engine.retrievers import DenseRetriever, KeywordRetriever, QueryVectorCache
from search_engine.types import Candidate, Hit, Query, SearchResult

FUSION_METHODS = ("rrf", "linear")
MAX_DEPTH = 1000


@dataclass(frozen=True)
class EngineConfig:
    fusion: str = "linear"
    dense_weight: float = 0.4  # linear fusion: weight of the dense leg, the keyword leg gets the rest
    rrf_k: int = DEFAULT_RRF_K
    candidates: int = 100  # how deep each leg retrieves before fusion

    def __post_init__(self):
        # Messages start with the field's name: the API turns that into the parameter it names.
        if self.fusion not in FUSION_METHODS:
            raise ValueError(f"fusion: unknown fusion {self.fusion!r}; expected one of {', '.join(FUSION_METHODS)}")
        weight = self.dense_weight
        if isinstance(weight, bool) or not isinstance(weight, numbers.Real) or not 0.0 <= weight <= 1.0:
            raise ValueError(f"dense_weight: must be a number from 0 to 1, got {weight!r}")


class TowerMismatchError(RuntimeError):
    pass


class Engine:
    def __init__(self, index: SearchIndex, towers: Towers, config: EngineConfig | None = None,
                 query_vectors: QueryVectorCache | None = None, reranker=None, rules=None):
        """reranker: a personalization.PreferenceReranker, used for queries with a user.
        rules: a callable returning the merchandising rules (e.g. RuleStore.rules)."""
        expected = index.manifest["encoder"]["fingerprint"]
        if towers.product.fingerprint != expected:
            raise TowerMismatchError(
                f"index {index.version} was built with product tower {index.manifest['encoder']['model']} "
                f"(fingerprint {expected}) but the engine loaded {towers.product.name} "
                f"(fingerprint {towers.product.fingerprint}); load that model or reindex"
            )
        self.index = index
        self.towers = towers
        self.config = config or EngineConfig()
        self.query_vectors = query_vectors or QueryVectorCache(towers.query)
        self.dense = DenseRetriever(index, self.query_vectors)
        self.keyword = KeywordRetriever(index)
        self.reranker = reranker
        self.rules = rules

    def on_index(self, index: SearchIndex) -> "Engine":
        """The same towers, settings and query-vector cache over another index version."""
        return Engine(index, self.towers, self.config, self.query_vectors, self.reranker, self.rules)

    def with_config(self, **changes) -> "Engine":
        """The same index and towers (and query-vector cache) with other fusion settings."""
        return Engine(self.index, self.towers, replace(self.config, **changes), self.query_vectors, self.reranker,
                      self.rules)

    def with_reranker(self, reranker) -> "Engine":
        return Engine(self.index, self.towers, self.config, self.query_vectors, reranker, self.rules)

    def with_rules(self, rules) -> "Engine":
        return Engine(self.index, self.towers, self.config, self.query_vectors, self.reranker, rules)

    def search(self, query: Query) -> SearchResult:
        timings: dict[str, float] = {}
        depth = min(max(self.config.candidates, query.offset + query.k), MAX_DEPTH)
        dense, keyword = [], []
        if query.mode in ("dense", "hybrid"):
            started = time.perf_counter()
            dense = self.dense.retrieve(query, depth)
            timings["dense"] = (time.perf_counter() - started) * 1000
        if query.mode in ("keyword", "hybrid"):
            started = time.perf_counter()
            keyword = self.keyword.retrieve(query, depth)
            timings["keyword"] = (time.perf_counter() - started) * 1000

        started = time.perf_counter()
        fused = self._fuse(query.mode, dense, keyword)
        candidates = _candidates(fused, dense, keyword)
        timings["fusion"] = (time.perf_counter() - started) * 1000

        products = self.index.products.products
        # A doc retired by an update that raced this search has no product any more: skip it.
        candidates = [c for c in candidates if c.doc < len(products) and products[c.doc] is not None]
        for rank, candidate in enumerate(candidates, start=1):
            candidate.fused_rank = rank
        personalized = None
        if query.user and self.reranker is not None:
            started = time.perf_counter()
            profile = self.reranker.profile(query.user, self.index.products.get)
            if not profile.empty:  # an unknown shopper keeps exactly the unpersonalized order
                candidates = self.reranker.rerank(query.text, profile, candidates, products.__getitem__, query.explain)
                personalized = self.reranker.model.version
            timings["personalize"] = (time.perf_counter() - started) * 1000
        if self.rules is not None:
            started = time.perf_counter()
            store = self.index.products
            candidates = apply_rules(query.text, candidates, self.rules(), products.__getitem__, store.doc_of.get,
                                     lambda doc: store.passes(doc, query.filters))
            timings["merchandising"] = (time.perf_counter() - started) * 1000
        page = candidates[query.offset: query.offset + query.k]
        hits = [Hit(products[c.doc], c.fused_score if c.personal_score is None else c.personal_score, c)
                for c in page]
        return SearchResult(query, hits, len(candidates), self.index.version, timings, personalized)

    def _fuse(self, mode, dense, keyword) -> list[tuple[int, float]]:
        if mode == "dense":
            return list(dense)
        if mode == "keyword":
            return list(keyword)
        if self.config.fusion == "rrf":
            return reciprocal_rank_fusion([dense, keyword], self.config.rrf_k)
        return linear_fusion(dense, keyword, self.config.dense_weight)

    def similar(self, product_id: str, k: int = 10) -> list[Hit]:
        """Nearest products to one product by the product tower's vectors."""
        doc = self.index.products.doc_of.get(product_id)
        if doc is None:
            raise KeyError(product_id)
        neighbours = self.index.vectors.search(self.index.vectors.vector(doc), k + 1)
        products = self.index.products.products
        live = [(d, score) for d, score in neighbours if d != doc and d < len(products) and products[d] is not None]
        return [
            Hit(products[d], score, Candidate(doc=d, dense_score=score, dense_rank=rank, fused_score=score))
            for rank, (d, score) in enumerate(live[:k], start=1)
        ]


def _candidates(fused, dense, keyword) -> list[Candidate]:
    dense_at = {doc: (rank, score) for rank, (doc, score) in enumerate(dense, start=1)}
    keyword_at = {doc: (rank, score) for rank, (doc, score) in enumerate(keyword, start=1)}
    candidates = []
    for doc, score in fused:
        candidate = Candidate(doc=doc, fused_score=score)
        if doc in dense_at:
            candidate.dense_rank, candidate.dense_score = dense_at[doc]
        if doc in keyword_at:
            candidate.keyword_rank, candidate.keyword_score = keyword_at[doc]
        candidates.append(candidate)
    return candidates
