"""Keep shoppers' events for at most N days (settings.event_retention_days): a daemon thread
deletes older ones at start and then every `interval_s`. Each worker runs one; deleting
what is already gone deletes nothing, so they need no coordination."""
from __future__ import annotations

import logging
import time
from typing import Callable

from search_engine.periodic import Periodic

log = logging.getLogger(__name__)
DAY_S = 86_400.0
SWEEP_INTERVAL_S = 3_600.0


class EventRetention:
    def __init__(self, store, days: int, interval_s: float = SWEEP_INTERVAL_S,
                 now: Callable[[], float] = time.time, follow: bool = True,
                 after_sweep: Callable[[], object] | None = None):
        """after_sweep: run when events were deleted, before the checkpoint (the analytics
        roll up again without them)."""
        if isinstance(days, bool) or not isinstance(days, int) or days < 1:
            raise ValueError(f"event_retention_days: a whole number of days from 1 up, got {days!r}")
        self.store = store
        self.days = days
        self.now = now
        self.after_sweep = after_sweep
        self._sweeper = Periodic("event-retention", self.sweep, interval_s, "expiring old events") if follow else None

    def sweep(self) -> int:
        """Delete the events older than the retention period; how many."""
        deleted = self.store.expire(self.now() - self.days * DAY_S)
        if deleted:
            log.info("deleted %d events older than %d days", deleted, self.days)
            if self.after_sweep is not None:
                self.after_sweep()
            self.store.checkpoint()
        return deleted

    def stop(self) -> None:
        if self._sweeper is not None:
            self._sweeper.stop()
