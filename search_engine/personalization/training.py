"""Train the preference model from logged searches: what was shown, and what the shopper did.

Training lists. Each logged search event (the products shown, in order) becomes one list.
An interaction counts for the search that showed its product: the one named by its
search_id, else the latest earlier search in the same session that showed it (carts and
purchases usually come from the product page, without a search_id). Labels are the
strongest thing done with the product: purchase 3, add to cart 2, click 1, nothing 0.
Lists where the shopper did nothing carry no preference and are dropped.

No leaks. Every feature of a list is computed as of its search time, as serving would: the
shopper's profile from their earlier events, popularity and click-through from everyone's
earlier events. (Leaving only the list's own session out of all-time counts is not enough:
a product's count then differs by exactly its own click between clicked and unclicked
lists, and the trees learn that difference instead of preference.)

Position bias. Shoppers click what is on top more, whatever it is. LightGBM's unbiased
LambdaMART (Dataset(position=...)) learns a bias factor per shown position jointly with the
ranker and divides it out of the gradients, so the model learns preference, not layout.

Why LambdaMART (LightGBM): it optimises nDCG directly, mixes scores, ranks, counts and
affinities on any scale without normalisation, handles missing values (a product only one
leg found), gives exact per-feature contributions for explain (TreeSHAP), and scores 100
candidates in well under a millisecond on one thread.
"""
from __future__ import annotations

from bisect import bisect_left
from collections import defaultdict
from dataclasses import dataclass, field, replace
from typing import Callable, Iterable, Mapping, Sequence

import numpy as np

from indexer.schema import Product
from search_engine.personalization.features import FEATURES, CatalogPriors, feature_matrix, order_prior
from search_engine.personalization.product_stats import ProductStats
from search_engine.personalization.profiles import (
    EXPOSURE_SEARCHES, PROFILE_INTERACTIONS, CatalogReader, FirstPages, PriceBands, build_profile)
from search_engine.types import Candidate, Event

LABELS = {"click": 1, "add_to_cart": 2, "purchase": 3}
ATTRIBUTION_WINDOW_S = 3600.0
UNRANKED = 1000  # the unpersonalized rank given to a shown product the replay does not find
# How strongly the unpersonalized order holds against the model's correction. On simulated
# shoppers (docs/personalization.md) 1.0 and 0.3 cost lift against no prior at all; 0.1 cost
# none, and a zero correction still gives back exactly the unpersonalized order.
PRIOR_SCALE = 0.1


@dataclass
class LoggedList:
    search: Event
    labels: dict[str, int] = field(default_factory=dict)  # product id -> strongest label
    session_events: list[Event] = field(default_factory=list)

    @property
    def shown(self) -> tuple[str, ...]:
        return self.search.shown


def logged_lists(events: Iterable[Event], depth: int = 10) -> list[LoggedList]:
    """Searches with their outcomes, in time order; only the top `depth` shown count."""
    lists: list[LoggedList] = []
    by_search_id: dict[str, LoggedList] = {}
    open_in_session: dict[str, list[LoggedList]] = defaultdict(list)
    for event in in_causal_order(events):
        if event.type == "search":
            logged = LoggedList(replace(event, shown=event.shown[:depth]))
            lists.append(logged)
            open_in_session[event.session_id].append(logged)
            if event.search_id:
                by_search_id[event.search_id] = logged
            logged.session_events.append(logged.search)
            continue
        target = by_search_id.get(event.search_id) if event.search_id else None
        if target is None:
            target = _latest_showing(open_in_session.get(event.session_id, []), event)
        if target is None or event.product_id not in target.shown:
            continue
        target.session_events.append(event)
        label = LABELS.get(event.type, 0)
        if label > target.labels.get(event.product_id, 0):
            target.labels[event.product_id] = label
    return [l for l in lists if l.labels]


