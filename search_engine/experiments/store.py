"""Experiments in the merchants' SQLite file (a RuleTable: every worker sees an edit at its
next request). At most one experiment runs at a time, as a shopper can be served one
configuration per search: a new one may not overlap another's start-to-stop window."""
from __future__ import annotations

import json
import logging
from dataclasses import dataclass, replace
from pathlib import Path

from search_engine.experiments.definition import Experiment, ExperimentError, parse_experiment
from search_engine.rule_table import RuleTable

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class StoredExperiment:
    definition: str  # the experiment's JSON, as Experiment.to_dict writes it
    id: int | None = None


class ExperimentStore:
    def __init__(self, path: str | Path):
        # The searches an experiment served carry its id in the event log: a deleted
        # experiment's id is never given to another, whose results would count them.
        self._table = RuleTable(path, "experiments", StoredExperiment, ("definition",), reuse_ids=False)

    def experiments(self) -> list[Experiment]:
        """Every experiment, oldest first (parsed again only when the table changed)."""
        return self._table.derived(_parsed)

    def get(self, experiment_id: int) -> Experiment | None:
        return next((e for e in self.experiments() if e.id == experiment_id), None)

    def running(self, now: float) -> Experiment | None:
        return next((e for e in self.experiments() if e.running(now)), None)

    def add(self, experiment: Experiment) -> Experiment:
        """ExperimentError naming start when it overlaps another (checked and written in one
        transaction: two merchants at once cannot both start one)."""
        stored = self._table.add(StoredExperiment(_json(experiment)), check=self._overlap_check(experiment))
        return replace(experiment, id=stored.id)

    def replace(self, experiment_id: int, experiment: Experiment, now: float) -> Experiment | None:
        """Redefine an experiment that has not started (results would mix two definitions
        otherwise); None when there is no such experiment."""

        def check(stored: list[StoredExperiment]) -> None:
            current = next((e for e in _parsed(stored) if e.id == experiment_id), None)
            if current is not None and current.start <= now:
                raise ExperimentError("start", f"experiment {experiment_id} has started: stop it and define a new one")
            self._overlap_check(experiment, ignore=experiment_id)(stored)

        replaced = self._table.replace(experiment_id, StoredExperiment(_json(experiment)), check=check)
        return None if replaced is None else replace(experiment, id=experiment_id)

    def stop(self, experiment_id: int, now: float) -> Experiment | None:
        """End a running experiment now; None when there is no such experiment."""
        current = self.get(experiment_id)
        if current is None:
            return None
        if current.stop <= now:
            return current
        if now < current.start:
            raise ExperimentError("start", f"experiment {experiment_id} has not started: delete it instead")
        stopped = replace(current, stop=max(now, current.start + 1e-3))
        written = self._table.replace(experiment_id, StoredExperiment(_json(stopped)))
        return None if written is None else stopped

    def delete(self, experiment_id: int) -> bool:
        return self._table.delete(experiment_id)

    @staticmethod
    def _overlap_check(experiment: Experiment, ignore: int | None = None):
        def check(stored: list[StoredExperiment]) -> None:
            for other in _parsed(stored):
                if other.id != ignore and experiment.start < other.stop and other.start < experiment.stop:
                    raise ExperimentError("start", f"overlaps experiment {other.id} ({other.name!r}, until "
                                                   f"{other.stop:.0f}): one experiment runs at a time")
        return check


def _json(experiment: Experiment) -> str:
    body = experiment.to_dict()
    del body["id"]
    return json.dumps(body)


def _parsed(stored: list[StoredExperiment]) -> list[Experiment]:
    """The stored experiments; one that no longer parses (written by another release, edited
    by hand) is logged and left out rather than failing every search."""
    parsed = []
    for row in stored:
        try:
            parsed.append(replace(parse_experiment(json.loads(row.definition), now=0.0), id=row.id))
        except (ValueError, TypeError) as exc:  # ExperimentError and JSON errors are ValueErrors
            log.error("experiment %s is not a valid definition and is ignored: %s", row.id, exc)
    return parsed
