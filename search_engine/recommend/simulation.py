"""SIMULATED shopping beyond the search box, for measuring recommendations without real users.

Nothing here is real behaviour. It extends the search-session simulator
(personalization/simulator.py: shoppers with one kind of taste who search the judged Icecat
queries, click, cart and buy) with what recommendations are for. Every probability is a
constant below; the seed fixes every draw.

Product types are the catalog's (its category, else the one query understanding infers).
- **Complements.** Each type with at least MIN_TYPE_PRODUCTS products gets COMPLEMENT_TYPES
  other such types at random: a generic catalog names no pairs, so the simulator invents
  them, and the engine must find them in the log. After a purchase, with P_COMPLEMENT the
  shopper buys one complement: a complement type at random, and in it, with P_MATCHING, one
  of the MATCHING products nearest to the purchase by the product tower (the toner for that
  printer), else any product of the type. With P_SAME_SESSION in the same session (a view,
  a cart, a purchase minutes later), else on a return visit 1 to 14 days later (a view and a
  purchase).
- **Consumables.** CONSUMABLE_SHARE of the types (at random) are consumables. A shopper who
  bought one buys the same product again with P_REBUY, REBUY_DAYS later (uniform), and so on.
- **Trends.** Each simulated day HOT_PER_DAY products of the judged queries' results turn
  hot for HOT_DAYS (uniform) days (a launch, a promotion). A browsing session (P_BROWSE of
  sessions; the rest are search sessions) views, with P_HOT (`simulate --hot-share`; 0: no
  trends at all), one of the products hot at that moment, else a product
  that fits the shopper among the results of a query they would search; a viewed product is
  carted with P_CART and then bought with P_BUY.
"""
from __future__ import annotations

import random
import uuid
from collections import defaultdict
from dataclasses import dataclass
from typing import Callable, Mapping, Sequence

import numpy as np

from indexer.schema import Product
from search_engine.personalization.simulator import DAY, ShopperSimulator, SimulatedShopper
from search_engine.types import Event

MIN_TYPE_PRODUCTS = 20
COMPLEMENT_TYPES = 2
P_COMPLEMENT = 0.5
P_MATCHING = 0.8
MATCHING = 5
P_SAME_SESSION = 0.5
CONSUMABLE_SHARE = 0.3
P_REBUY = 0.7
REBUY_DAYS = (14.0, 35.0)
HOT_PER_DAY = 5
HOT_DAYS = (2.0, 7.0)
P_BROWSE = 0.5
P_HOT = 0.5
P_CART = 0.15
P_BUY = 0.6


@dataclass(frozen=True)
class ShoppingWorld:
    """What every simulated shopper shares: types, complements, consumables, hot spells."""

    type_of: Mapping[str, str]  # product id -> type
    members: Mapping[str, tuple[str, ...]]  # type -> its product ids
    complements: Mapping[str, tuple[str, ...]]  # type -> its complement types
    consumables: frozenset[str]  # consumable types
    hot: tuple[tuple[float, float, str], ...]  # (from, until, product id) hot spells

    def describe(self) -> dict:
        return {"types": len(self.members), "complements": {t: list(c) for t, c in sorted(self.complements.items())},
                "consumable_types": sorted(self.consumables), "hot_spells": len(self.hot)}


def make_world(products: Sequence[Product], type_of: Callable[[Product], str | None], pool: Sequence[Product],
               start: float, days: float, rng: random.Random) -> ShoppingWorld:
    """products: the catalog; pool: the products hot spells draw from (the judged results)."""
    types: dict[str, str] = {}
    members: dict[str, list[str]] = defaultdict(list)
    for product in products:
        name = type_of(product)
        if name:
            types[product.id] = name
            members[name].append(product.id)
    eligible = sorted(name for name, ids in members.items() if len(ids) >= MIN_TYPE_PRODUCTS)
    complements = {}
    for name in eligible:
        others = [other for other in eligible if other != name]
        complements[name] = tuple(rng.sample(others, min(COMPLEMENT_TYPES, len(others))))
    consumables = frozenset(rng.sample(eligible, int(round(CONSUMABLE_SHARE * len(eligible)))))
    hot = []
    pool_ids = [p.id for p in pool]
    for day in range(int(days) + 1):
        for _ in range(HOT_PER_DAY if pool_ids else 0):
            begins = start + (day + rng.random()) * DAY
            hot.append((begins, begins + rng.uniform(*HOT_DAYS) * DAY, rng.choice(pool_ids)))
    return ShoppingWorld(types, {t: tuple(ids) for t, ids in members.items()}, complements, consumables,
                         tuple(sorted(hot)))


