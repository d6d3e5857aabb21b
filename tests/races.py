"""Run one function in many threads at once, switching threads as often as Python can."""
from __future__ import annotations

import sys
import threading
from typing import Callable


def race(work: Callable[[int], None], threads: int = 8) -> list[BaseException]:
    """work(seed) for seeds 0..threads-1, all at once, with a thread switch allowed between any
    two steps (a shared structure without its guard fails so); what each raised."""
    errors: list[BaseException] = []

    def run(seed: int) -> None:
        try:
            work(seed)
        except Exception as exc:  # noqa: BLE001 - any error in a thread is the failure
            errors.append(exc)

    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    try:
        started = [threading.Thread(target=run, args=(seed,)) for seed in range(threads)]
        for thread in started:
            thread.start()
        for thread in started:
            thread.join()
    finally:
        sys.setswitchinterval(interval)
    return errors
