"""What recommendations read of the event log: running counts, fed in order, published whole.

ActivityLog is fed events in the order stored (all of them once, then each new batch:
`EventStore.since`) and keeps, per product:
  - trend: views, clicks, carts and purchases (weighted as the preference model weighs them,
    profiles.EVENT_WEIGHTS), decayed with a half-life of a few days (the recent rate), and
    with a half-life of weeks (the usual rate): what is rising is recent activity times how
    far its recent rate is above its usual one (`rising`);
  - popularity: the same weights, never decayed (the "most popular" baseline, and a fill);
  - basket shoppers: how many distinct shoppers put it in a cart or bought it;
  - pairs: for each other product, how many distinct shoppers carted or bought both within
    `basket_days` of each other (what bought-together reads);
  - buyers and rebuyers: distinct shoppers who bought it, and who bought it again at least
    `rebuy_gap_days` later (what says a product is a consumable shoppers come back for).
`published(now)` copies what changed since the last publish into a new, immutable
ActivityCounts (products nobody touched share the previous one's entries), so a publish
costs with the change and with the number of products, not with the history.
"""
from __future__ import annotations

import math
import numbers
from collections import defaultdict
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Iterable, Mapping

from search_engine.personalization.profiles import EVENT_WEIGHTS
from search_engine.types import Event

DAY = 86400.0
BASKET_TYPES = ("add_to_cart", "purchase")


@dataclass(frozen=True)
class RecommendationSettings:
    """What the counts and the recommendations built on them assume; each is checked on the
    shop's own log by `search-recommend evaluate` (docs/recommendations.md)."""

    basket_days: float = 14.0  # one shopper's carts and purchases this close count as bought together
    min_support: int = 2  # distinct shoppers who bought both before two products are complements
    trending_half_life_days: float = 3.0
    usual_half_life_days: float = 30.0  # trending: the rate a product's recent one is compared with
    rebuy_gap_days: float = 1.0  # the same product bought again this much later is a rebuy
    rebuy_share: float = 0.2  # a product (or type) whose buyers rebuy it this often is a consumable
    recent_half_life_days: float = 7.0  # for-you: how fast a shopper's views and purchases fade
    duplicate_similarity: float = 0.9  # bought-together: products this close by the tower are variants

    def __post_init__(self):
        for name in ("basket_days", "trending_half_life_days", "usual_half_life_days", "rebuy_gap_days",
                     "recent_half_life_days"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, numbers.Real) or not 0 < value < math.inf:
                raise ValueError(f"{name}: must be a positive number, got {value!r}")
        for name in ("rebuy_share", "duplicate_similarity"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, numbers.Real) or not 0 <= value <= 1:
                raise ValueError(f"{name}: must be a number from 0 to 1, got {value!r}")
        if isinstance(self.min_support, bool) or not isinstance(self.min_support, int) or self.min_support < 1:
            raise ValueError(f"min_support: must be a whole number from 1 up, got {self.min_support!r}")


@dataclass(frozen=True)
class ActivityCounts:
    """One published view of the counts; never changed (read by any number of threads)."""

    now: float  # the time trends are decayed to
    trend: Mapping[str, float]  # product -> how much it is rising as of `now` (`rising`)
    recent: Mapping[str, tuple[float, float]]  # product -> (recent, usual) weighted events per day
    popularity: Mapping[str, float]  # product -> weighted activity, all time
    basket_shoppers: Mapping[str, int]
    pairs: Mapping[str, Mapping[str, int]]  # product -> other product -> shoppers who carted or bought both
    buyers: Mapping[str, int]
    rebuyers: Mapping[str, int]
    basket_total: int  # distinct shoppers who carted or bought anything
    events: int  # events counted

    @classmethod
    def empty(cls) -> "ActivityCounts":
        return cls(0.0, {}, {}, {}, {}, {}, {}, {}, 0, 0)


NO_ACTIVITY = ActivityCounts.empty()


@dataclass
class _Shopper:
    basket: dict[str, float] = field(default_factory=dict)  # product -> last cart or purchase time
    carted: set[str] = field(default_factory=set)  # every product they carted or bought
    paired: set[tuple[str, str]] = field(default_factory=set)  # pairs already counted for them
    bought: dict[str, tuple[float, float]] = field(default_factory=dict)  # product -> (first, last) purchase time
    rebought: set[str] = field(default_factory=set)


