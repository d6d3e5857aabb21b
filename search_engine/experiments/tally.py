"""An experiment's results from the event log: the searches it served (logged with its id,
the variant and, when interleaved, each product's team) and what shoppers did after them.

Attribution is the analytics' (search_engine/analytics.py): a click or purchase counts for the
search it names when that search showed the product, else for the latest search of the same
session before it that did. Sums are kept per shopper (the unit that was assigned) and per
variant as events arrive, so a tally follows a live log and a result is read in time
proportional to the shoppers, not the events.
"""
from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Callable, Iterable

from search_engine.experiments.definition import INTERLEAVED, Experiment
from search_engine.experiments.interleaving import TEAMS, preference
from search_engine.experiments.statistics import RatioEstimate, ratio_estimate, sequential_test, units_needed
from search_engine.types import Event

# Per unit: searches, searches with a click, searches with a purchase, revenue.
SEARCHES, CLICKED, CONVERTED, REVENUE = range(4)
# Per interleaved unit: searches; searches whose clicks preferred a team and the sum of those
# preferences (+1 the second variant, -1 the first); the same for purchases.
I_SEARCHES, CLICK_VOTES, CLICK_PREFERENCE, PURCHASE_VOTES, PURCHASE_PREFERENCE = range(5)
METRIC_SUMS = {"ctr": CLICKED, "conversion": CONVERTED, "revenue_per_search": REVENUE}


@dataclass
class _Search:
    unit: str
    arm: str
    session: str
    timestamp: float
    shown: frozenset[str]
    team_of: dict[str, str]
    clicked: set[str] = field(default_factory=set)
    bought: set[str] = field(default_factory=set)


class ExperimentTally:
    def __init__(self, experiment: Experiment, price_of: Callable[[str], float | None]):
        self.experiment = experiment
        self.price_of = price_of
        self._searches: dict[str, _Search] = {}
        self._by_session: dict[str, list[_Search]] = defaultdict(list)
        width = 5 if experiment.kind == "interleaving" else 4
        self._units: dict[str, dict[str, list[float]]] = defaultdict(lambda: defaultdict(lambda: [0.0] * width))

    def add_all(self, events: Iterable[Event]) -> "ExperimentTally":
        for event in events:
            self.add(event)
        return self

    def add(self, event: Event) -> None:
        """One event, in the order they happened (an outcome before its search is not counted)."""
        if event.type == "search":
            self._add_search(event)
        elif event.type in ("click", "purchase") and event.product_id:
            search = self._search_of(event)
            if search is not None:
                self._add_outcome(search, event)

    def _add_search(self, event: Event) -> None:
        if event.experiment != str(self.experiment.id):
            return
        interleaved = self.experiment.kind == "interleaving"
        if (event.variant != INTERLEAVED) if interleaved else self.experiment.variant(event.variant or "") is None:
            return
        key = event.search_id or f"{event.session_id}\x00{event.timestamp}"
        if key in self._searches:
            return  # the same search sent twice counts once
        team_of = dict(zip(event.shown, event.teams)) if interleaved else {}
        search = _Search(event.user_id, event.variant, event.session_id, event.timestamp, frozenset(event.shown),
                         team_of)
        self._searches[key] = search
        self._by_session[event.session_id].append(search)
        self._units[search.arm][search.unit][0] += 1  # SEARCHES and I_SEARCHES

    def _search_of(self, event: Event) -> _Search | None:
        named = self._searches.get(event.search_id) if event.search_id else None
        if named is not None and event.product_id in named.shown:
            return named
        for search in reversed(self._by_session.get(event.session_id, ())):
            if search.timestamp <= event.timestamp and event.product_id in search.shown:
                return search
        return None

    def _add_outcome(self, search: _Search, event: Event) -> None:
        sums = self._units[search.arm][search.unit]
        kind = "click" if event.type == "click" else "purchase"
        products = search.clicked if kind == "click" else search.bought
        if self.experiment.kind == "interleaving":
            if event.product_id in products:
                return
            before = preference(search.team_of, products) if products else None
            products.add(event.product_id)
            after = preference(search.team_of, products)
            votes, total = (CLICK_VOTES, CLICK_PREFERENCE) if kind == "click" else (PURCHASE_VOTES,
                                                                                   PURCHASE_PREFERENCE)
            sums[votes] += before is None
            sums[total] += after - (before or 0)
            return
        if kind == "click":
            sums[CLICKED] += not products
        else:
            sums[CONVERTED] += not products
            sums[REVENUE] += self.price_of(event.product_id) or 0.0  # every purchase, each product's price
        products.add(event.product_id)

    def results(self) -> dict:
        if self.experiment.kind == "interleaving":
            return self._interleaving_results()
        return self._ab_results()

    def _estimates(self, arm: str) -> dict[str, RatioEstimate | None]:
        rows = list(self._units.get(arm, {}).values())
        searches = [row[SEARCHES] for row in rows]
        return {metric: ratio_estimate([row[column] for row in rows], searches)
                for metric, column in METRIC_SUMS.items()}

    def _ab_results(self) -> dict:
        experiment = self.experiment
        control = experiment.variants[0]
        # Each variant is compared with the control: Bonferroni keeps the family's error rate.
        alpha = experiment.alpha / (len(experiment.variants) - 1)
        estimates = {v.name: self._estimates(v.name) for v in experiment.variants}
        variants = []
        for variant in experiment.variants:
            units = self._units.get(variant.name, {})
            body = {"name": variant.name, "units": len(units),
                    "searches": int(sum(row[SEARCHES] for row in units.values())),
                    "metrics": {m: _estimate_json(e, experiment.alpha) for m, e in estimates[variant.name].items()}}
            if variant is not control:
                body["against_control"] = _comparison(estimates[control.name][experiment.metric],
                                                      estimates[variant.name][experiment.metric],
                                                      experiment.minimum_effect, alpha)
            variants.append(body)
        return {"experiment": experiment.id, "kind": "ab", "metric": experiment.metric,
                "test": "mSPRT (always valid), delta-method variance over shoppers",
                "alpha": experiment.alpha, "alpha_per_comparison": alpha, "variants": variants}

    def _interleaving_results(self) -> dict:
        experiment = self.experiment
        rows = list(self._units.get(INTERLEAVED, {}).values())
        body = {"experiment": experiment.id, "kind": "interleaving",
                "teams": {team: v.name for team, v in zip(TEAMS, experiment.variants)},
                "test": "mSPRT (always valid) of the mean preference, delta-method variance over shoppers",
                "alpha": experiment.alpha, "units": len(rows),
                "searches": int(sum(row[I_SEARCHES] for row in rows))}
        for name, votes, total in (("clicks", CLICK_VOTES, CLICK_PREFERENCE),
                                   ("purchases", PURCHASE_VOTES, PURCHASE_PREFERENCE)):
            estimate = ratio_estimate([row[total] for row in rows], [row[votes] for row in rows])
            body[name] = {"searches_with_preference": int(sum(row[votes] for row in rows)),
                          **_preference_json(estimate, experiment, [v.name for v in experiment.variants])}
        return body


