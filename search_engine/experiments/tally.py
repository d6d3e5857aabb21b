"""An experiment's results from the event log: the searches it served (logged with its id,
the variant and, when interleaved, each product's team) and what shoppers did after them.

Attribution follows the analytics' (search_engine/analytics.py) over every search of the
experiment's sessions, its own and others: a click or purchase counts for the search it names
when that search showed the product, else for the latest search of the same session before it
that did; it counts for the experiment only when that search is one the experiment served, and
only until ATTRIBUTION_WINDOW_S after the experiment stopped. Events are read in the order they
were stored (a click stamped by a client clock a little behind the server's still finds its
search).

Sums are kept per shopper (the unit that was assigned) and, over shoppers, per variant and
metric (statistics.RatioSums), so every `look_every` searches the always-valid test is read in
O(1) as the log grows; the p-value reported is the smallest of those reads and the interval
their intersection (statistics.RunningTest). The reads fall at the same searches on every
replay, so a verdict, once reached, stands as the log grows (deleting events, a forgotten
shopper or expiry, moves the reads that follow and may change it).
"""
from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Callable, Iterable

from search_engine.experiments.definition import INTERLEAVED, Experiment
from search_engine.experiments.interleaving import TEAMS, preference
from search_engine.experiments.statistics import (RatioSums, RunningTest, chi_square_survival, sequential_test,
                                                  units_needed)
from search_engine.types import Event

ATTRIBUTION_WINDOW_S = 86400.0  # outcomes up to a day after the stop still count for its searches
LOOK_EVERY = 20  # searches between two reads of the test
SAMPLE_RATIO_ALPHA = 0.001  # a split this unlikely under the shares is flagged
# A unit's row. A/B: searches, searches with a click, searches with a purchase, revenue.
# Interleaving: searches; searches with a credited click and the sum of their preferences
# (+1 the second variant, -1 the first, 0 a tie); the same for purchases.
AB_COLUMNS = {"ctr": (1, 0), "conversion": (2, 0), "revenue_per_search": (3, 0)}  # metric: (x, y)
CREDIT_COLUMNS = {"clicks": (2, 1), "purchases": (4, 3)}


@dataclass
class _Search:
    unit: str
    arm: str | None  # None: a search of the same session that the experiment did not serve
    session: str
    timestamp: float
    shown: frozenset[str]
    team_of: dict[str, str]
    clicked: set[str] = field(default_factory=set)
    bought: set[str] = field(default_factory=set)


@dataclass(frozen=True)
class _Tested:
    """What a test is about: an estimate (a variant's difference from the control, or a
    preference), its variance, the units behind it, and the effect worth finding, in its units."""

    value: float
    variance: float
    units: int
    effect: float
    control: float = 1.0  # A/B: the control's value, which the relative difference is of