class ShoppingSimulator:
    def __init__(self, sessions: ShopperSimulator, world: ShoppingWorld, products: Mapping[str, Product],
                 vector_of: Callable[[str], np.ndarray | None], seed: int = 7, hot_share: float = P_HOT):
        """sessions: the search-session simulator; products: the catalog by id."""
        self.sessions = sessions
        self.by_brand: dict[str, list[Product]] = defaultdict(list)  # what a mixed shopper browses
        for product in products.values():
            self.by_brand[product.brand].append(product)
        self.world = world
        self.products = products
        self.vector_of = vector_of
        self.rng = random.Random(seed)
        self.hot_share = hot_share
        self._nearest: dict[tuple[str, str], list[str]] = {}
        self._type_vectors: dict[str, tuple[list[str], np.ndarray]] = {}

    def history(self, shopper: SimulatedShopper, start: float, days: float, sessions: int) -> list[Event]:
        """A shopper's events over `days` after start: `sessions` sessions at random times, with
        the complements and rebuys their purchases lead to (some after `days`: cut them)."""
        events: list[Event] = []
        for at in sorted(start + self.rng.uniform(0, days * DAY) for _ in range(sessions)):
            if self.rng.random() < P_BROWSE:
                session = self._browse(shopper, at)
            else:
                session = self.sessions.session(shopper, at)
            events += session
            for event in session:
                if event.type == "purchase":
                    events += self._after_purchase(shopper, event)
        return sorted(events, key=lambda e: e.timestamp)

    def _session_id(self) -> str:
        return f"sim-{uuid.UUID(int=self.rng.getrandbits(128)).hex[:16]}"

    def _browse(self, shopper: SimulatedShopper, at: float) -> list[Event]:
        rng = self.rng
        if rng.random() < self.hot_share:
            hot = [pid for begins, ends, pid in self.world.hot if begins <= at < ends]
            product = self.products.get(rng.choice(hot)) if hot else None
        else:
            viewed = self.sessions.browse(shopper, self.by_brand, at)
            product = self.products.get(viewed[0].product_id) if viewed else None
        if product is None:
            return []
        session = self._session_id()
        events = [Event(shopper.user_id, session, at, "view", product.id)]
        if rng.random() < P_CART:
            events.append(Event(shopper.user_id, session, at + rng.uniform(10, 120), "add_to_cart", product.id))
            if rng.random() < P_BUY:
                events.append(Event(shopper.user_id, session, at + rng.uniform(130, 400), "purchase", product.id))
        return events

    def _after_purchase(self, shopper: SimulatedShopper, purchase: Event, depth: int = 0) -> list[Event]:
        rng, world = self.rng, self.world
        events: list[Event] = []
        bought_type = world.type_of.get(purchase.product_id)
        if bought_type is None:
            return events
        if depth == 0 and world.complements.get(bought_type) and rng.random() < P_COMPLEMENT:
            other_type = rng.choice(world.complements[bought_type])
            if rng.random() < P_MATCHING:
                other = rng.choice(self._nearest_of_type(purchase.product_id, other_type))
            else:
                other = rng.choice(world.members[other_type])
            if rng.random() < P_SAME_SESSION:
                session, at = purchase.session_id, purchase.timestamp + rng.uniform(60, 600)
            else:
                session, at = self._session_id(), purchase.timestamp + rng.uniform(1, 14) * DAY
            complement = [Event(shopper.user_id, session, at, "view", other),
                          Event(shopper.user_id, session, at + rng.uniform(10, 120), "add_to_cart", other),
                          Event(shopper.user_id, session, at + rng.uniform(130, 400), "purchase", other)]
            events += complement
            events += self._after_purchase(shopper, complement[-1], depth + 1)
        if bought_type in world.consumables and rng.random() < P_REBUY and depth < 6:
            at = purchase.timestamp + rng.uniform(*REBUY_DAYS) * DAY
            session = self._session_id()
            rebuy = [Event(shopper.user_id, session, at, "view", purchase.product_id),
                     Event(shopper.user_id, session, at + rng.uniform(30, 300), "purchase", purchase.product_id)]
            events += rebuy
            events += self._after_purchase(shopper, rebuy[-1], depth + 1)
        return events

    def _nearest_of_type(self, product_id: str, type_name: str) -> list[str]:
        key = (product_id, type_name)
        if key not in self._nearest:
            if type_name not in self._type_vectors:
                ids = [pid for pid in self.world.members[type_name] if self.vector_of(pid) is not None]
                self._type_vectors[type_name] = (ids, np.stack([self.vector_of(pid) for pid in ids]))
            ids, matrix = self._type_vectors[type_name]
            vector = self.vector_of(product_id)
            if vector is None:
                self._nearest[key] = list(ids[:MATCHING])
            else:
                order = np.argsort(-(matrix @ vector), kind="stable")[:MATCHING]
                self._nearest[key] = [ids[i] for i in order]
        return self._nearest[key]
