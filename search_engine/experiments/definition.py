"""An online experiment as a merchant defines it: variants (each a search configuration), who
gets which, when it runs and what it is judged on. Parsed from JSON with errors that name the
field ("variants[1].share: ...")."""
from __future__ import annotations

import math
import numbers
import re
from dataclasses import asdict, dataclass, fields
from typing import Any, Mapping

from search_engine.events import EventError, parse_timestamp
from search_engine.fusion import FUSION_METHODS
from search_engine.types import MODES

KINDS = ("ab", "interleaving")
# What an A/B test is judged on, per search: clicked, bought from, and revenue.
METRICS = ("ctr", "conversion", "revenue_per_search")
INTERLEAVED = "interleaved"  # the variant name an interleaved search is logged with
NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 _.-]{0,49}$")
DEFAULT_DAYS = 14
DEFAULT_MINIMUM_EFFECT = 0.05
DEFAULT_ALPHA = 0.05


class ExperimentError(ValueError):
    def __init__(self, field: str, message: str):
        super().__init__(f"{field}: {message}")
        self.field = field


@dataclass(frozen=True)
class VariantConfig:
    """How a variant searches; None: as the serving engine does."""

    mode: str | None = None  # keyword, dense or hybrid, in place of the request's
    fusion: str | None = None  # rrf or linear
    dense_weight: float | None = None  # linear fusion's dense weight, 0 to 1
    version: str | None = None  # an index version on disk, with the towers it was built with
    ranker: bool | None = None  # the serving relevance ranker on or off
    personalization: bool | None = None  # the serving preference model on or off
    rules: bool | None = None  # merchandising rules on or off
    synonyms: bool | None = None  # synonym rules on or off

    def to_dict(self) -> dict:
        return {k: v for k, v in asdict(self).items() if v is not None}


@dataclass(frozen=True)
class Variant:
    name: str
    config: VariantConfig
    share: float = 0.0  # A/B: the share of shoppers served this variant

    def to_dict(self) -> dict:
        return {"name": self.name, "share": self.share, "config": self.config.to_dict()}


@dataclass(frozen=True)
class Experiment:
    """kind "ab": each shopper gets one variant by the shares (shares summing below 1 leave the
    rest out of the experiment); the first variant is the control. kind "interleaving": a
    `traffic` share of shoppers get both variants' results merged by team draft.
    minimum_effect: the smallest difference worth detecting (A/B: relative to the control's
    metric; interleaving: the preference, wins minus losses over searches with a preference)."""

    name: str
    kind: str
    variants: tuple[Variant, ...]
    start: float  # seconds since the epoch
    stop: float
    traffic: float = 1.0
    metric: str = "ctr"
    minimum_effect: float = DEFAULT_MINIMUM_EFFECT
    alpha: float = DEFAULT_ALPHA
    id: int | None = None

    def running(self, now: float) -> bool:
        return self.start <= now < self.stop

    def status(self, now: float) -> str:
        return "scheduled" if now < self.start else "running" if now < self.stop else "stopped"

    @property
    def for_known_shoppers(self) -> bool:
        """Whether only shoppers with an id take part: the variants differ in personalization,
        which anonymous shoppers never get (they would dilute the difference)."""
        return any(v.config.personalization is not None for v in self.variants)

    def variant(self, name: str) -> Variant | None:
        return next((v for v in self.variants if v.name == name), None)

    def to_dict(self) -> dict:
        body = {"id": self.id, "name": self.name, "kind": self.kind,
                "variants": [v.to_dict() for v in self.variants], "start": self.start, "stop": self.stop,
                "metric": self.metric, "minimum_effect": self.minimum_effect, "alpha": self.alpha}
        if self.kind == "interleaving":
            body["traffic"] = self.traffic
            for variant in body["variants"]:
                del variant["share"]
        return body


CONFIG_FIELDS = {f.name for f in fields(VariantConfig)}
EXPERIMENT_FIELDS = ("name", "kind", "variants", "start", "stop", "traffic", "metric", "minimum_effect", "alpha")