class ExperimentTally:
    def __init__(self, experiment: Experiment, price_of: Callable[[str], float | None], look_every: int = LOOK_EVERY):
        self.experiment = experiment
        self.price_of = price_of
        self.look_every = look_every
        self._id = str(experiment.id)  # as searches are logged with it
        interleaved = experiment.kind == "interleaving"
        self._arms = (INTERLEAVED,) if interleaved else tuple(v.name for v in experiment.variants)
        self._columns = CREDIT_COLUMNS if interleaved else AB_COLUMNS
        self._width = 5 if interleaved else 4
        self._searches: dict[str, _Search] = {}
        self._by_session: dict[str, list[_Search]] = defaultdict(list)
        self._rows: dict[str, dict[str, list[float]]] = {arm: {} for arm in self._arms}
        self._sums = {arm: {name: RatioSums() for name in self._columns} for arm in self._arms}
        tested = list(CREDIT_COLUMNS) if interleaved else [v.name for v in experiment.variants[1:]]
        self._tests = {name: RunningTest(self._alpha) for name in tested}
        self._unlooked = 0

    @property
    def _alpha(self) -> float:
        """Each variant is compared with the control: Bonferroni keeps the family's error rate."""
        if self.experiment.kind == "interleaving":
            return self.experiment.alpha
        return self.experiment.alpha / (len(self.experiment.variants) - 1)

    def add_all(self, events: Iterable[Event]) -> "ExperimentTally":
        for event in events:
            self.add(event)
        return self

    def add(self, event: Event) -> None:
        """One event, in the order stored (an outcome stored before its search is not counted)."""
        if event.type == "search":
            self._add_search(event)
        elif event.type in ("click", "purchase") and event.product_id \
                and event.timestamp <= self.experiment.stop + ATTRIBUTION_WINDOW_S:
            search = self._search_of(event)
            if search is not None and search.arm is not None:
                self._add_outcome(search, event)

    def _add_search(self, event: Event) -> None:
        key = event.search_id or f"{event.session_id}\x00{event.timestamp}"
        if key in self._searches:
            return  # the same search sent twice counts once
        ours = event.experiment == self._id and event.variant in self._arms
        if not ours and event.session_id not in self._by_session:
            return  # nothing of the experiment's can be attributed to it: not kept
        team_of = dict(zip(event.shown, event.teams)) if ours and event.variant == INTERLEAVED else {}
        search = _Search(event.user_id, event.variant if ours else None, event.session_id, event.timestamp,
                         frozenset(event.shown), team_of)
        self._searches[key] = search
        self._by_session[event.session_id].append(search)
        if ours:
            self._change(search, lambda row: row.__setitem__(0, row[0] + 1))
            self._unlooked += 1
            if self._unlooked >= self.look_every:
                self._look()

    def _search_of(self, event: Event) -> _Search | None:
        if event.search_id:
            named = self._searches.get(event.search_id)
            if named is None:
                return None  # it names a search outside the experiment's sessions
            if event.product_id in named.shown:
                return named
        # Every search listed was stored before this event: read in stored order, no client
        # clock decides what came first.
        for search in reversed(self._by_session.get(event.session_id, ())):
            if event.product_id in search.shown:
                return search
        return None

    def _add_outcome(self, search: _Search, event: Event) -> None:
        product = event.product_id
        click = event.type == "click"
        products = search.clicked if click else search.bought
        if self.experiment.kind == "interleaving":
            if product in products:
                return
            before = preference(search.team_of, products) if products else None
            products.add(product)
            after = preference(search.team_of, products)
            votes, total = CREDIT_COLUMNS["clicks" if click else "purchases"][::-1]

            def credit(row):
                row[votes] += before is None
                row[total] += after - (before or 0)
            self._change(search, credit)
            return
        first = not products
        products.add(product)
        if click:
            if first:
                self._change(search, lambda row: row.__setitem__(1, row[1] + 1))
        else:
            price = self.price_of(product) or 0.0  # every purchase, each product's price

            def bought(row):
                row[2] += first
                row[3] += price
            self._change(search, bought)

    def _change(self, search: _Search, change: Callable[[list[float]], None]) -> None:
        """Change the search's unit's row and keep the sums over units in step."""
        rows = self._rows[search.arm]
        row = rows.get(search.unit)
        old = None if row is None else list(row)
        if row is None:
            row = rows[search.unit] = [0.0] * self._width
        change(row)
        for name, (x, y) in self._columns.items():
            self._sums[search.arm][name].change(None if old is None else (old[x], old[y]), (row[x], row[y]))

    def _quantity(self, name: str) -> _Tested | None:
        """What the test named (a variant, or the clicks' or purchases' preference) is about, now."""
        experiment = self.experiment
        if experiment.kind == "interleaving":
            estimate = self._sums[INTERLEAVED][name].estimate()
            return None if estimate is None else _Tested(estimate.value, estimate.variance, estimate.units,
                                                         experiment.minimum_effect)
        control = self._sums[experiment.variants[0].name][experiment.metric].estimate()
        variant = self._sums[name][experiment.metric].estimate()
        if control is None or variant is None or control.value <= 0:
            return None
        return _Tested(variant.value - control.value, control.variance + variant.variance,
                       control.units + variant.units, experiment.minimum_effect * control.value, control.value)

    def _look(self) -> None:
        """Read every test once, at this point of the log."""
        self._unlooked = 0
        for name, test in self._tests.items():
            quantity = self._quantity(name)
            if quantity is not None:
                test.look(sequential_test(quantity.value, quantity.variance, quantity.effect, self._alpha))

    def _reported(self, name: str, quantity: _Tested, verdicts: tuple[str, str, str]) -> dict:
        """The test so far and how many units it needs; verdicts: when significant above zero,
        below zero, and not yet."""
        needed = units_needed(quantity.variance, quantity.units, quantity.effect, quantity.effect, self._alpha)
        body = {"standard_error": math.sqrt(quantity.variance), "units_needed": needed,
                "more_units_needed": None if needed is None else max(0, needed - quantity.units)}
        test = self._tests[name]
        if test.latest is None:
            return {**body, "verdict": "not enough data"}
        direction = test.direction or (1 if quantity.value > 0 else -1)
        verdict = (verdicts[0] if direction > 0 else verdicts[1]) if test.significant else verdicts[2]
        return {**body, "interval": list(test.interval), "p_value": test.p_value, "significant": test.significant,
                "verdict": verdict}

    def results(self) -> dict:
        """The figures now; the test as read at its looks so far (every look_every searches,
        the same points of the log on every replay, so a verdict reached stays reached)."""
        if self.experiment.kind == "interleaving":
            return self._interleaving_results()
        return self._ab_results()

    def _ab_results(self) -> dict:
        experiment = self.experiment
        control = experiment.variants[0]
        variants = []
        for variant in experiment.variants:
            rows = self._rows[variant.name]
            estimates = {m: self._sums[variant.name][m].estimate() for m in AB_COLUMNS}
            body = {"name": variant.name, "units": len(rows),
                    "searches": int(sum(row[0] for row in rows.values())),
                    "metrics": {m: _estimate_json(e, experiment.alpha) for m, e in estimates.items()}}
            if variant is not control:
                body["against_control"] = self._comparison(variant.name)
            variants.append(body)
        return {"experiment": experiment.id, "kind": "ab", "metric": experiment.metric,
                "test": "mSPRT (always valid), delta-method variance over shoppers",
                "alpha": experiment.alpha, "alpha_per_comparison": self._alpha, "variants": variants,
                "sample_ratio": self._sample_ratio()}

    def _comparison(self, name: str) -> dict:
        """The variant's difference from the control on the experiment's metric, with the
        always-valid test so far and how many shoppers it needs."""
        quantity = self._quantity(name)
        if quantity is None:
            return {"verdict": "not enough data"}
        return {"difference": quantity.value, "relative": quantity.value / quantity.control,
                **self._reported(name, quantity, ("variant better", "control better", "no difference detected yet"))}

    def _sample_ratio(self) -> dict:
        """Whether shoppers are split as the shares say (a chi-square test): a mismatch means
        some variant's searches go unlogged or fail, and its results are biased."""
        counts = [len(self._rows[v.name]) for v in self.experiment.variants]
        total, shares = sum(counts), [v.share for v in self.experiment.variants]
        if total == 0:
            return {"p_value": None, "mismatch": False}
        expected = [total * share / sum(shares) for share in shares]
        statistic = sum((c - e) ** 2 / e for c, e in zip(counts, expected))
        p_value = chi_square_survival(statistic, len(counts) - 1)
        return {"p_value": p_value, "mismatch": p_value < SAMPLE_RATIO_ALPHA}

    def _interleaving_results(self) -> dict:
        experiment = self.experiment
        rows = self._rows[INTERLEAVED]
        body = {"experiment": experiment.id, "kind": "interleaving",
                "teams": {team: v.name for team, v in zip(TEAMS, experiment.variants)},
                "test": "mSPRT (always valid) of the mean preference, delta-method variance over shoppers",
                "alpha": experiment.alpha, "units": len(rows),
                "searches": int(sum(row[0] for row in rows.values()))}
        first, second = (v.name for v in experiment.variants)
        for name, (_, votes) in CREDIT_COLUMNS.items():
            credited = {"searches_credited": int(sum(row[votes] for row in rows.values()))}
            quantity = self._quantity(name)
            if quantity is None:
                body[name] = {**credited, "preference": None, "verdict": "not enough data"}
                continue
            body[name] = {**credited, "preference": quantity.value, **self._reported(
                name, quantity, (f"{second} preferred", f"{first} preferred", "no preference detected yet"))}
        return body


def _estimate_json(estimate, alpha: float) -> dict:
    if estimate is None:
        return {"value": None, "interval": None}
    return {"value": estimate.value, "interval": list(estimate.interval(alpha))}
