"""Experiments' results kept in memory per process, following the event log: the first read
of an experiment replays its events (EventStore.of_experiment); later reads add only the
events stored since (EventStore.since), as the tally counts in stored order. Made again from
scratch when events were deleted (a forgotten shopper, expiry) or the experiment's definition
changed (it was stopped)."""
from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass
from typing import Callable

from search_engine.experiments.definition import Experiment
from search_engine.experiments.tally import ATTRIBUTION_WINDOW_S, ExperimentTally

BATCH = 10_000  # events read per step when following


@dataclass
class _Followed:
    experiment: Experiment
    tally: ExperimentTally
    last_event: int  # the newest event the tally has read
    erasures: int  # the event store's erasure number when it started


class FollowedResults:
    """events: an EventStore. keep: how many experiments' tallies stay in memory (the newest
    read); each holds its searches' state, about half a kilobyte per search."""

    def __init__(self, events, price_of: Callable[[str], float | None], keep: int = 2):
        self.events = events
        self.price_of = price_of
        self.keep = keep
        self._followed: OrderedDict[int, _Followed] = OrderedDict()
        self._lock = threading.Lock()  # one reader brings a tally up to date at a time

    def results(self, experiment: Experiment) -> dict:
        with self._lock:
            followed = self._followed.get(experiment.id)
            erasures = self.events.erasures()
            if followed is None or followed.experiment != experiment or followed.erasures != erasures:
                followed = self._replayed(experiment, erasures)
            self._follow(followed)
            self._followed[experiment.id] = followed
            self._followed.move_to_end(experiment.id)
            while len(self._followed) > self.keep:
                self._followed.popitem(last=False)
            return followed.tally.results()

    def _replayed(self, experiment: Experiment, erasures: int) -> _Followed:
        last = self.events.last_id()  # read up to here now, and after it when following
        tally = ExperimentTally(experiment, self.price_of).add_all(self.events.of_experiment(
            str(experiment.id), experiment.start, experiment.stop + ATTRIBUTION_WINDOW_S, up_to=last))
        return _Followed(experiment, tally, last, erasures)

    def _follow(self, followed: _Followed) -> None:
        for batch in self.events.batches_since(followed.last_event, BATCH):
            for number, event in batch:
                followed.tally.add(event)
                followed.last_event = number
