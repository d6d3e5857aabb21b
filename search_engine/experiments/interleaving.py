"""Team-draft interleaving (Radlinski, Kurup and Joachims, CIKM 2008).

Two rankings are merged as two captains pick teams: the team with fewer picks so far (a coin
decides a tie) adds its best product not yet on the page. Each product shown remembers the
team that contributed it; a shopper's clicks then vote for the teams, and a search prefers the
team its clicks credited more. Both rankings are shown to the same shopper on the same page,
so differences between shoppers and queries cancel out: that is why it needs far fewer
sessions than an A/B test."""
from __future__ import annotations

import random
from typing import Iterable, Mapping, Sequence

TEAMS = ("a", "b")  # the first variant (control) and the second


def team_draft(first: Sequence[str], second: Sequence[str], length: int,
               rng: random.Random) -> list[tuple[str, str]]:
    """Up to `length` (product id, team) pairs merged from two rankings of product ids."""
    merged: list[tuple[str, str]] = []
    taken: set[str] = set()
    picks = {"a": 0, "b": 0}
    cursors = {"a": 0, "b": 0}
    rankings = {"a": first, "b": second}

    def next_of(team: str) -> str | None:
        ranking = rankings[team]
        while cursors[team] < len(ranking) and ranking[cursors[team]] in taken:
            cursors[team] += 1
        return ranking[cursors[team]] if cursors[team] < len(ranking) else None

    while len(merged) < length:
        if picks["a"] != picks["b"]:
            team = "a" if picks["a"] < picks["b"] else "b"
        else:
            team = "a" if rng.random() < 0.5 else "b"
        product = next_of(team)
        if product is None:  # this team's ranking is used up: the other picks
            team = "b" if team == "a" else "a"
            product = next_of(team)
            if product is None:
                break
        merged.append((product, team))
        taken.add(product)
        picks[team] += 1
    return merged


def preference(team_of: Mapping[str, str], credited: Iterable[str]) -> int:
    """+1 when the products credited (clicked, or bought: each product once) came more from
    the second team, -1 when more from the first, 0 for a tie or none."""
    votes = {"a": 0, "b": 0}
    for product in set(credited):
        team = team_of.get(product)
        if team is not None:
            votes[team] += 1
    return (votes["b"] > votes["a"]) - (votes["a"] > votes["b"])
