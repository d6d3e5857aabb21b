"""Suggestions for the serving engine, following the event store.

One background thread reads the events stored since it last looked (EventStore.since),
counts them into the query log and publishes a new PopularQueries with one reference
assignment; request threads read whichever is published. The first pass reads the whole
log in batches, so suggestions start from the catalog alone and gain the shop's history as
it is read. Every worker process follows the same event file, so all of them converge.
"""
from __future__ import annotations

import logging
import threading

from indexer.keyword.synonyms import NO_SYNONYMS
from search_engine.engine import Engine
from search_engine.suggest.popularity import PopularQueries, QueryLog, QueryScoring
from search_engine.suggest.rules import SuggestionRuleStore
from search_engine.suggest.suggester import SnapshotMemo, Sources, SuggestResult, complete, leads_to, \
    phrase_finds_products

log = logging.getLogger(__name__)
BATCH = 50_000


class LiveSuggestions:
    def __init__(self, events, rules: SuggestionRuleStore, scoring: QueryScoring = QueryScoring(),
                 refresh_s: float = 2.0, follow: bool = True):
        """events: the EventStore to follow (None: catalog phrases only). follow=False starts
        no thread: call refresh() yourself (tests)."""
        self.events = events
        self.rules = rules
        self.scoring = scoring
        self.refresh_s = refresh_s
        self.popular = PopularQueries.empty()  # replaced, never changed in place
        self.last_error: str | None = None
        self._log = QueryLog()
        self._last_event = 0
        self._refresh_lock = threading.Lock()  # one feeder of the query log
        self._memo = SnapshotMemo()
        self._stopped = threading.Event()
        self._thread = None
        if follow and events is not None:
            self._thread = threading.Thread(target=self._follow, name="suggestion-follower", daemon=True)
            self._thread.start()

    def refresh(self) -> int:
        """Read the events stored since the last refresh and publish the new ranking; how many were read."""
        if self.events is None:
            return 0
        read = 0
        with self._refresh_lock:
            counted = 0
            while True:
                batch = self.events.since(self._last_event, BATCH)
                if not batch:
                    break
                self._last_event = batch[-1][0]
                counted += self._log.add(event for _, event in batch)
                read += len(batch)
                if len(batch) < BATCH:
                    break
            if counted:
                self.popular = self._log.ranked(self.scoring)
        return read

    def _follow(self) -> None:
        while not self._stopped.is_set():
            try:
                self.refresh()
                self.last_error = None
            except Exception as exc:  # the follower must outlive any one failure
                self.last_error = f"following the event log for suggestions: {exc}"
                log.exception("following the event log for suggestions failed")
            self._stopped.wait(self.refresh_s)

    def stop(self) -> None:
        self._stopped.set()
        if self._thread is not None:
            self._thread.join(timeout=10)

    def suggest(self, engine: Engine, prefix: str, count: int = 5, product_count: int = 3,
                category_count: int = 3) -> SuggestResult:
        """Completions of `prefix` over the engine's current snapshot, with the top products
        and categories of the best completion (of the words typed when there is none)."""
        snapshot = engine.index.snapshot()
        synonyms = engine.synonyms() if engine.synonyms is not None else NO_SYNONYMS  # as a search would read it
        sources = Sources(engine.phrases.get(), self.popular, engine.spelling.get(), self.rules.rules(), self.scoring)
        suggestions = complete(prefix, sources, count, phrase_finds_products(snapshot, self._memo, synonyms))
        result = SuggestResult(prefix, suggestions, version=snapshot.version, seq=snapshot.seq)
        text = suggestions[0].key if suggestions else " ".join(prefix.split())
        if (product_count or category_count) and text:
            result.products, result.categories = self._memo.get(
                snapshot, ("leads_to", text, product_count, category_count, synonyms),
                lambda: leads_to(snapshot, text, product_count, category_count, synonyms))
            result.leads_to = text
        return result