def _estimate_json(estimate: RatioEstimate | None, alpha: float) -> dict:
    if estimate is None:
        return {"value": None, "interval": None}
    return {"value": estimate.value, "interval": list(estimate.interval(alpha))}


def _comparison(control: RatioEstimate | None, variant: RatioEstimate | None, minimum_effect: float,
                alpha: float) -> dict:
    """The variant's difference from the control on the experiment's metric, with its
    always-valid test and how many more shoppers it needs."""
    if control is None or variant is None or control.value <= 0:
        return {"verdict": "not enough data"}
    difference = variant.value - control.value
    variance = control.variance + variant.variance
    effect = minimum_effect * control.value  # relative to the control, in the metric's units
    test = sequential_test(difference, variance, effect, alpha)
    units = control.units + variant.units
    needed = units_needed(variance, units, effect, effect, alpha)
    body = {"difference": difference, "relative": difference / control.value,
            "standard_error": math.sqrt(variance), "units_needed": needed, "more_units_needed": None if needed is None else max(0, needed - units)}
    if test is None:
        return {**body, "verdict": "not enough data"}
    verdict = ("variant better" if difference > 0 else "control better") if test.significant \
        else "no difference detected yet"
    return {**body, "interval": list(test.interval), "p_value": test.p_value, "significant": test.significant,
            "verdict": verdict}


def _preference_json(estimate: RatioEstimate | None, experiment: Experiment, names: list[str]) -> dict:
    if estimate is None:
        return {"preference": None, "verdict": "not enough data"}
    test = sequential_test(estimate.value, estimate.variance, experiment.minimum_effect, experiment.alpha)
    needed = units_needed(estimate.variance, estimate.units, experiment.minimum_effect, experiment.minimum_effect,
                          experiment.alpha)
    body = {"preference": estimate.value, "standard_error": math.sqrt(estimate.variance), "units_needed": needed,
            "more_units_needed": None if needed is None else max(0, needed - estimate.units)}
    if test is None:
        return {**body, "verdict": "not enough data"}
    verdict = (f"{names[1]} preferred" if estimate.value > 0 else f"{names[0]} preferred") if test.significant \
        else "no preference detected yet"
    return {**body, "interval": list(test.interval), "p_value": test.p_value, "significant": test.significant,
            "verdict": verdict}
