"""One source of truth for settings: defaults here, overridden by a TOML file, then by
environment variables (SEARCH_<FIELD>, e.g. SEARCH_INDEX_ROOT). Read at the edges only."""
from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any, Mapping

from search_engine.engine import EngineConfig
from search_engine.personalization.reranker import DEFAULT_EVIDENCE
from search_engine.recommend.activity import RecommendationSettings
from search_engine.suggest.live import REFRESH_S
from search_engine.suggest.popularity import QueryScoring

ENV_PREFIX = "SEARCH_"
RENAMED = {"elasticsearch_synonyms_file": "synonyms_file"}  # old name -> new: refused, not ignored


@dataclass
class Settings:
    index_root: str = "var/index"
    model: str = "all-MiniLM-L6-v2"  # query tower (and product tower unless product_model is set)
    product_model: str | None = None
    device: str | None = None  # None: CUDA when torch sees a GPU, else CPU
    # "onnx": the towers run on ONNX Runtime on the CPU, fused graph (a query in ~2 ms instead
    # of 5-10 ms on 2 cores, same vectors); falls back to torch when it cannot. "torch" to force
    # torch; "onnx-int8" for the int8-quantized tower (what it costs: docs/benchmarks.md).
    encoder_backend: str = "onnx"
    fusion: str = "linear"
    dense_weight: float = 0.4
    rrf_k: int = 60
    candidates: int = 100
    # The matched set (search_engine/matching.py): fit dense_floor with search-train matching.
    dense_floor: float = EngineConfig.dense_floor
    dense_match_limit: int = EngineConfig.dense_match_limit
    query_cache_size: int = 10_000  # query vectors kept for repeated queries; 0 turns it off
    faiss_threads: int = 1  # one OpenMP thread answers single queries fastest
    torch_threads: int | None = None
    use_gpu: bool = True  # FAISS on GPU when FAISS sees one
    # Personalization: events are stored here; with a model at reranker_path (a folder of
    # versions from search-personalize train, or one version), queries with a user are reranked.
    events_path: str = "var/events.sqlite3"
    reranker_path: str | None = None
    rerank_depth: int = 100
    # How much history it takes to trust the model half way: a shopper's decayed event mass
    # (purchase 5, cart 3, click 1, view 0.5) over that mass plus this (reranker.confidence).
    personalization_evidence: float = DEFAULT_EVIDENCE
    # The learned relevance ranker (search-train ranker): a folder of versions (the newest is
    # loaded at start) or one version. Unset: the fused order, the best untrained configuration.
    ranker_path: str | None = None
    ranker_depth: int = 100
    log_searches: bool = True  # record what each known shopper was shown (training data)
    event_retention_days: int | None = None  # unset: events are kept; else older ones are deleted
    # Merchants' rules: merchandising (pin, boost, bury), suggestions (block, pin) and
    # synonyms, one table each.
    merchandising_path: str = "var/merchandising.sqlite3"
    # Synonym rules read at start, one per line in the Solr format ("tv, television",
    # "laptop => notebook"), applied before the ones merchants add (indexer/keyword/synonyms.py).
    synonyms_file: str | None = None
    judgments_path: str = "var/judgments.sqlite3"  # merchants' 0-3 marks from the workbench
    # Suggestions (GET /suggest): how completions rank (search_engine/suggest/popularity.py;
    # `search-bench-suggest quality` measures other weights on a shop's judgments and events).
    suggest_click_weight: float = QueryScoring.click_weight
    suggest_purchase_weight: float = QueryScoring.purchase_weight
    suggest_catalog_weight: float = QueryScoring.catalog_weight
    suggest_min_shoppers: int = QueryScoring.min_shoppers
    suggest_refresh_s: float = REFRESH_S  # how often the suggestions read new events
    # Recommendations (search_engine/recommend/): what the counts assume, each checked on a
    # shop's own log with `search-recommend evaluate --<name>` (docs/recommendations.md).
    recommend_basket_days: float = RecommendationSettings.basket_days
    recommend_min_support: int = RecommendationSettings.min_support
    recommend_trending_half_life_days: float = RecommendationSettings.trending_half_life_days
    recommend_usual_half_life_days: float = RecommendationSettings.usual_half_life_days
    recommend_rebuy_gap_days: float = RecommendationSettings.rebuy_gap_days
    recommend_rebuy_share: float = RecommendationSettings.rebuy_share
    recommend_recent_half_life_days: float = RecommendationSettings.recent_half_life_days
    recommend_duplicate_similarity: float = RecommendationSettings.duplicate_similarity
    recommend_for_you_weights: str = ""  # "similar=1,complement=2": for-you's weights, the rest default
    admin_token: str | None = None  # unset: the admin endpoints and the workbench are disabled
    # Signs the workbench's login cookie; unset, it is derived from admin_token (so every
    # worker agrees, and changing the token logs everyone out).
    session_secret: str | None = None
    reload_interval_s: float = 1.0  # how often a server looks for a new version or logged updates
    # Elasticsearch (keyword backend "elasticsearch", and optionally the vectors): connection
    # settings live here, never in index manifests.
    elasticsearch_url: str | None = None
    elasticsearch_api_key: str | None = None
    elasticsearch_username: str | None = None
    elasticsearch_password: str | None = None
    elasticsearch_ca_certs: str | None = None
    elasticsearch_index_prefix: str = "products"

    def elasticsearch_config(self):
        """The cluster connection, or None when no URL is set."""
        if not self.elasticsearch_url:
            return None
        from indexer.keyword.elasticsearch_index import ElasticsearchConfig

        return ElasticsearchConfig(
            url=self.elasticsearch_url, api_key=self.elasticsearch_api_key,
            username=self.elasticsearch_username, password=self.elasticsearch_password,
            ca_certs=self.elasticsearch_ca_certs, index_prefix=self.elasticsearch_index_prefix)

    def query_scoring(self) -> QueryScoring:
        return QueryScoring(click_weight=self.suggest_click_weight, purchase_weight=self.suggest_purchase_weight,
                            catalog_weight=self.suggest_catalog_weight, min_shoppers=self.suggest_min_shoppers)

    def recommendation_settings(self) -> RecommendationSettings:
        return RecommendationSettings(**{f.name: getattr(self, f"recommend_{f.name}")
                                         for f in fields(RecommendationSettings)})

    def engine_config(self) -> EngineConfig:
        return EngineConfig(fusion=self.fusion, dense_weight=self.dense_weight, rrf_k=self.rrf_k,
                            candidates=self.candidates, ranker_depth=self.ranker_depth,
                            dense_floor=self.dense_floor, dense_match_limit=self.dense_match_limit)


