"""Recommendations: co-baskets and rebuys counted from hand-made logs, what rises, bought
together (with cold start by product type), for-you, trending, the API, and the counts
followed live under concurrent reads, writes and erasures, on the real Icecat slice."""
from __future__ import annotations

import threading

import pytest

from indexer.filters import Filters
from search_engine.event_store import EventStore
from search_engine.recommend.activity import DAY, ActivityLog, RecommendationSettings, rising
from search_engine.recommend.associations import association
from search_engine.recommend.live import LiveRecommendations
from search_engine.recommend.recommender import (ForYouWeights, RecommendationView, UnknownProductError,
                                                 bought_together, for_you, trending)
from search_engine.types import Event

T = 1788220800.0
MICE = ("3484708", "3676828", "480649", "3149231")  # the slice's wireless mice (type "mouse")
BATTERIES = ("778555", "3426898", "3802078", "388565")  # AA batteries (type "household battery")
BACKPACK = "1377488"
TONER = "1365844"


def _buy(user: str, product: str, day: float, kind: str = "purchase") -> Event:
    return Event(user, f"s-{user}-{day}", T + day * DAY, kind, product)


def test_co_baskets_count_each_shopper_once_within_the_window():
    log = ActivityLog(RecommendationSettings(basket_days=14))
    log.add([_buy("a", "m", 0), _buy("a", "b", 1), _buy("a", "b", 2),  # b twice: the pair counts once
             _buy("b", "m", 0, "add_to_cart"), _buy("b", "b", 3),  # a cart counts as a basket too
             _buy("c", "m", 0), _buy("c", "x", 20)])  # 20 days apart: not bought together
    counts = log.published(T + 30 * DAY)
    assert counts.pairs["m"] == {"b": 2} and counts.pairs["b"] == {"m": 2}
    assert "x" not in counts.pairs
    assert counts.basket_shoppers == {"m": 3, "b": 2, "x": 1} and counts.basket_total == 3
    assert counts.buyers == {"m": 2, "b": 2, "x": 1}
    assert counts.rebuyers == {"b": 1}  # a bought b again a day later; b's second was a first purchase


def test_a_rebuy_needs_the_gap_and_counts_a_shopper_once():
    log = ActivityLog(RecommendationSettings(rebuy_gap_days=1))
    log.add([_buy("a", "t", 0), _buy("a", "t", 0.01),  # minutes later: the same shopping trip
             _buy("b", "t", 0), _buy("b", "t", 20), _buy("b", "t", 40),
             _buy("c", "t", 10), _buy("c", "t", 0)])  # stored out of time order: still a rebuy
    assert log.published(T + 50 * DAY).rebuyers == {"t": 2}


def test_an_event_stored_late_still_pairs_within_its_window():
    log = ActivityLog(RecommendationSettings(basket_days=14))
    log.add([_buy("a", "x", 0), _buy("a", "z", 20), _buy("a", "y", 1)])  # y arrives after z
    assert log.published(T + 30 * DAY).pairs["x"] == {"y": 1}


def test_association_is_the_cosine_of_the_baskets():
    assert association(2, 4, 9) == pytest.approx(2 / 6)
    assert association(3, 0, 5) == 0.0


def test_what_rises_outranks_a_steady_seller_of_the_same_recent_volume_and_one_event_is_no_trend():
    log = ActivityLog(RecommendationSettings(trending_half_life_days=3, usual_half_life_days=30))
    events = [Event("u", "s", T + d * DAY, "view", "steady") for d in range(60) for _ in range(4)]
    events += [Event("u", "s", T + 59 * DAY + h * 3600, "view", "rising") for h in range(12)]
    events += [Event("u", "s", T + 59.5 * DAY, "view", "once")]
    log.add(sorted(events, key=lambda e: e.timestamp))
    counts = log.published(T + 60 * DAY)
    recent = counts.recent
    assert recent["rising"][0] == pytest.approx(recent["steady"][0], rel=0.5)  # alike lately
    assert counts.trend["rising"] > 1.3 * counts.trend["steady"] > 0
    assert counts.trend["once"] < counts.trend["steady"]
    assert rising(0.0, 5.0, 1.0) == 0.0


