"""Running an experiment on SIMULATED shoppers (search_engine/personalization/simulator.py):
how many sessions it needs before its test declares a winner, and how often it declares one
when there is no difference (an A/A test).

Traffic is a fixed list of planned sessions (a shopper and the query they type); a run walks
them in its own order, assigns each shopper as the server does (assignment.assigned), shows
the variant's top 10 (or the team-draft merge of both), lets the shopper react (clicks, carts,
a purchase, with position bias) and feeds every event to the same ExperimentTally the results
endpoint uses, reading the results every `look_every` sessions as a merchant would.
"""
from __future__ import annotations

import random
from dataclasses import dataclass
from statistics import NormalDist
from typing import Callable, Mapping, Sequence

from indexer.schema import Product
from search_engine.experiments.assignment import assigned
from search_engine.experiments.definition import INTERLEAVED, Experiment
from search_engine.experiments.interleaving import team_draft
from search_engine.experiments.tally import ExperimentTally
from search_engine.personalization.simulator import SHOWN, ShopperSimulator, SimulatedShopper
from search_engine.types import Event


@dataclass(frozen=True)
class PlannedSession:
    shopper: SimulatedShopper
    typed: str  # the query as typed
    judged: str  # the judged query it varies (whose grades the shopper's clicks follow)


@dataclass(frozen=True)
class RunOutcome:
    sessions: int  # sessions in the experiment when it stopped
    units: int  # shoppers in the experiment when it stopped
    winner: str | None  # the variant the test declared better, None when it declared none
    results: dict  # the last results read
    # Whether a fixed-horizon z-test at the same level, read at the same looks, would have
    # declared a difference at some look (what peeking does to a test not built for it).
    z_test_declared: bool = False


def winner_of(results: dict) -> str | None:
    """The variant a results body declares better, if its test is significant: on the side of
    zero its always-valid interval lies, as the page's verdict."""
    if results["kind"] == "interleaving":
        clicks = results["clicks"]
        if not clicks.get("significant"):
            return None
        return results["teams"]["b" if clicks["interval"][0] > 0 else "a"]
    for variant in results["variants"][1:]:
        comparison = variant["against_control"]
        if comparison.get("significant"):
            return variant["name"] if comparison["interval"][0] > 0 else results["variants"][0]["name"]
    return None


def z_test_fires(results: dict, alpha: float) -> bool:
    """Whether the plain two-sided z-test of the difference (interleaving: of the preference)
    is below alpha at this look."""
    if results["kind"] == "interleaving":
        compared = [results["clicks"]]
        value = "preference"
    else:
        compared = [v["against_control"] for v in results["variants"][1:]]
        value = "difference"
    critical = NormalDist().inv_cdf(1 - alpha / 2)
    return any(c.get("standard_error") and abs(c[value]) > critical * c["standard_error"] for c in compared)


def run(experiment: Experiment, sessions: Sequence[PlannedSession],
        ranking: Callable[[str, PlannedSession], Sequence[Product]], simulator: ShopperSimulator,
        grades: Mapping[str, Mapping[str, float]], price_of: Callable[[str], float | None], rng: random.Random,
        look_every: int = 100, start: float = 0.0) -> RunOutcome:
    """Walk the sessions in order until the test declares a winner or they run out.
    ranking(variant name, session): that variant's products for the session, best first."""
    tally = ExperimentTally(experiment, price_of)
    served = 0
    results: dict = {}
    z_declared = False
    for number, session in enumerate(sessions):
        unit = session.shopper.user_id
        arm = assigned(experiment, unit)
        if arm is None:
            continue
        if arm == INTERLEAVED:
            first, second = (ranking(v.name, session) for v in experiment.variants)
            by_id = {p.id: p for p in list(first[:SHOWN]) + list(second[:SHOWN])}
            merged = team_draft([p.id for p in first[:SHOWN]], [p.id for p in second[:SHOWN]], SHOWN, rng)
            shown = [by_id[product] for product, _ in merged]
            teams = tuple(team for _, team in merged)
        else:
            shown, teams = list(ranking(arm, session)[:SHOWN]), ()
        search = Event(unit, f"{unit}-{number}", start + number * 60.0, "search", query=session.typed,
                       search_id=f"x{number}", position=1, shown=tuple(p.id for p in shown),
                       experiment=str(experiment.id), variant=arm, teams=teams)
        tally.add(search)
        for event in simulator.reaction(session.shopper, search, shown, grades[session.judged], rng):
            tally.add(event)
        served += 1
        if served % look_every == 0:
            results = tally.results()
            z_declared = z_declared or z_test_fires(results, experiment.alpha)
            winner = winner_of(results)
            if winner is not None:
                return RunOutcome(served, _units(results), winner, results, z_declared)
    results = tally.results()
    z_declared = z_declared or z_test_fires(results, experiment.alpha)
    return RunOutcome(served, _units(results), winner_of(results), results, z_declared)


def _units(results: dict) -> int:
    if results["kind"] == "interleaving":
        return results["units"]
    return sum(v["units"] for v in results["variants"])
