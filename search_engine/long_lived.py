"""Keep the cyclic garbage collector off what a server loads once and keeps.

An open index version is millions of Python objects (20k products' records, the keyword
vocabulary, the spelling and suggestion tables). CPython's collector walks every tracked
object of the generation it collects, so each full collection walks the whole catalog, and
the searches it falls in wait for it: on the bundled catalog that was most of the
personalize stage's p99 (docs/personalization.md, Speed). `gc.freeze` moves what is loaded
into a permanent generation the collector skips. Frozen objects are still freed by
reference counting when the last reference goes; cycles among them wait until the next
`settle()`, which unfreezes, collects and freezes again, or until `thaw()` hands them back
to the collector.
"""
from __future__ import annotations

import gc
import threading

_lock = threading.Lock()  # two settles at once would freeze the other's half-collected heap


def thaw() -> None:
    """Let the collector walk everything again: a version switched out can be collected."""
    with _lock:
        gc.unfreeze()


def settle() -> None:
    """Collect what is garbage now (an old version's cycles included) and freeze the rest.
    Call once a version is loaded and served; it takes a full collection (about 0.1 s for the
    bundled catalog), so not per request."""
    with _lock:
        gc.unfreeze()
        gc.collect()
        gc.freeze()
