"""Background work done now and then every few seconds, in a daemon thread of its own."""
from __future__ import annotations

import logging
import threading
from typing import Callable

log = logging.getLogger(__name__)


class Periodic:
    """Runs `work` at once and then every `interval_s` until stopped. A failure is logged
    and kept in last_error (what the work is for names it), and the thread goes on: the
    work must outlive a locked or full disk."""

    def __init__(self, name: str, work: Callable[[], object], interval_s: float, doing: str):
        self.work = work
        self.interval_s = interval_s
        self.doing = doing  # "expiring old events": how a failure is reported
        self.last_error: str | None = None
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stopped.is_set():
            try:
                self.work()
                self.last_error = None
            except Exception as exc:  # noqa: BLE001 - reported and retried, never fatal
                self.last_error = f"{self.doing}: {exc}"
                log.exception("%s failed", self.doing)
            self._stopped.wait(self.interval_s)

    def stop(self) -> None:
        self._stopped.set()
        self._thread.join(timeout=10)
