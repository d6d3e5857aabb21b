"""Open a ready Engine from Settings: towers, the serving index version, thread settings."""
from __future__ import annotations

import logging
import os
import sys
from pathlib import Path

from encoders.exported_tower import exports_folder
from encoders.towers import Towers
from indexer.incremental import recover_keyword
from indexer.search_index import SearchIndex
from search_engine import long_lived
from search_engine.engine import Engine
from search_engine.query_cache import QueryVectorCache
from search_engine.settings import Settings

log = logging.getLogger(__name__)


def apply_thread_settings(settings: Settings) -> None:
    from indexer.vectors.faiss_index import set_search_threads

    set_search_threads(settings.faiss_threads)  # per search, in whichever thread it runs
    torch = sys.modules.get("torch")  # loaded by a tower that runs on it; a serving install has none
    if torch is not None:
        # torch keeps its own count: the transformer wants every core.
        torch.set_num_threads(settings.torch_threads or os.cpu_count() or 1)


def open_event_store(settings: Settings):
    from search_engine.event_store import EventStore

    return EventStore(settings.events_path)


def open_reranker(settings: Settings, events=None):
    """The preference reranker when a model is configured, else None."""
    if not settings.reranker_path:
        return None
    from search_engine.personalization.model import load_model
    from search_engine.personalization.profiles import EXPOSURE_SEARCHES, PROFILE_INTERACTIONS
    from search_engine.personalization.reranker import PreferenceReranker

    events = events or open_event_store(settings)
    model = load_model(settings.reranker_path)
    # A folder of versions is followed (a newly trained version is picked up live); a version folder is pinned.
    follow = None if (Path(settings.reranker_path) / "model.txt").exists() else settings.reranker_path
    return PreferenceReranker(model, lambda user: events.latest_for_user(user, EXPOSURE_SEARCHES, PROFILE_INTERACTIONS),
                              depth=settings.rerank_depth, model_root=follow,
                              evidence=settings.personalization_evidence)


def open_ranker(settings: Settings):
    """The relevance ranker when one is configured, else None."""
    if not settings.ranker_path:
        return None
    from search_engine.understanding.ranker import load_ranker

    ranker = load_ranker(settings.ranker_path)
    serving = {"fusion": settings.fusion, "dense_weight": settings.dense_weight,
               "ranked_depth": settings.engine_config().ranked_depth}
    trained = {k: ranker.meta.get(k) for k in serving}
    if any(trained[k] is not None and trained[k] != serving[k] for k in trained):
        log.warning("relevance ranker %s was trained on candidates fused with %s, this server fuses with %s: "
                    "its scores may not carry over; retrain it (search-train ranker)", ranker.version, trained, serving)
    return ranker


def open_rule_store(settings: Settings):
    from search_engine.merchandising_store import RuleStore

    return RuleStore(settings.merchandising_path)


def open_suggestions(settings: Settings, events=None, follow: bool = True):
    """Suggestions following the event store (opened from settings if None)."""
    from search_engine.suggest.live import LiveSuggestions
    from search_engine.suggest.rules import SuggestionRuleStore

    return LiveSuggestions(events or open_event_store(settings), SuggestionRuleStore(settings.merchandising_path),
                           settings.query_scoring(), settings.suggest_refresh_s, follow=follow)


def open_recommendations(settings: Settings, events, engine_of, rules=None, follow: bool = True):
    """Recommendations following the event store, over whichever engine serves now."""
    from search_engine.recommend.live import LiveRecommendations
    from search_engine.recommend.recommender import ForYouWeights

    return LiveRecommendations(events, engine_of, rules, settings.recommendation_settings(),
                               ForYouWeights.parse(settings.recommend_for_you_weights), follow=follow)


def open_synonym_store(settings: Settings):
    from search_engine.synonym_store import SynonymStore

    return SynonymStore.open(settings.merchandising_path, settings.synonyms_file)


def open_experiment_store(settings: Settings):
    from search_engine.experiments.store import ExperimentStore

    return ExperimentStore(settings.merchandising_path)


def open_judgment_store(settings: Settings):
    from search_engine.judgment_store import JudgmentStore

    return JudgmentStore(settings.judgments_path)


def open_engine(settings: Settings, towers: Towers | None = None, events=None, rules=None,
                synonyms=None) -> Engine:
    """events: the EventStore the reranker reads shoppers' histories from; rules: the RuleStore;
    synonyms: the SynonymStore (each opened from settings if None)."""
    exports = exports_folder(settings.index_root)
    if towers is None:
        towers = Towers.load(settings.model, settings.product_model, device=settings.device,
                             backend=settings.encoder_backend, exports=[exports])
        try:  # if loaded with torch: the next start, or a server without torch, needs none
            towers.export(exports)
        except OSError as exc:  # a read-only index root, say: serving goes on
            log.warning("could not export the towers into %s: %s", exports, exc)
    apply_thread_settings(settings)  # after the towers: torch's count where they run on it
    index = SearchIndex.open_current(Path(settings.index_root), use_gpu=settings.use_gpu,
                                     elasticsearch=settings.elasticsearch_config())
    recover_keyword(index)
    built_with = index.manifest["encoder"].get("vectors_key")
    if built_with and built_with != towers.product.vectors_key:
        log.warning("index %s was built with product vectors %s but this server's product tower makes %s "
                    "(int8 against float, say): products updated here get slightly different vectors",
                    index.version, built_with, towers.product.vectors_key)
    engine = Engine(index, towers, settings.engine_config(),
                    QueryVectorCache(towers.query, size=settings.query_cache_size), open_reranker(settings, events),
                    (rules or open_rule_store(settings)).rules, open_ranker(settings),
                    synonyms=(synonyms or open_synonym_store(settings)).synonyms)
    engine.query_vectors("warm up")  # the first transformer call is slow; pay it before traffic
    engine.spelling.get()  # the catalog's words (0.4 s for 20k products), before the first misspelt query
    engine.phrases.get()  # the catalog's phrases for suggestions (1 s for 20k products), before the first keystroke
    if engine.ranker is not None:
        engine.vocabulary.get().field_statistics.get()  # seconds the first ranked search should not wait for
    long_lived.settle()  # what was loaded stays: no collection walks it again
    return engine
