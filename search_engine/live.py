"""Keep serving the current index version: follow its update log, swap in new versions and
new preference models, all in one background thread.

A request only reads: `get()` returns the engine, whose index hands each search one
immutable snapshot. The follower thread replays changes other processes committed to the
update log (SearchIndex.catch_up), opens a version CURRENT newly names beside the serving
one and swaps it in with one reference assignment, and loads a newer preference model the
same way. A version that cannot be served (built with another product tower, say) is
refused once and remembered until CURRENT names another; the old one keeps serving.

Read-your-writes across processes: a write is acknowledged only once committed to its
version's log (indexer/incremental.py). `get()` compares the snapshot with that commit mark,
and checks whether CURRENT names a version with commits this server does not serve yet
(two small file reads); when it is behind, it wakes the follower and waits for it, at most
`catch_up_wait_s`, so a search after an acknowledged write sees the write.
Writes made through this process publish their snapshot before they are acknowledged, so
they never make a search wait.
"""
from __future__ import annotations

import logging
import threading
import weakref
from dataclasses import replace
from pathlib import Path
from typing import Callable

from indexer import update_log, versions
from indexer.search_index import SearchIndex
from search_engine import long_lived
from search_engine.engine import Engine

log = logging.getLogger(__name__)
MIN_INTERVAL_S = 0.05  # a 0 interval means 'as often as is sensible', not a busy loop
# Checks after a switch that try to free the old version (a full collection each) before
# leaving it to the collector: a search holds a version for milliseconds.
RETIRED_CHECKS = 5


