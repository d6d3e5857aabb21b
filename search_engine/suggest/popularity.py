"""What shoppers searched, from the event store: per query, how many searched it, how many
distinct shoppers did, and how often those searches led to clicks and purchases.

QueryLog is fed events in order (all of them once, then each new batch: `EventStore.since`)
and keeps running counts; `ranked()` gives an immutable PrefixIndex of the queries enough
shoppers searched, scored by `QueryScoring`. A click or purchase counts for a query when
the event names the query or the search it came from (its search_id).
"""
from __future__ import annotations

import math
import numbers
from collections import Counter, OrderedDict, defaultdict
from dataclasses import dataclass, field
from typing import Iterable

from indexer.spelling import NearWords
from indexer.suggestions import phrase_key
from search_engine.suggest.prefix_index import PrefixIndex
from search_engine.types import Event

MAX_REMEMBERED_SEARCHES = 200_000  # search_id -> query, for clicks that name only their search
MAX_SUGGESTED_CHARACTERS = 100  # longer searches are not suggestions anyone completes
MAX_SPELLING_QUERIES = 10_000  # the most searched queries spelling correction offers (the head of the traffic)
MIN_SPELLING_CHARACTERS = 4  # a shorter query is too close to too many others to correct


@dataclass(frozen=True)
class QueryScoring:
    """How a completion is ranked: searches + click_weight x clicks + purchase_weight x
    purchases from the event log, plus catalog_weight x ln(1 + products holding it) for
    phrases of the catalog, so a shop with no history still gets the most widely held
    phrases first. A query enters the suggestions once min_shoppers distinct shoppers
    searched it (one shopper cannot put a phrase in everyone's search box).
    `search-bench-suggest quality` checks other weights on the shop's judgments and log."""

    click_weight: float = 1.0
    purchase_weight: float = 3.0
    catalog_weight: float = 1.0
    min_shoppers: int = 2

    def __post_init__(self):
        for name in ("click_weight", "purchase_weight", "catalog_weight"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, numbers.Real) or not 0 <= value < math.inf:
                raise ValueError(f"{name}: must be a number from 0 up, got {value!r}")
        if isinstance(self.min_shoppers, bool) or not isinstance(self.min_shoppers, int) or self.min_shoppers < 1:
            raise ValueError(f"min_shoppers: must be a whole number from 1 up, got {self.min_shoppers!r}")

    def catalog_score(self, products: int) -> float:
        return self.catalog_weight * math.log1p(products)


@dataclass
class QueryCounts:
    searches: int = 0
    clicks: int = 0
    purchases: int = 0
    shoppers: set[str] = field(default_factory=set)
    spellings: Counter[str] = field(default_factory=Counter)  # as typed (lower-case), most common shown


@dataclass(frozen=True)
class PopularQueries:
    """An immutable view of the log's queries: their ranking, how each is shown, and (for
    spelling correction) which are one edit from a given query."""

    index: PrefixIndex
    shown_as: dict[str, str]  # key (phrase_key) -> the most common way shoppers typed it
    _near: NearWords = field(default_factory=lambda: NearWords(()), repr=False)

    @classmethod
    def of(cls, scores: dict[str, float], shown_as: dict[str, str]) -> "PopularQueries":
        # Spelling reads the most searched queries only: what a shop's shoppers mostly mean.
        head = sorted(scores, key=lambda k: (-scores[k], k))[:MAX_SPELLING_QUERIES]
        return cls(PrefixIndex(scores), shown_as, NearWords(k for k in head if len(k) >= MIN_SPELLING_CHARACTERS))

    @classmethod
    def empty(cls) -> "PopularQueries":
        return cls.of({}, {})

    def searched(self, text: str) -> float:
        """The score of what shoppers searched, for a query however its accents are typed."""
        return self.index.score(phrase_key(text))

    def neighbours(self, key: str) -> list[tuple[str, float]]:
        """Popular queries one edit from `key` (a space counts as a letter, so a split or a
        merge is one edit), most searched first."""
        close = [(other, self.index.score(other)) for other in self._near.within(key, 1)]
        return sorted(close, key=lambda pair: (-pair[1], pair[0]))


NO_QUERIES = PopularQueries.empty()


class QueryLog:
    """Running counts over the events fed so far; one feeder (not thread-safe)."""

    def __init__(self):
        self.counts: dict[str, QueryCounts] = defaultdict(QueryCounts)
        self._query_of_search: OrderedDict[str, str] = OrderedDict()

    def add(self, events: Iterable[Event]) -> int:
        """Count these events; how many counted toward a query."""
        counted = 0
        for event in events:
            key = self._key(event)
            if key is None:
                continue
            counts = self.counts[key]
            if event.type == "search":
                counts.searches += 1
                counts.shoppers.add(event.user_id)
                counts.spellings[" ".join(event.query.lower().split())] += 1
            elif event.type == "click":
                counts.clicks += 1
            elif event.type == "purchase":
                counts.purchases += 1
            counted += 1
        return counted

    def _key(self, event: Event) -> str | None:
        query = event.query
        if event.type == "search" and event.search_id and query:
            self._query_of_search[event.search_id] = query
            if len(self._query_of_search) > MAX_REMEMBERED_SEARCHES:
                self._query_of_search.popitem(last=False)
        elif not query and event.search_id:
            query = self._query_of_search.get(event.search_id)
        if not query or len(query) > MAX_SUGGESTED_CHARACTERS:
            return None
        return phrase_key(query) or None

    def ranked(self, scoring: QueryScoring) -> PopularQueries:
        scores, shown = {}, {}
        for key, counts in self.counts.items():
            if len(counts.shoppers) < scoring.min_shoppers:
                continue
            scores[key] = (counts.searches + scoring.click_weight * counts.clicks
                           + scoring.purchase_weight * counts.purchases)
            shown[key] = counts.spellings.most_common(1)[0][0] if counts.spellings else key
        return PopularQueries.of(scores, shown)
