"""The Flask app factory: configuration is read here, at the edge, and handed down."""
from __future__ import annotations

from dataclasses import replace
from typing import Any, Mapping

from flask import Flask

from api import engine_holder
from api.auth import session_secret
from api.errors import register_error_handlers
from api.params import ProductIdConverter, reject_undecodable_parameters
from indexer.search_index import SearchIndex
from search_engine.live import LiveEngine


def create_app(test_config: Mapping[str, Any] | None = None) -> Flask:
    """Build the app. test_config may carry SETTINGS (a Settings), ENGINE (an Engine),
    EVENTS (an EventStore), RULES (a merchandising RuleStore), SYNONYMS (a SynonymStore),
    JUDGMENTS (a JudgmentStore), SUGGESTIONS (a LiveSuggestions), EXPERIMENTS (an ExperimentStore)
    and RECOMMENDATIONS (a function of the app's live engine to a LiveRecommendations)."""
    from search_engine.experiments.serving import VariantEngines
    from search_engine.factory import (open_engine, open_event_store, open_experiment_store, open_judgment_store,
                                       open_recommendations, open_rule_store, open_suggestions, open_synonym_store)
    from search_engine.settings import load_settings
    from search_engine.version_engines import VersionEngines

    app = Flask(__name__)
    app.json.sort_keys = False
    app.url_map.converters["product_id"] = ProductIdConverter
    test_config = dict(test_config or {})
    settings = test_config.pop("SETTINGS", None) or load_settings()
    store = test_config.pop("EVENTS", None) or open_event_store(settings)
    rules = test_config.pop("RULES", None) or open_rule_store(settings)
    synonyms = test_config.pop("SYNONYMS", None) or open_synonym_store(settings)
    suggestions = test_config.pop("SUGGESTIONS", None) or open_suggestions(settings, store)
    engine = test_config.pop("ENGINE", None) or open_engine(settings, events=store, rules=rules, synonyms=synonyms)
    if engine.rules is None:
        engine = replace(engine, rules=rules.rules)
    if engine.synonyms is None:
        engine = replace(engine, synonyms=synonyms.synonyms)
    if engine.popular_queries is None:  # spelling correction prefers what shoppers searched
        engine = replace(engine, popular_queries=lambda: suggestions.popular)
    app.extensions["rule_store"] = rules
    app.extensions["synonym_store"] = synonyms
    app.extensions["suggestions"] = suggestions
    app.extensions["judgment_store"] = test_config.pop("JUDGMENTS", None) or open_judgment_store(settings)
    app.extensions["experiments"] = test_config.pop("EXPERIMENTS", None) or open_experiment_store(settings)
    make_recommendations = test_config.pop("RECOMMENDATIONS", None) or (
        lambda engine_of: open_recommendations(settings, store, engine_of, rules.rules))
    app.config.from_mapping(SETTINGS=settings, SESSION_COOKIE_SAMESITE="Lax", **test_config)
    app.secret_key = session_secret(settings)
    elasticsearch = settings.elasticsearch_config()

    def open_index(directory):
        return SearchIndex.open(directory, settings.use_gpu, elasticsearch)

    engine_holder.init_app(app, LiveEngine(engine, settings.index_root, settings.reload_interval_s, open_index))
    versions = app.extensions["version_engines"] = VersionEngines(settings.index_root, open_index)
    app.extensions["variant_engines"] = VariantEngines(versions.engine)
    register_error_handlers(app)

    from api import (admin, analytics, events, experiments, health, metrics, openapi, products, recommendations,
                     search, suggest, workbench, workbench_api)
    from search_engine.analytics import SearchAnalytics
    from search_engine.experiments.followed import FollowedResults

    events.init_app(app, store)
    metrics.init_app(app)
    live = engine_holder.live_engine_of(app)
    app.extensions["recommendations"] = make_recommendations(live.get)

    def catalog_price(product_id: str):
        product = live.get().index.products.get(product_id)
        return product.price if product is not None else None

    rollups = app.extensions["analytics"] = SearchAnalytics(store, catalog_price)
    app.extensions["experiment_results"] = FollowedResults(store, catalog_price)
    if settings.event_retention_days:
        from search_engine.event_retention import EventRetention

        # After a sweep the rollups are made again without the expired events.
        app.extensions["event_retention"] = EventRetention(store, settings.event_retention_days,
                                                           after_sweep=rollups.update)
    app.before_request(reject_undecodable_parameters)
    app.before_request(openapi.reject_unknown_parameters)
    for module in (search, products, events, health, admin, workbench, workbench_api, openapi):
        app.register_blueprint(module.bp)
    app.register_blueprint(suggest.bp)
    app.register_blueprint(metrics.bp)
    app.register_blueprint(analytics.bp)
    app.register_blueprint(experiments.bp)
    app.register_blueprint(recommendations.bp)
    return app