def _latest_showing(searches: list[LoggedList], event: Event) -> LoggedList | None:
    """The latest of a session's searches (in time order) that showed the event's product,
    within the attribution window before it."""
    for logged in reversed(searches):
        if event.timestamp - logged.search.timestamp > ATTRIBUTION_WINDOW_S:
            return None  # the rest are older still
        if event.product_id in logged.shown:
            return logged
    return None


def in_causal_order(events: Iterable[Event]) -> list[Event]:
    """Events in time order, an outcome that names its search (search_id) never before that
    search: the server times searches, a shopper's device times clicks, and a clock running
    behind would otherwise put the click first, where it is no outcome of the search and is
    history (a leak) for the features of the very list it was clicked in."""
    events = list(events)
    searched_at = {e.search_id: e.timestamp for e in events if e.type == "search" and e.search_id}
    placed = [replace(e, timestamp=searched_at[e.search_id])
              if e.type != "search" and e.search_id in searched_at and e.timestamp < searched_at[e.search_id] else e
              for e in events]
    return sorted(placed, key=lambda e: (e.timestamp, e.type != "search"))  # a search before what it led to


class ShopperHistory:
    """One shopper's events so far, fed in time order, read as build_profile reads them as
    of a time: the latest EXPOSURE_SEARCHES searches and PROFILE_INTERACTIONS other events
    before it, found by bisection (a long history costs no more per list than a short one);
    and their first pages (FirstPages)."""

    def __init__(self):
        self.searches: list[Event] = []
        self.others: list[Event] = []
        self._search_times: list[float] = []
        self._other_times: list[float] = []
        self.first_pages = FirstPages()

    def add(self, event: Event) -> None:
        if event.type == "search":
            self.first_pages.add(event)
            if not event.shown:
                return  # shows nothing: no exposure, and build_profile reads nothing else of it
            self.searches.append(event)
            self._search_times.append(event.timestamp)
        else:
            self.others.append(event)
            self._other_times.append(event.timestamp)

    def before(self, now: float) -> list[Event]:
        searches = bisect_left(self._search_times, now)
        others = bisect_left(self._other_times, now)
        return (self.searches[max(0, searches - EXPOSURE_SEARCHES):searches]
                + self.others[max(0, others - PROFILE_INTERACTIONS):others])


@dataclass
class Dataset:
    rows: np.ndarray
    labels: np.ndarray
    groups: list[int]
    positions: np.ndarray
    users: list[str]  # one per list
    ranks: np.ndarray  # each row's unpersonalized rank on replay


def build_dataset(lists: Sequence[LoggedList], events: Sequence[Event], catalog: CatalogReader,
                  candidates_of: Callable[[str], Mapping[str, Candidate]],
                  bands: PriceBands, priors: CatalogPriors, half_life_days: float = 30.0) -> Dataset:
    """Feature rows for every shown product of every list, each as of its search's time (a
    later page's: its first page's, as serving reads it; FirstPages).

    events: the whole log (read in_causal_order); candidates_of(query): the engine's candidates for a
    query by product id, replayed on the current index (a shown product it no longer finds
    gets missing retrieval features).
    """
    events = in_causal_order(events)
    history: dict[str, ShopperHistory] = defaultdict(ShopperHistory)
    stats = ProductStats()
    seen = 0
    rows, labels, groups, positions, users, ranks = [], [], [], [], [], []
    contexts: dict[str, list[Product]] = {}  # query -> its replayed candidates' products
    for logged in sorted(lists, key=lambda l: l.search.timestamp):
        while seen < len(events) and events[seen].timestamp < logged.search.timestamp:
            stats.add(events[seen])
            history[events[seen].user_id].add(events[seen])
            seen += 1
        shown = [(pid, catalog.product_of(pid)) for pid in logged.shown]
        first = logged.search.position or 1  # a later page starts further down
        shown = [(i, pid, p) for i, (pid, p) in enumerate(shown, start=first) if p is not None]
        if not shown:
            continue
        found = candidates_of(logged.search.query)
        candidates = [found.get(pid) or Candidate(doc=-1) for _, pid, _ in shown]
        # What serving reranks for this query, and the shown products it no longer finds.
        context = contexts.get(logged.search.query)
        if context is None:
            context = contexts[logged.search.query] = [p for p in map(catalog.product_of, found) if p is not None]
        context = context + [p for _, pid, p in shown if pid not in found]
        shopper = history[logged.search.user_id]
        search = logged.search
        now = shopper.first_pages.profile_time(search.timestamp, search.query, search.position or 1, search.session_id)
        profile = build_profile(shopper.before(now), catalog, bands, now=now, half_life_days=half_life_days)
        rows.append(feature_matrix(logged.search.query, [p for _, _, p in shown], candidates,
                                   profile, stats, bands, priors, catalog, context))
        labels += [logged.labels.get(pid, 0) for _, pid, _ in shown]
        positions += [i for i, _, _ in shown]
        # A shown product the replay no longer finds ranks below everything it does find.
        ranks += [c.base_rank if c.base_rank is not None else UNRANKED for c in candidates]
        groups.append(len(shown))
        users.append(logged.search.user_id)
    width = len(FEATURES)
    return Dataset(np.vstack(rows) if rows else np.zeros((0, width), np.float32), np.array(labels, np.int32),
                   groups, np.array(positions, np.int32), users, np.array(ranks, np.int32))