class ActivityLog:
    """Running counts over the events fed so far; one feeder (not thread-safe)."""

    def __init__(self, settings: RecommendationSettings = RecommendationSettings()):
        self.settings = settings
        self._trend: dict[str, tuple[float, float, float]] = {}  # product -> (recent mass, usual mass, at)
        self._popularity: dict[str, float] = defaultdict(float)
        self._basket_shoppers: dict[str, int] = defaultdict(int)
        self._pairs: dict[str, dict[str, int]] = defaultdict(dict)
        self._buyers: dict[str, int] = defaultdict(int)
        self._rebuyers: dict[str, int] = defaultdict(int)
        self._shoppers: dict[str, _Shopper] = defaultdict(_Shopper)
        self._basket_total = 0
        self._events = 0
        self._touched: set[str] = set()  # products changed since the last publish
        self._published = NO_ACTIVITY

    def add(self, events: Iterable[Event]) -> int:
        """Count these events (in the order stored); how many counted."""
        counted = 0
        recent_decay = math.log(2) / (self.settings.trending_half_life_days * DAY)
        usual_decay = math.log(2) / (self.settings.usual_half_life_days * DAY)
        for event in events:
            weight = EVENT_WEIGHTS.get(event.type)
            product = event.product_id
            if weight is None or not product:
                continue
            counted += 1
            recent, usual, at = self._trend.get(product, (0.0, 0.0, event.timestamp))
            if event.timestamp >= at:
                age = event.timestamp - at
                self._trend[product] = (recent * math.exp(-recent_decay * age) + weight,
                                        usual * math.exp(-usual_decay * age) + weight, event.timestamp)
            else:  # stored out of time order: counts as much as its age
                age = at - event.timestamp
                self._trend[product] = (recent + weight * math.exp(-recent_decay * age),
                                        usual + weight * math.exp(-usual_decay * age), at)
            self._popularity[product] += weight
            self._touched.add(product)
            if event.type in BASKET_TYPES:
                self._basket(event)
            if event.type == "purchase":
                self._purchase(event)
        self._events += counted
        return counted

    def _basket(self, event: Event) -> None:
        shopper = self._shoppers[event.user_id]
        product, now = event.product_id, event.timestamp
        if not shopper.carted:
            self._basket_total += 1
        if product not in shopper.carted:
            shopper.carted.add(product)
            self._basket_shoppers[product] += 1
        window = self.settings.basket_days * DAY
        # Every basket entry is kept (a shopper carts dozens, not thousands): an event stored
        # late, older than ones already counted, still pairs with those in its window.
        for other, at in shopper.basket.items():
            if abs(now - at) > window:
                continue
            pair = (other, product) if other < product else (product, other)
            if other == product or pair in shopper.paired:
                continue
            shopper.paired.add(pair)
            self._pairs[other][product] = self._pairs[other].get(product, 0) + 1
            self._pairs[product][other] = self._pairs[product].get(other, 0) + 1
            self._touched.add(other)
        shopper.basket[product] = now

    def _purchase(self, event: Event) -> None:
        shopper = self._shoppers[event.user_id]
        product, now = event.product_id, event.timestamp
        known = shopper.bought.get(product)
        if known is None:
            self._buyers[product] += 1
            first = last = now
        else:
            first, last = min(known[0], now), max(known[1], now)  # stored out of time order too
        shopper.bought[product] = (first, last)
        if last - first >= self.settings.rebuy_gap_days * DAY and product not in shopper.rebought:
            shopper.rebought.add(product)
            self._rebuyers[product] += 1

    def published(self, now: float) -> ActivityCounts:
        """An immutable view of the counts with trends decayed to `now`."""
        previous = self._published
        pairs = dict(previous.pairs)
        for product in self._touched:
            if product in self._pairs:
                pairs[product] = MappingProxyType(dict(self._pairs[product]))
        self._touched = set()
        rates = {p: _rates(recent, usual, max(0.0, now - at), self.settings)
                 for p, (recent, usual, at) in self._trend.items()}
        typical = sum(usual for _, usual in rates.values()) / len(rates) if rates else 0.0
        counts = ActivityCounts(
            now=now, trend={p: rising(recent, usual, typical) for p, (recent, usual) in rates.items()},
            recent=rates,
            popularity=dict(self._popularity), basket_shoppers=dict(self._basket_shoppers), pairs=pairs,
            buyers=dict(self._buyers), rebuyers=dict(self._rebuyers), basket_total=self._basket_total,
            events=self._events)
        self._published = counts
        return counts


def _rates(recent: float, usual: float, age: float, settings: RecommendationSettings) -> tuple[float, float]:
    """Decayed masses (as of `age` seconds after their last event) as weighted events per day:
    a mass decaying with half-life h holds rate x h / ln 2 in the steady state."""
    recent_days, usual_days = settings.trending_half_life_days, settings.usual_half_life_days
    return (recent * math.exp(-math.log(2) * age / (recent_days * DAY)) * math.log(2) / recent_days,
            usual * math.exp(-math.log(2) * age / (usual_days * DAY)) * math.log(2) / usual_days)


def rising(recent: float, usual: float, typical: float) -> float:
    """The recent rate times how far it is above the usual one. The ratio is smoothed by the
    typical product's usual rate, so one event on a quiet product is not a trend and a
    best-seller that keeps selling ranks by its volume; a product selling at twice its usual
    rate counts twice its volume."""
    return recent * (recent + typical) / (usual + typical) if recent > 0 else 0.0
