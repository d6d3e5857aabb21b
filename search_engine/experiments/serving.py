"""Serving a search inside an experiment: the variant's engine, derived from the serving one,
or for interleaving both variants' rankings merged by team draft."""
from __future__ import annotations

import logging
import random
from dataclasses import dataclass, replace
from typing import Callable

from search_engine.engine import Engine
from search_engine.experiments.assignment import assigned
from search_engine.experiments.definition import INTERLEAVED, Experiment, ExperimentError, VariantConfig
from search_engine.experiments.interleaving import team_draft
from search_engine.results_page import FieldError
from search_engine.types import Query, SearchResult
from search_engine.version_engines import UnknownVersionError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Served:
    result: SearchResult
    engine: Engine  # the engine that ranked it (interleaving: the control's)
    variant: str | None = None  # the variant served, INTERLEAVED, or None outside any experiment
    teams: tuple[str, ...] = ()  # interleaving: the team of each hit, in order
    # The shopper takes part in the running experiment (served a variant, or the serving
    # engine's results where a variant could not serve this search): their searches are
    # logged, so clicks on those outside it are not taken for the experiment's.
    enrolled: bool = False


class VariantEngines:
    """other_version(serving, version): an engine over another index version with the serving
    engine's settings (search_engine.version_engines.VersionEngines.engine)."""

    def __init__(self, other_version: Callable[[Engine, str], Engine]):
        self.other_version = other_version
        self.failed: set[tuple[int | None, str]] = set()  # (experiment, variant) pairs already logged as failing

    def engine(self, serving: Engine, config: VariantConfig) -> Engine:
        """The serving engine as this variant configures it (cheap: the index, caches and
        models are shared)."""
        engine = serving if config.version is None else self.other_version(serving, config.version)
        changes: dict = {}
        if config.fusion is not None or config.dense_weight is not None:
            changes["config"] = replace(engine.config, fusion=config.fusion or engine.config.fusion,
                                        dense_weight=engine.config.dense_weight if config.dense_weight is None
                                        else config.dense_weight)
        for setting, part in (("ranker", "ranker"), ("personalization", "reranker"), ("rules", "rules"),
                              ("synonyms", "synonyms")):
            if getattr(config, setting) is False:
                changes[part] = None
        return replace(engine, **changes) if changes else engine

    def check(self, experiment: Experiment, serving: Engine) -> list[str]:
        """ExperimentError naming the variant's setting this server cannot serve; else
        warnings about settings that change nothing here (variants that serve the same)."""
        for i, variant in enumerate(experiment.variants):
            where = f"variants[{i}].config"
            config = variant.config
            if config.ranker and serving.ranker is None:
                raise ExperimentError(f"{where}.ranker", "no relevance ranker is configured on this server")
            if config.personalization and serving.reranker is None:
                raise ExperimentError(f"{where}.personalization", "no preference model is configured on this server")
            if config.version is not None:
                try:
                    self.other_version(serving, config.version)
                except ValueError as exc:  # UnknownVersionError: missing, or cannot be opened here
                    raise ExperimentError(f"{where}.version", str(exc)) from None
        served = [self._served(variant.config, serving) for variant in experiment.variants]
        warnings = []
        for i, first in enumerate(served):
            for j in range(i + 1, len(served)):
                if served[j] == first:
                    warnings.append(f"variants {experiment.variants[i].name!r} and {experiment.variants[j].name!r} "
                                    "search the same way on this server: an A/A test")
        for variant, settings in zip(experiment.variants, served):
            if variant.config.dense_weight is not None and settings["fusion"] == "rrf":
                warnings.append(f"variant {variant.name!r}: dense_weight does nothing under rrf fusion")
        return warnings

    @staticmethod
    def _served(config: VariantConfig, serving: Engine) -> dict:
        """What a variant's search comes to on this server, settings left out filled in."""
        fusion = config.fusion or serving.config.fusion
        return {"mode": config.mode, "fusion": fusion,
                "dense_weight": None if fusion == "rrf" else
                serving.config.dense_weight if config.dense_weight is None else config.dense_weight,
                "version": config.version or serving.index.version,
                "ranker": serving.ranker is not None and config.ranker is not False,
                "personalization": serving.reranker is not None and config.personalization is not False,
                "rules": serving.rules is not None and config.rules is not False,
                "synonyms": serving.synonyms is not None and config.synonyms is not False}


def variant_query(query: Query, config: VariantConfig) -> Query:
    return query if config.mode is None else replace(query, mode=config.mode)


def serve(serving: Engine, query: Query, session: str | None, experiment: Experiment | None,
          engines: VariantEngines) -> Served:
    """The search as the shopper's variant of the running experiment serves it: assigned by
    their id (query.user), else by their session, unless the experiment is for known
    shoppers only. Outside the experiment's traffic, or when a variant cannot be served any
    more (its index version was removed), the serving engine's, counted for no variant."""
    unit = query.user or (None if experiment is not None and experiment.for_known_shoppers else session)
    arm = assigned(experiment, unit) if experiment is not None and unit else None
    try:
        if arm == INTERLEAVED:
            if query.sort == "relevance":  # an order by price has no ranking to interleave
                return _interleaved(serving, query, unit, experiment, engines)
        elif arm is not None:
            config = experiment.variant(arm).config
            engine = engines.engine(serving, config)
            return Served(engine.search(variant_query(query, config)), engine, arm, enrolled=True)
    except (UnknownVersionError, FieldError) as exc:  # a removed version, or one without the attribute asked for
        if (experiment.id, arm) not in engines.failed:
            engines.failed.add((experiment.id, arm))  # once per variant, not per search
            log.error("experiment %s cannot serve variant %s (now or for some searches): %s", experiment.id, arm, exc)
    return Served(serving.search(query), serving, enrolled=arm is not None)


def _interleaved(serving: Engine, query: Query, unit: str, experiment: Experiment,
                 engines: VariantEngines) -> Served:
    depth = query.offset + query.k  # the whole merged list up to this page, so pages agree
    variant_engines = [engines.engine(serving, v.config) for v in experiment.variants]
    results = [engine.search(replace(variant_query(query, v.config), k=depth, offset=0))
               for engine, v in zip(variant_engines, experiment.variants)]
    # The same shopper gets the same merge for the same query on every request.
    rng = random.Random(f"{experiment.id}\x00{unit}\x00{query.text}\x00{query.filters}")
    merged = team_draft([h.product.id for h in results[0].hits], [h.product.id for h in results[1].hits], depth, rng)
    hits = {team: {h.product.id: h for h in result.hits} for team, result in zip(("a", "b"), results)}
    page = merged[query.offset:]
    result = replace(results[0], query=query, hits=[hits[team][product] for product, team in page])
    return Served(result, variant_engines[0], INTERLEAVED, tuple(team for _, team in page), enrolled=True)