def subset(data: Dataset, keep: Callable[[str], bool]) -> Dataset:
    """The lists whose user passes keep()."""
    starts = np.cumsum([0] + data.groups)
    chosen = [i for i, u in enumerate(data.users) if keep(u)]
    index = np.concatenate([np.arange(starts[i], starts[i + 1]) for i in chosen]) if chosen else np.zeros(0, int)
    return Dataset(data.rows[index], data.labels[index], [data.groups[i] for i in chosen],
                   data.positions[index], [data.users[i] for i in chosen], data.ranks[index])


PARAMS = {
    "objective": "lambdarank",
    "metric": "ndcg",
    "eval_at": [10],
    "learning_rate": 0.05,
    # Small, regularised trees: 15 leaves of at least 200 rows over 400 rounds, chosen on the
    # simulated validation shoppers of seed 7 over 7/500/200 and 31/100/600 (docs/personalization.md);
    # shoppers' logs are noisy and position-confounded.
    "num_leaves": 15,
    "min_data_in_leaf": 200,
    "feature_fraction": 0.9,
    "lambdarank_truncation_level": 20,
    "num_threads": 2,
    "seed": 13,
    # The same log trains the same model: LightGBM otherwise picks row- or column-wise
    # histograms by a timing test, and the trees differ from run to run.
    "deterministic": True,
    "force_col_wise": True,
    "verbose": -1,
}


ROUNDS = 400


def train_model(train: Dataset, valid: Dataset | None = None, rounds: int = ROUNDS,
                params: Mapping | None = None, debias_positions: bool = True, prior_scale: float = PRIOR_SCALE):
    """A LightGBM LambdaMART booster; valid (when given) is scored each round, not used to stop.

    Logged lists are a biased judge (the logging order is in them), so stopping early on them
    stopped after a handful of rounds that held-out shoppers showed was far too few.
    """
    import lightgbm

    params = {**PARAMS, **(params or {})}
    position = train.positions if debias_positions else None
    # The trees learn a correction to the unpersonalized order (init_score), which serving
    # scales by its confidence in the shopper (reranker.confidence).
    train_set = lightgbm.Dataset(train.rows, train.labels, group=train.groups, position=position,
                                 init_score=order_prior(train.ranks, prior_scale), feature_name=list(FEATURES), free_raw_data=False)
    valid_sets = []
    if valid is not None and valid.groups:
        valid_sets = [lightgbm.Dataset(valid.rows, valid.labels, group=valid.groups, init_score=order_prior(valid.ranks, prior_scale),
                                       reference=train_set)]
    return lightgbm.train(params, train_set, num_boost_round=rounds, valid_sets=valid_sets)