@pytest.fixture
def view_of(engine):
    def build(events, settings=RecommendationSettings(), now=T + 30 * DAY):
        log = ActivityLog(settings)
        log.add(sorted(events, key=lambda e: e.timestamp))
        return RecommendationView(log.published(now), engine.index.snapshot(), engine.vocabulary.get(), settings)
    return build


def test_bought_together_ranks_co_baskets_and_never_a_variant_of_the_product(view_of):
    view = view_of(
        [_buy(f"u{i}", MICE[0], i) for i in range(4)] + [_buy(f"u{i}", BATTERIES[0], i + 0.1) for i in range(4)]
        + [_buy(f"u{i}", MICE[1], i + 0.2) for i in range(4)]  # another mouse: a variant, never a complement
        + [_buy("u0", BACKPACK, 0.3)])  # one shopper: below the minimum support
    assert view.type_name(MICE[0]) == view.type_name(MICE[1]) != view.type_name(BATTERIES[0])
    items = bought_together(view, MICE[0], 5)
    assert items[0].product.id == BATTERIES[0]
    assert "4 shoppers carted or bought both" in items[0].reasons[0]
    ids = [item.product.id for item in items]
    assert MICE[1] not in ids and MICE[0] not in ids and BACKPACK not in ids
    assert all(view.type_name(i) != "mouse" for i in ids)
    with pytest.raises(UnknownProductError):
        bought_together(view, "no-such-product", 5)


def test_a_product_without_history_gets_the_complements_of_its_type_nearest_to_it(view_of):
    view = view_of([_buy(f"u{i}", MICE[0], i) for i in range(3)] + [_buy(f"u{i}", BATTERIES[0], i) for i in range(3)])
    cold = bought_together(view, MICE[2], 4)  # no shopper ever bought this mouse
    assert cold and all(view.type_name(item.product.id) == "household battery" for item in cold)
    assert "shoppers who buy mouse buy household battery" in cold[0].reasons[0]
    similarity = [float(s) for s in (item.reasons[0].rsplit("similarity ", 1)[1].rstrip(")") for item in cold)]
    assert similarity == sorted(similarity, reverse=True)  # the nearest of the type first
    assert bought_together(view, BACKPACK, 4) == []  # no type bought with backpacks: nothing invented


def test_trending_follows_recent_activity_and_the_filters(view_of):
    events = [Event(f"u{i}", "s", T + 29 * DAY + i, "view", BATTERIES[1]) for i in range(6)]
    events += [Event(f"u{i}", "s", T + 1 * DAY + i, "purchase", MICE[0]) for i in range(6)]  # a month ago
    view = view_of(events)
    items = trending(view, 3)
    assert [i.product.id for i in items[:2]] == [BATTERIES[1], MICE[0]]
    assert items[1].reasons[0].startswith("activity lately")
    only_mice = trending(view, 3, Filters(brands=(view.product(view.doc_of(MICE[0])).brand,)))
    assert [i.product.id for i in only_mice] == [MICE[0]]


