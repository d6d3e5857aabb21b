"""Recommendations for the serving engine, following the event store.

One background thread reads the events stored since it last looked (EventStore.since),
counts them into the ActivityLog, publishes new ActivityCounts (at least every REDECAY_S, so
trends keep fading when nothing happens) and builds the RecommendationView over the serving
snapshot, each with one reference assignment; request threads read whichever is published.
A new purchase is in the answers after the next refresh (REFRESH_S) and publish: seconds.
Publishing costs with the products touched and the products active, so the follower
publishes at most once per ten times the last publish took. When events are deleted (a
shopper forgotten, old events expired: EventStore.erasures moves) the log is counted again
from the start, so nothing of theirs stays in the counts.

A view is built over the snapshot of its moment; a request checks every product it returns
against the snapshot serving now, so a product deleted since is never recommended.
"""
from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np

from indexer.filters import Filters
from search_engine.engine import Engine
from search_engine.event_store import FollowedLog
from search_engine.merchandising import Rule, active_rules, apply_rules
from search_engine.periodic import Periodic
from search_engine.recommend.activity import NO_ACTIVITY, ActivityLog, RecommendationSettings
from search_engine.recommend.recommender import (ForYouWeights, Recommendation, RecommendationView,
                                                 UnknownProductError, bought_together, for_you, trending)

REFRESH_S = 2.0
REDECAY_S = 60.0
HISTORY_EVENTS = 500  # a shopper's most recent events for-you reads
# Items asked for beyond k, so the products the final check drops (deleted or changed since the
# view was built) still leave k.
SPARE = 3


@dataclass
class Recommended:
    """One answer: the products, where they came from, which snapshot they were checked against."""

    items: list[Recommendation]
    source: str  # "history", "trending" (for-you); "co-baskets" (bought-together); "activity"
    version: str


class LiveRecommendations:
    def __init__(self, events, engine_of: Callable[[], Engine], rules: Callable[[], Sequence[Rule]] | None = None,
                 settings: RecommendationSettings = RecommendationSettings(), weights: ForYouWeights = ForYouWeights(),
                 refresh_s: float = REFRESH_S, follow: bool = True, clock: Callable[[], float] = time.time):
        """events: the EventStore to follow; engine_of: the engine serving now; rules: the
        merchants' rules (those naming a placement apply there). follow=False starts no
        thread: call refresh() yourself (tests)."""
        self.events = events
        self.engine_of = engine_of
        self.rules = rules
        self.settings = settings
        self.weights = weights
        self.clock = clock
        self.counts = NO_ACTIVITY  # replaced, never changed in place
        self._view: RecommendationView | None = None
        self._asked = False  # views are built once someone asks for recommendations
        self._followed = FollowedLog(events, lambda: ActivityLog(settings))
        self._unpublished = 0
        self._published_at = 0.0
        self._publish_s = 0.0
        self._refresh_lock = threading.Lock()  # one feeder of the log
        self._follower = Periodic("recommendation-follower", self._follow, refresh_s,
                                  "following the event log for recommendations") if follow else None

    def refresh(self) -> int:
        """Read the events stored since the last refresh, publish and build the view now; how
        many events were read."""
        with self._refresh_lock:
            read = self._read()
            self._publish()
            self._build_view(self.engine_of())
        return read

    def _read(self) -> int:
        read, changes = self._followed.read()
        self._unpublished += changes
        return read

    def _publish(self) -> None:
        self.counts = self._followed.log.published(self.clock())
        self._published_at = time.monotonic()
        self._unpublished = 0

    def _build_view(self, engine: Engine) -> RecommendationView:
        view = RecommendationView(self.counts, engine.index.snapshot(), engine.vocabulary.get(), self.settings)
        self._view = view  # one reference assignment
        return view

    def _follow(self) -> None:
        with self._refresh_lock:
            self._read()
            since = time.monotonic() - self._published_at
            # Publishing and building the view cost with the products active and the pairs
            # counted (type tables): at most a tenth of the follower's time goes to them.
            if not ((self._unpublished and since >= 10 * self._publish_s) or since >= REDECAY_S):
                if self._view is None or self._view.snapshot is self.engine_of().index.snapshot():
                    return
            started = time.monotonic()
            self._publish()
            if self._asked:
                self._build_view(self.engine_of())
            self._publish_s = time.monotonic() - started

    def stop(self) -> None:
        if self._follower is not None:
            self._follower.stop()

    def view(self, engine: Engine) -> RecommendationView:
        """The latest view; built here, without waiting for the follower, only before its
        first (at start: from the counts published so far)."""
        self._asked = True
        return self._view or self._build_view(engine)

    def for_you(self, engine: Engine, user: str | None, k: int, filters: Filters = Filters()) -> Recommended:
        view = self.view(engine)
        history = self.events.for_user(user, HISTORY_EVENTS) if user else []
        items, source = for_you(view, history, self.clock(), k + SPARE, filters, self.weights)
        return self._served(engine, items, "@for-you", filters, k, source)

    def bought_together(self, engine: Engine, product_id: str, k: int, filters: Filters = Filters()) -> Recommended:
        """UnknownProductError when the catalog serving now does not hold the product."""
        if engine.index.products.get(product_id) is None:
            raise UnknownProductError(product_id)
        view = self.view(engine)
        items = bought_together(view, product_id, k + SPARE, filters) \
            if view.doc_of(product_id) is not None else []
        return self._served(engine, items, "@bought-together", filters, k, "co-baskets")

    def trending(self, engine: Engine, k: int, filters: Filters = Filters()) -> Recommended:
        items = trending(self.view(engine), k + SPARE, filters)
        return self._served(engine, items, "@trending", filters, k, "activity")

    def _served(self, engine: Engine, items: list[Recommendation], placement: str, filters: Filters, k: int,
                source: str) -> Recommended:
        """The items still in the catalog serving now and passing the filters there (with their
        current fields), the merchants' rules for the placement applied, the first k."""
        snapshot = engine.index.snapshot()
        products = snapshot.products
        current = {}
        for item in items:
            doc = products.doc_of(item.product.id)
            if doc is not None and doc not in current and products.passes(doc, filters):
                current[doc] = Recommendation(products.product(doc), item.score, item.reasons)
        rules = active_rules(placement, self.rules()) if self.rules is not None else []
        if rules:
            order, notes = apply_rules(np.array(list(current), dtype=np.int64), rules,
                                       lambda rule, some: products.passing(some, rule.selects()),
                                       products.doc_of, lambda doc: products.passes(doc, filters))
            served = []
            for doc in order.tolist():
                item = current.get(doc) or Recommendation(products.product(doc), 0.0, [])
                served.append(Recommendation(item.product, item.score, item.reasons + notes(doc)))
        else:
            served = list(current.values())
        return Recommended(served[:k], source, snapshot.version)