def candidate_replay(engine, depth: int = 100) -> Callable[[str], dict[str, Candidate]]:
    """candidates_of(query) for build_dataset: the engine's unpersonalized candidates, cached per query."""
    from search_engine.types import Query

    cache: dict[str, dict[str, Candidate]] = {}

    def candidates_of(query: str) -> dict[str, Candidate]:
        if query not in cache:
            hits = engine.search(Query(query, k=depth)).hits
            cache[query] = {hit.product.id: hit.candidate for hit in hits if hit.candidate.ranked}
        return cache[query]

    return candidates_of


def _held_for_validation(user_id: str, share: float) -> bool:
    import zlib

    return zlib.crc32(user_id.encode()) % 1000 < share * 1000


def train_from_events(events: Sequence[Event], engine, products: Sequence[Product], rounds: int = ROUNDS,
                      validation_share: float = 0.1, half_life_days: float = 30.0, show_progress: bool = False,
                      params: Mapping | None = None):
    """The whole path from an event log to a PreferenceModel (not yet saved) and its report.

    engine: the unpersonalized engine whose candidates are replayed for each logged query.
    Validation lists come from a held-back share of users (their nDCG@10 is reported).
    """
    import time

    from tqdm import tqdm

    from search_engine.metrics import mean, ndcg_at_k
    from search_engine.personalization.model import PreferenceModel

    started = time.perf_counter()
    lists = logged_lists(events)  # it and build_dataset read the log in_causal_order
    if not lists:
        raise ValueError("the event log has no search with a click, cart or purchase on what it showed: "
                         "nothing to learn from (search events must list the products shown)")
    catalog = CatalogReader.of_snapshot(engine.index.snapshot())
    bands, priors = PriceBands.fit(products), CatalogPriors.fit(products, catalog)
    data = build_dataset(tqdm(lists, desc="Training lists", disable=not show_progress), events,
                         catalog, candidate_replay(engine), bands, priors, half_life_days)
    stats = ProductStats.from_events(events)  # serving uses counts over the whole log
    train = subset(data, lambda u: not _held_for_validation(u, validation_share))
    valid = subset(data, lambda u: _held_for_validation(u, validation_share))
    if not train.groups:
        train, valid = data, None
    booster = train_model(train, valid if valid and valid.groups else None, rounds, params)

    def list_ndcg(dataset: Dataset, scores) -> float | None:
        starts = np.cumsum([0] + dataset.groups)
        values = []
        for i in range(len(dataset.groups)):
            labels = dataset.labels[starts[i]:starts[i + 1]]
            order = np.argsort(-np.asarray(scores[starts[i]:starts[i + 1]]), kind="stable")
            values.append(ndcg_at_k([str(j) for j in order], {str(j): float(g) for j, g in enumerate(labels)}, 10))
        return mean(values)

    report = {
        "events": len(events), "lists": len(data.groups), "rows": int(len(data.labels)),
        "users": len(set(data.users)), "validation_lists": len(valid.groups) if valid else 0,
        "rounds": booster.current_iteration(), "seconds": round(time.perf_counter() - started, 1),
    }
    if valid is not None and valid.groups:
        report["validation_ndcg@10_logged_order"] = list_ndcg(valid, -valid.positions.astype(float))
        report["validation_ndcg@10_model"] = list_ndcg(valid, order_prior(valid.ranks, PRIOR_SCALE) + booster.predict(valid.rows))
    model = PreferenceModel(booster, stats, bands, priors,
                            meta={"learner": "LightGBM LambdaMART, position-debiased, a correction to the "
                                             "unpersonalized order", "prior_scale": PRIOR_SCALE,
                                  "params": {**PARAMS, **(params or {})},
                                  "training": report, "half_life_days": half_life_days})
    return model, report
