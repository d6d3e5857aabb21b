"""Suggestions for the serving engine, following the event store.

One background thread reads the events stored since it last looked (EventStore.since),
counts them into the query log and publishes a new PopularQueries with one reference
assignment; request threads read whichever is published. Counting costs with the new
events; ranking again costs with the distinct queries, so the follower publishes at most
once per ten times the last publish took (and at once on refresh()). Suggestions start from
the catalog alone and gain the shop's history once the first pass has read the log. When
events are deleted (a shopper forgotten, old events expired: EventStore.erasures moves),
the log is counted again from the start, so nothing of theirs stays in the suggestions or
in spelling's popular queries. Every worker process follows the same event file, so all of
them converge.
"""
from __future__ import annotations

import threading
import time

from search_engine.engine import Engine
from search_engine.event_store import FollowedLog
from search_engine.periodic import Periodic
from search_engine.suggest.popularity import NO_QUERIES, QueryLog, QueryScoring
from search_engine.suggest.rules import Blocks, SuggestionRule, SuggestionRuleStore
from search_engine.suggest.suggester import (DEFAULT_CATEGORIES, DEFAULT_COUNT, DEFAULT_PRODUCTS, SnapshotMemo,
                                             Sources, SuggestResult, complete, leads_to, phrase_finds_products)

REFRESH_S = 2.0  # how often the follower reads new events


class LiveSuggestions:
    def __init__(self, events, rules: SuggestionRuleStore, scoring: QueryScoring = QueryScoring(),
                 refresh_s: float = REFRESH_S, follow: bool = True):
        """events: the EventStore to follow (None: catalog phrases only). follow=False starts
        no thread: call refresh() yourself (tests)."""
        self.events = events
        self.rules = rules
        self.scoring = scoring
        self.popular = NO_QUERIES  # replaced, never changed in place
        self._followed = FollowedLog(events, QueryLog)
        self._unpublished = 0  # changes counted since the last publish
        self._published_at = 0.0  # time.monotonic() of the last publish
        self._publish_s = 0.0  # how long it took
        self._refresh_lock = threading.Lock()  # one feeder of the query log
        self._memo = SnapshotMemo()
        self._follower = None
        if follow and events is not None:
            self._follower = Periodic("suggestion-follower", self._follow, refresh_s,
                                      "following the event log for suggestions")

    def refresh(self) -> int:
        """Read the events stored since the last refresh and publish the new ranking now;
        how many events were read."""
        with self._refresh_lock:
            read = self._read()
            if self._unpublished:
                self._publish()
        return read

    def _read(self) -> int:
        if self.events is None:  # catalog phrases only
            return 0
        read, changes = self._followed.read()
        self._unpublished += changes
        return read

    def _publish(self) -> None:
        started = time.monotonic()
        self.popular = self._followed.log.ranked(self.scoring)  # one reference assignment
        self._published_at = time.monotonic()
        self._publish_s = self._published_at - started
        self._unpublished = 0

    def _follow(self) -> None:
        with self._refresh_lock:
            self._read()  # cheap: counts only the new events
            # Ranking again costs with the number of distinct queries (docs/benchmarks.md):
            # at most a tenth of the follower's time goes to it.
            if self._unpublished and time.monotonic() - self._published_at >= 10 * self._publish_s:
                self._publish()

    def stop(self) -> None:
        if self._follower is not None:
            self._follower.stop()

    def _rules(self) -> tuple[Blocks, list[SuggestionRule]]:
        """The merchants' blocks and pins, prepared once per change of the rules."""
        return self.rules.derived(lambda rules: (Blocks.of(rules), [rule for rule in rules if rule.action == "pin"]))

    def suggest(self, engine: Engine, prefix: str, count: int = DEFAULT_COUNT, product_count: int = DEFAULT_PRODUCTS,
                category_count: int = DEFAULT_CATEGORIES) -> SuggestResult:
        """Completions of `prefix` over the engine's current snapshot, with the top products
        and categories of the best completion (of the words typed when there is none)."""
        snapshot = engine.index.snapshot()
        synonyms = engine.synonyms_in_force()  # as a search would read them
        blocks, pins = self._rules()
        sources = Sources(engine.phrases.get(), self.popular, engine.spelling.get(), blocks, pins, self.scoring)
        suggestions = complete(prefix, sources, count, phrase_finds_products(snapshot, self._memo, synonyms))
        result = SuggestResult(prefix, suggestions, version=snapshot.version, seq=snapshot.seq)
        text = suggestions[0].text if suggestions else " ".join(prefix.split())
        if (product_count or category_count) and text:
            result.products, result.categories = self._memo.get(
                snapshot, ("leads_to", text, product_count, category_count, synonyms),
                lambda: leads_to(snapshot, text, product_count, category_count, synonyms))
            result.leads_to = text
        return result