def test_for_you_follows_the_shopper_and_never_repeats_a_purchase_unless_rebought(view_of):
    others = [e for i in range(3) for e in (_buy(f"o{i}", BATTERIES[0], 0), _buy(f"o{i}", BATTERIES[0], 20),
                                             _buy(f"o{i}", MICE[0], 0.1))]
    me = [_buy("me", MICE[0], 25), _buy("me", BATTERIES[0], 25.1),
          Event("me", "s", T + 26 * DAY, "view", MICE[1])]
    view = view_of(others + me)
    items, source = for_you(view, me, T + 30 * DAY, 10)
    ids = [item.product.id for item in items]
    assert source == "history"
    assert MICE[0] not in ids  # bought, and nobody buys a mouse twice
    assert BATTERIES[0] in ids  # bought, and its buyers buy it again
    assert any("buy it again" in reason for item in items if item.product.id == BATTERIES[0] for reason in item.reasons)
    assert view.type_name(ids[0]) in ("mouse", "household battery")
    just_bought, _ = for_you(view, me, T + 25.2 * DAY, 10)  # minutes after buying: not yet "again"
    assert BATTERIES[0] not in [item.product.id for item in just_bought]
    only_mice = for_you(view, me, T + 30 * DAY, 10, Filters(categories=("mouse",)))[0]
    assert BATTERIES[0] not in [item.product.id for item in only_mice]  # the rebuy honours the filters too
    nobody, source = for_you(view, [], T + 30 * DAY, 5)
    assert source == "trending" and [i.product.id for i in nobody] == [i.product.id for i in trending(view, 5)]
    only_batteries = for_you(view, me, T + 30 * DAY, 5, Filters(brands=("verbatim",)))[0]
    assert only_batteries and all(i.product.brand.lower() == "verbatim" for i in only_batteries)


def test_for_you_weights_parse_and_refuse_unknown_names():
    assert ForYouWeights.parse("similar=2, rebuy=0").similar == 2.0
    with pytest.raises(ValueError, match="colour"):
        ForYouWeights.parse("colour=1")
    with pytest.raises(ValueError, match="similar"):
        ForYouWeights.parse("similar=-1")


def test_a_deleted_product_is_never_recommended_even_by_a_view_built_before(tmp_path, small_root, towers):
    from indexer.incremental import apply_updates
    from indexer.search_index import SearchIndex
    from search_engine.engine import Engine

    engine = Engine(SearchIndex.open_current(small_root), towers)
    ids = [p.id for p in engine.index.products.live_products()][:3]
    store = EventStore(tmp_path / "events.sqlite3")
    store.add([Event(f"u{i}", "s", T + i, "view", pid) for pid in ids for i in range(3)])
    live = LiveRecommendations(store, lambda: engine, follow=False, clock=lambda: T + DAY)
    live.refresh()
    assert {i.product.id for i in live.trending(engine, 5).items} == set(ids)
    apply_updates(engine.index, towers.product, deletes=[ids[0]])
    served = live.trending(engine, 5).items  # the view still holds the product; the answer does not
    assert ids[0] not in {i.product.id for i in served} and len(served) == 2
    assert ids[0] not in {i.product.id for i in live.for_you(engine, "u0", 5).items}
    with pytest.raises(UnknownProductError):
        live.bought_together(engine, ids[0], 5)


def test_the_api_recommends_explains_and_names_bad_input(client, app):
    events = [e for i in range(3) for e in (_buy(f"u{i}", MICE[0], 1), _buy(f"u{i}", BATTERIES[0], 1.1))]
    assert client.post("/events", json={"events": [
        {"user_id": e.user_id, "session_id": e.session_id, "timestamp": e.timestamp, "type": e.type,
         "product_id": e.product_id} for e in events]}).status_code == 201
    app.extensions["recommendations"].refresh()
    body = client.get(f"/products/{MICE[0]}/bought-together?k=3&explain=true").get_json()
    assert body["results"][0]["id"] == BATTERIES[0] and body["results"][0]["explain"]["reasons"]
    assert body["source"] == "co-baskets"
    mine = client.get("/recommendations/for-you?user=u0&k=5").get_json()
    assert mine["source"] == "history" and MICE[0] not in [r["id"] for r in mine["results"]]
    anonymous = client.get("/recommendations/for-you?k=5").get_json()
    assert anonymous["source"] == "trending" and anonymous["results"]
    hot = client.get("/recommendations/trending?k=2&category=toner cartridge").get_json()
    assert all(r["category"] == "toner cartridge" for r in hot["results"])
    assert client.get("/products/nope/bought-together").status_code == 404
    for path, parameter in (("/recommendations/trending?k=0", "k"), ("/recommendations/for-you?k=x", "k"),
                            ("/recommendations/trending?attr.no_such=1", "attr.no_such"),
                            ("/recommendations/for-you?user=" + "u" * 201, "user"),
                            (f"/products/{MICE[0]}/bought-together?price_min=-1", "price_min")):
        response = client.get(path)
        assert response.status_code == 400 and response.get_json()["error"]["parameter"] == parameter, path