class LiveEngine:
    def __init__(self, engine: Engine, root: Path | None, check_interval_s: float = 1.0,
                 open_index: Callable[[Path], SearchIndex] = SearchIndex.open, catch_up_wait_s: float = 2.0,
                 follow: bool = True):
        """root: the index root whose CURRENT to follow (None: serve `engine` as it is).
        follow=False starts no thread: call check() yourself (tests)."""
        self._engine = engine
        self.root = Path(root) if root else None
        self.check_interval_s = check_interval_s
        self.open_index = open_index
        self.catch_up_wait_s = catch_up_wait_s
        self.last_error: str | None = None
        # Replaced, never changed in place, so readers (/admin/status) need no lock.
        self.refused: dict[str, str] = {}  # version -> why it cannot be served
        self._refused_models: frozenset[str] = frozenset()  # preference-model versions that failed to load
        self._stalled_at: tuple[str, int] | None = None  # (version, commit mark) replaying failed at
        self._retired = None  # (weak reference to a switched-out version's index, checks left to free it)
        self._check_lock = threading.Lock()  # one check at a time: the follower's or an admin reload
        self._wake = threading.Event()
        self._published = threading.Condition()
        self._stopped = threading.Event()
        self._thread = None
        if follow and self.root is not None:
            self._thread = threading.Thread(target=self._follow, name="index-follower", daemon=True)
            self._thread.start()

    def get(self) -> Engine:
        engine = self._engine
        if self.root is not None and self._behind(engine):
            engine = self._wait_for_follower()
        return engine

    def _behind(self, engine: Engine) -> bool:
        """Whether a write acknowledged by some process is missing from what `engine` serves:
        committed to its version after its snapshot, or to the version CURRENT names now (not
        served here yet). Two small file reads."""
        index = engine.index
        committed = index.committed_seq()
        if committed > index.snapshot().seq and (index.version, committed) != self._stalled_at:
            return True
        try:
            current = versions.current_version(self.root)
        except OSError:
            return False
        return (current != index.version and current not in self.refused
                and update_log.keyword_applied(versions.version_dir(self.root, current)) > 0)

    def _wait_for_follower(self) -> Engine:
        if self._thread is None:
            self.check()
            return self._engine
        with self._published:
            self._wake.set()
            self._published.wait_for(lambda: not self._behind(self._engine), timeout=self.catch_up_wait_s)
        return self._engine

    def _follow(self) -> None:
        while not self._stopped.is_set():
            self._wake.wait(max(self.check_interval_s, MIN_INTERVAL_S))
            self._wake.clear()
            if self._stopped.is_set():
                return
            try:
                self.check()
            except Exception as exc:  # the follower must outlive any one failure
                self.last_error = f"following the index: {exc}"
                log.exception("following the index failed")

    def stop(self) -> None:
        self._stopped.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=10)

    def _notify(self) -> None:
        with self._published:
            self._published.notify_all()

    def check(self) -> None:
        """Catch up with the serving version's update log, switch to the version CURRENT
        names, follow the preference model: the follower's work, also run by an admin reload.
        Waiting searches are released after each step that can satisfy them."""
        with self._check_lock:
            if self._retired is not None:
                self._free_retired()
            self._catch_up(self._engine.index)  # also while another version loads, or is refused
            self._notify()
            try:
                serving = versions.current_version(self.root)
            except OSError as exc:  # a missing pointer must not take search down
                self.last_error = str(exc)
                return
            if serving != self._engine.index.version and serving not in self.refused:
                self._switch(serving)
                self._notify()
            self._check_reranker()

    def _catch_up(self, index: SearchIndex) -> None:
        committed = index.committed_seq()
        try:
            index.catch_up()
            self._stalled_at = None
        except Exception as exc:  # keep serving the snapshot we have; say why; searches stop waiting
            self._stalled_at = (index.version, committed)
            self.last_error = f"cannot replay the update log of {index.version}: {exc}"
            log.error(self.last_error)

    def _switch(self, version: str) -> None:
        try:
            index = self.open_index(versions.version_dir(self.root, version))
            # A new version: its own vocabulary, words and phrases, built here, not by its first searches.
            engine = replace(self._engine, index=index, vocabulary=None, spelling=None, phrases=None)
            engine.spelling.get()
            engine.phrases.get()
            if engine.ranker is not None:
                engine.vocabulary.get().field_statistics.get()  # built here, not by the first ranked search
        except Exception as exc:  # keep serving the old version, say why, and do not retry it
            self.last_error = f"not switching to {version}: {exc}"
            self.refused = {**self.refused, version: self.last_error}
            log.error(self.last_error)
            return
        retired = self._engine.index
        self._engine = engine  # one reference assignment; searches under way keep their snapshot
        long_lived.thaw()  # the old version's objects, frozen when it was loaded, can be collected again
        self._retired = (weakref.ref(retired), RETIRED_CHECKS)
        self.last_error = None
        log.info("now serving index version %s", version)

    def _free_retired(self) -> None:
        """Once no search holds the switched-out version any more, collect it and freeze what
        serves now (search_engine/long_lived.py); while one does (a long request), try again
        at the next check, RETIRED_CHECKS times, then leave it to the collector."""
        retired, checks_left = self._retired
        long_lived.settle()
        if retired() is None:
            self._retired = None
            return
        long_lived.thaw()  # still held: it must stay collectable for when it is let go
        self._retired = None if checks_left <= 1 else (retired, checks_left - 1)

    def _check_reranker(self) -> None:
        reranker = self._engine.reranker
        if reranker is None:
            return
        try:
            model = reranker.newer_model(skip=self._refused_models)
        except Exception as exc:  # a half-copied or bad model must not take search down; not retried
            newest = reranker.newest_version()
            self._refused_models |= {newest.name} if newest is not None else set()
            self.last_error = f"not switching the preference model to {newest}: {exc}"
            log.error(self.last_error)
            return
        if model is not None:
            reranker.model = model  # one reference assignment; a search under way keeps its model
            log.info("now personalizing with preference model %s", model.version)

    def reload_now(self, retry_refused: bool = True) -> Engine:
        """Check now (the admin reload; retry_refused: give a refused version another try);
        raises RuntimeError when the version CURRENT names cannot be served."""
        if retry_refused:
            self.refused = {}
        self.check()
        serving = versions.current_version(self.root)
        if self._engine.index.version != serving:
            raise RuntimeError(self.refused.get(serving) or self.last_error or f"{serving} is not served")
        return self._engine