def _coerce(name: str, value: Any, kind: Any) -> Any:
    text = str(kind)
    if value is None or (isinstance(value, str) and value == "" and "None" in text):
        return None
    try:
        if "bool" in text:
            return value if isinstance(value, bool) else str(value).lower() in ("1", "true", "yes", "on")
        if "int" in text:
            return int(value)
        if "float" in text:
            return float(value)
    except ValueError:
        raise ValueError(f"setting {name}: {value!r} is not a valid {text}") from None
    return str(value)


def load_settings(path: str | Path | None = None, env: Mapping[str, str] | None = None,
                  **overrides: Any) -> Settings:
    env = os.environ if env is None else env
    values: dict[str, Any] = {}
    path = path or env.get(ENV_PREFIX + "CONFIG")
    if path:
        with open(path, "rb") as handle:
            values.update(tomllib.load(handle))
    known = {f.name: f.type for f in fields(Settings)}
    for old, new in RENAMED.items():
        if old in values or ENV_PREFIX + old.upper() in env:
            raise ValueError(f"setting {old} is now {new} ({ENV_PREFIX + new.upper()}): it applies to every "
                             "keyword backend; rename it")
    unknown = set(values) - set(known)
    if unknown:
        raise ValueError(f"{path}: unknown setting(s) {', '.join(sorted(unknown))}")
    for name in known:
        if ENV_PREFIX + name.upper() in env:
            values[name] = env[ENV_PREFIX + name.upper()]
    values.update({k: v for k, v in overrides.items() if v is not None})
    settings = Settings(**{k: _coerce(k, v, known[k]) for k, v in values.items()})
    settings.engine_config()  # fail early on a bad fusion method or weight
    settings.query_scoring()
    settings.recommendation_settings()
    from search_engine.recommend.recommender import ForYouWeights

    ForYouWeights.parse(settings.recommend_for_you_weights)
    if settings.event_retention_days is not None and settings.event_retention_days < 1:
        raise ValueError(f"setting event_retention_days: a whole number of days from 1 up (unset: keep events), "
                         f"got {settings.event_retention_days}")
    return settings