def test_a_merchants_rule_for_a_placement_applies_there(client, app):
    assert client.post("/admin/rules", json={"query": "@trending", "action": "pin", "product_id": TONER,
                                             "position": 1}, headers={"Authorization": "Bearer test-token"}
                       ).status_code == 201
    body = client.get("/recommendations/trending?k=3&explain=true").get_json()
    assert body["results"][0]["id"] == TONER
    assert any("pin" in reason for reason in body["results"][0]["explain"]["reasons"])


def test_a_new_purchase_reaches_the_next_answer_and_a_forgotten_shopper_leaves_none(tmp_path, engine):
    store = EventStore(tmp_path / "events.sqlite3")
    live = LiveRecommendations(store, lambda: engine, refresh_s=0.05, clock=lambda: T + DAY)
    try:
        store.add([e for i in range(2) for e in (_buy(f"u{i}", MICE[0], 0), _buy(f"u{i}", BATTERIES[2], 0.1))])
        live.view(engine)  # someone asks: the follower keeps the view current from now on
        _wait(lambda: [i.product.id for i in live.bought_together(engine, MICE[0], 3).items][:1] == [BATTERIES[2]])
        store.forget("u0")
        _wait(lambda: BATTERIES[2] not in [i.product.id for i in live.bought_together(engine, MICE[0], 3).items
                                           if i.reasons[0].startswith("bought together")])
    finally:
        live.stop()


def _wait(condition, seconds: float = 10.0) -> None:
    import time

    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "not within the time allowed"
        time.sleep(0.05)


def test_readers_see_whole_answers_while_events_arrive_and_erasures_recount(tmp_path, engine):
    """Eight threads read the three endpoints while a writer adds purchases and forgets
    shoppers, and the follower publishes and rebuilds views under them: every answer holds
    distinct catalog products, and the follower reports no failure."""
    store = EventStore(tmp_path / "events.sqlite3")
    live = LiveRecommendations(store, lambda: engine, refresh_s=0.01, clock=lambda: T + 40 * DAY)
    products = engine.index.products
    pool = [p.id for p in products.live_products()][:80]
    problems: list[str] = []
    stop = threading.Event()

    def read(seed: int) -> None:
        i = seed
        while not stop.is_set():
            i += 1
            answers = (live.trending(engine, 10), live.for_you(engine, f"u{i % 20}", 10),
                       live.bought_together(engine, pool[i % len(pool)], 10))
            for answer in answers:
                ids = [item.product.id for item in answer.items]
                if len(ids) != len(set(ids)) or any(products.get(pid) is None for pid in ids):
                    problems.append(f"bad answer {ids}")

    def write() -> None:
        for round_ in range(40):
            store.add([_buy(f"u{(round_ + j) % 20}", pool[(round_ * 7 + j) % len(pool)], round_ * 0.5 + j * 0.01)
                       for j in range(6)])
            if round_ % 10 == 9:
                store.forget(f"u{round_ % 20}")

    readers = [threading.Thread(target=read, args=(n * 1000,)) for n in range(8)]
    try:
        live.view(engine)
        for thread in readers:
            thread.start()
        write()
        _wait(lambda: live.counts.events > 0)
    finally:
        stop.set()
        for thread in readers:
            thread.join()
        live.stop()
    assert not problems, problems[:3]
    assert live._follower.last_error is None
    live.refresh()
    assert live.counts.events == sum(1 for e in store.all() if e.product_id)  # erasures recounted from scratch