def _number(value: Any, field: str, low: float, high: float, low_open: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not low <= value <= high \
            or not math.isfinite(value) or (low_open and value == low):  # bounds first: isfinite(10**400) raises
        bound = f"above {low}" if low_open else f"from {low}"
        raise ExperimentError(field, f"must be a number {bound} to {high}, got {value!r}")
    return float(value)


def _text(value: Any, field: str, pattern: re.Pattern | None = None, what: str = "") -> str:
    if not isinstance(value, str) or not value.strip():
        raise ExperimentError(field, "is required (a non-empty string)")
    value = value.strip()
    if pattern is not None and not pattern.match(value):
        raise ExperimentError(field, f"must be {what}, got {value!r}")
    return value


LATEST = 1e11  # seconds since the epoch (the year 5138), as events' timestamps


def _time(value: Any, field: str) -> float:
    try:
        moment = parse_timestamp(value)
    except EventError as exc:
        raise ExperimentError(field, exc.reason.replace("is required", "must be")) from None
    return _within(moment, field)


def _within(moment: float, field: str) -> float:
    if not 0 <= moment < LATEST:
        raise ExperimentError(field, f"must be between 1970 and the year 5138, got {moment!r} seconds since the epoch")
    return moment


def parse_config(raw: Any, field: str) -> VariantConfig:
    raw = {} if raw is None else raw
    if not isinstance(raw, Mapping):
        raise ExperimentError(field, "must be an object of settings")
    unknown = sorted(set(raw) - CONFIG_FIELDS)
    if unknown:
        raise ExperimentError(f"{field}.{unknown[0]}",
                              f"unknown setting; expected some of {', '.join(sorted(CONFIG_FIELDS))}")
    values: dict[str, Any] = {}
    for name, value in raw.items():
        where = f"{field}.{name}"
        if value is None:
            continue
        if name == "mode":
            if value not in MODES:
                raise ExperimentError(where, f"must be one of {', '.join(MODES)}, got {value!r}")
        elif name == "fusion":
            if value not in FUSION_METHODS:
                raise ExperimentError(where, f"must be one of {', '.join(FUSION_METHODS)}, got {value!r}")
        elif name == "dense_weight":
            value = _number(value, where, 0.0, 1.0)
        elif name == "version":
            value = _text(value, where)
        elif not isinstance(value, bool):  # ranker, personalization, rules, synonyms
            raise ExperimentError(where, f"must be true or false, got {value!r}")
        values[name] = value
    return VariantConfig(**values)


def parse_experiment(raw: Any, now: float) -> Experiment:
    """An Experiment from its JSON definition; ExperimentError names the first wrong field.
    start defaults to now and stop to DEFAULT_DAYS later."""
    if not isinstance(raw, Mapping):
        raise ExperimentError("experiment", "the body must be a JSON object")
    unknown = sorted(set(raw) - set(EXPERIMENT_FIELDS))
    if unknown:
        raise ExperimentError(unknown[0], f"unknown field; expected some of {', '.join(EXPERIMENT_FIELDS)}")
    name = _text(raw.get("name"), "name")
    if len(name) > 200:
        raise ExperimentError("name", f"must be at most 200 characters, got {len(name)}")
    kind = raw.get("kind", "ab")
    if kind not in KINDS:
        raise ExperimentError("kind", f"must be one of {', '.join(KINDS)}, got {kind!r}")
    listed = raw.get("variants")
    if not isinstance(listed, list) or not listed:
        raise ExperimentError("variants", "is required: a list of variants, the control first")
    if kind == "interleaving" and len(listed) != 2:
        raise ExperimentError("variants", f"interleaving compares exactly 2 variants, got {len(listed)}")
    if not 2 <= len(listed) <= 10:
        raise ExperimentError("variants", f"an A/B test needs 2 to 10 variants, got {len(listed)}")
    variants = []
    for i, item in enumerate(listed):
        where = f"variants[{i}]"
        if not isinstance(item, Mapping):
            raise ExperimentError(where, "must be an object with name and config")
        extra = sorted(set(item) - {"name", "share", "config"})
        if extra:
            raise ExperimentError(f"{where}.{extra[0]}", "unknown field; expected name, share and config")
        variant_name = _text(item.get("name"), f"{where}.name", NAME,
                             "1 to 50 letters, digits, spaces, dots, dashes or underscores")
        if variant_name == INTERLEAVED or any(v.name == variant_name for v in variants):
            raise ExperimentError(f"{where}.name", f"{variant_name!r} is taken")
        if kind == "interleaving":
            if item.get("share") is not None:
                raise ExperimentError(f"{where}.share", "interleaving serves both variants: set traffic instead")
            share = 0.0
        else:
            share = _number(item.get("share"), f"{where}.share", 0.0, 1.0, low_open=True)
        variants.append(Variant(variant_name, parse_config(item.get("config"), f"{where}.config"), share))
    if kind == "ab" and sum(v.share for v in variants) > 1.0 + 1e-9:
        raise ExperimentError("variants", f"the shares sum to {sum(v.share for v in variants):g}, more than 1")
    if kind == "ab" and raw.get("traffic") is not None:
        raise ExperimentError("traffic", "is for interleaving; an A/B test's variants have shares")
    traffic = _number(raw.get("traffic", 1.0), "traffic", 0.0, 1.0, low_open=True)
    start = _time(raw["start"], "start") if raw.get("start") is not None else now
    stop = _time(raw["stop"], "stop") if raw.get("stop") is not None \
        else _within(start + DEFAULT_DAYS * 86400, "stop")
    if stop <= start:
        raise ExperimentError("stop", "must be after start")
    metric = raw.get("metric", "ctr")
    if metric not in METRICS:
        raise ExperimentError("metric", f"must be one of {', '.join(METRICS)}, got {metric!r}")
    minimum_effect = _number(raw.get("minimum_effect", DEFAULT_MINIMUM_EFFECT), "minimum_effect", 0.0, 10.0,
                             low_open=True)
    alpha = _number(raw.get("alpha", DEFAULT_ALPHA), "alpha", 0.0, 0.2, low_open=True)
    return Experiment(name, kind, tuple(variants), start, stop, traffic, metric, minimum_effect, alpha)
