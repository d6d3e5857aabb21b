"""Personalization: events in (validated, durable), training lists from logs, the model, cold start."""
import json
from dataclasses import replace

import numpy as np
import pytest

from search_engine.events import EventError, parse_event, read_jsonl_events
from search_engine.types import Candidate, Event
from tests.conftest import T  # when the hand-written shoppers shop
from tests.races import race


def ev(**fields):
    base = {"user_id": "u1", "session_id": "s1", "timestamp": T, "type": "click", "product_id": "p1"}
    return {**base, **fields}


@pytest.mark.parametrize("fields, field", [
    ({"type": "like"}, "type"),
    ({"user_id": ""}, "user_id"),
    ({"session_id": None}, "session_id"),
    ({"timestamp": "yesterday"}, "timestamp"),
    ({"timestamp": "2026-09-01T10:00:00"}, "timestamp"),  # no zone
    ({"timestamp": 1788220800000}, "timestamp"),  # milliseconds
    ({"product_id": None}, "product_id"),
    ({"position": 0}, "position"),
    ({"position": 2 ** 63}, "position"),  # more than the store's integers hold
    ({"timestamp": "0001-01-01T00:00:00+01:00"}, "timestamp"),  # ISO times have the numbers' range too
    ({"timestamp": "9999-12-31T23:59:59-23:59"}, "timestamp"),
    ({"user_id": "\ud800"}, "user_id"),  # a lone surrogate: no store can write it
    ({"type": "search", "product_id": None, "query": "mouse \udfff"}, "query"),
    ({"shown": ["p1"]}, "shown"),
    ({"type": "search", "product_id": None, "query": "mouse", "shown": "p1,p2"}, "shown"),
    ({"type": "search", "product_id": None, "shown": ["p1"]}, "query"),
])
def test_bad_events_name_the_field(fields, field):
    with pytest.raises(EventError) as error:
        parse_event(ev(**fields), index=3)
    assert error.value.field == field and str(error.value).startswith("event 3: ")


def test_good_events_parse_with_iso_or_epoch_times():
    click = parse_event(ev(timestamp="2026-09-01T00:00:00Z", position=2, search_id="abc"))
    assert click == Event("u1", "s1", T, "click", "p1", None, 2, "abc")
    search = parse_event({"user_id": "u1", "session_id": "s1", "timestamp": T, "type": "search",
                          "query": "mouse", "shown": ["p1", "p2"]})
    assert search.shown == ("p1", "p2") and search.product_id is None


def test_jsonl_errors_name_the_line(tmp_path):
    log = tmp_path / "log.jsonl"
    log.write_text(json.dumps(ev()) + "\n\n" + json.dumps(ev(type="wink")) + "\n")
    with pytest.raises(ValueError, match=r"line 3: type: must be one of"):
        list(read_jsonl_events(log))


def test_event_store_keeps_events_per_user_in_time_order(tmp_path):
    from search_engine.event_store import EventStore

    store = EventStore(tmp_path / "events.sqlite3")
    store.add([Event("u1", "s", T + 5, "click", "b"), Event("u2", "s", T, "view", "x"),
               Event("u1", "s", T, "search", query="q", shown=("a", "b"))])
    reopened = EventStore(tmp_path / "events.sqlite3")
    assert [e.type for e in reopened.for_user("u1")] == ["search", "click"]
    assert reopened.for_user("u1")[0].shown == ("a", "b")
    assert [e.user_id for e in reopened.all()] == ["u2", "u1", "u1"] and reopened.count() == 3
    assert reopened.for_user("nobody") == []


def test_logged_lists_attribute_outcomes_by_hand():
    from search_engine.personalization.training import logged_lists

    search = Event("u1", "s1", T, "search", query="mouse", search_id="q1", position=1, shown=("A", "B", "C"))
    later = Event("u1", "s1", T + 100, "search", query="mouse pad", search_id="q2", position=1, shown=("C", "D"))
    events = [
        later, search,  # any order in: time order out
        Event("u1", "s1", T + 10, "click", "B", "mouse", 2, "q1"),
        Event("u1", "s1", T + 20, "purchase", "B"),  # no search id: latest search in the session showing B
        Event("u1", "s1", T + 110, "add_to_cart", "C"),  # shown by both: goes to the later search
        Event("u1", "s1", T + 120, "click", "Z", "mouse", 1, "q1"),  # never shown: ignored
        Event("u1", "s2", T + 30, "click", "A"),  # another session: ignored
        Event("u2", "s9", T, "search", query="toner", shown=("E",)),  # nothing done: no list
    ]
    lists = logged_lists(events)
    assert [l.search.search_id for l in lists] == ["q1", "q2"]
    assert lists[0].labels == {"B": 3} and lists[1].labels == {"C": 2}


def test_profile_smoothing_decay_and_cold_start():
    from indexer.schema import Product
    from search_engine.personalization.profiles import CatalogReader, PriceBands, build_profile, lift

    products = {f"p{i}": Product(f"p{i}", f"t{i}", brand="Logitech" if i < 2 else "HP", category="Mice",
                                 price=10.0 * (i + 1)) for i in range(10)}
    bands = PriceBands.fit(products.values())
    assert [bands.band(products[f"p{i}"]) for i in (0, 9)] == [0, 4]
    day = 86400
    events = [Event("u", "s", T - 30 * day, "purchase", "p0"), Event("u", "s", T - day, "click", "p9"),
              Event("u", "s", T + day, "purchase", "p1"), Event("u", "s", T - day, "click", "gone")]
    profile = build_profile(events, CatalogReader(products.get), bands, now=T, half_life_days=30)
    assert profile.events == 2  # the future purchase and the deleted product do not count
    assert profile.brands["Logitech"] == pytest.approx(2.5, rel=0.01)  # purchase 5, one half-life old
    assert profile.brands["HP"] == pytest.approx(0.5 ** (1 / 30), rel=0.01)
    assert lift(0.0, 0.0, 0.2) == 0.0  # no evidence, no preference
    assert lift(2.5, 3.5, 0.2) > lift(1.0, 3.5, 0.2) > 0 > lift(0.0, 3.5, 0.2)
    assert build_profile([], CatalogReader(products.get), bands, now=T).empty


def _colour_catalog():
    """Twelve mice: even ones Black, odd ones White, prices 10 .. 120, a vector each that
    leans towards 'compact' (axis 0) for the first six."""
    from indexer.schema import Product
    from search_engine.personalization.profiles import CatalogReader

    products = {f"m{i}": Product(f"m{i}", f"mouse {i}", brand="Acme", category="Mice", price=10.0 * (i + 1),
                                 attributes={"product_colour": "Black" if i % 2 == 0 else "White"})
                for i in range(12)}
    vectors = {pid: np.array([1.0 if i < 6 else 0.0, 1.0, 0.0], np.float32) / np.sqrt(2 if i < 6 else 1)
               for i, pid in enumerate(products)}
    return products, CatalogReader(products.get, vectors.get, ("product_colour",))


def test_affinities_are_read_against_what_the_shopper_was_shown():
    """A shopper shown five Black and five White mice who clicks three Black ones likes Black
    and dislikes White; one who is shown only Black mice and clicks them likes nothing: their
    query, not a taste, explains the colour."""
    from search_engine.personalization.features import CatalogPriors, likings
    from search_engine.personalization.profiles import PriceBands, build_profile

    products, catalog = _colour_catalog()
    priors = CatalogPriors.fit(products.values(), catalog)
    assert priors.values == {"product_colour=black": 0.5, "product_colour=white": 0.5}
    bands = PriceBands.fit(products.values())
    shown = tuple(f"m{i}" for i in range(10))
    picky = [Event("u", "s", T - 100, "search", query="mouse", search_id="q", position=1, shown=shown)] + [
        Event("u", "s", T - 90 + i, "click", f"m{i}", "mouse", i + 1, "q") for i in (0, 2, 4)]
    profile = build_profile(picky, catalog, bands, now=T)
    liked = {key: affinity for key, (affinity, _) in likings(profile, products["m0"], priors, catalog).items()}
    liked.update((key, affinity) for key, (affinity, _) in likings(profile, products["m1"], priors, catalog).items())
    assert liked["product_colour=black"] > 0.2 and liked["product_colour=white"] < -0.2
    blacks = tuple(f"m{i}" for i in range(0, 12, 2))
    only_black = [Event("v", "s", T - 100, "search", query="black mouse", search_id="q", position=1, shown=blacks)] + [
        Event("v", "s", T - 90 + i, "click", f"m{i}", "black mouse", i + 1, "q") for i in (0, 2, 4)]
    neutral = {key: affinity for key, (affinity, _) in
               likings(build_profile(only_black, catalog, bands, now=T), products["m0"], priors, catalog).items()}
    assert abs(neutral["product_colour=black"]) < 0.05 < liked["product_colour=black"]


def test_taste_vector_price_place_and_price_spread_follow_the_picks():
    from search_engine.personalization.features import FEATURES, CatalogPriors, feature_matrix
    from search_engine.personalization.product_stats import ProductStats
    from search_engine.personalization.profiles import PriceBands, build_profile, price_places

    products, catalog = _colour_catalog()
    assert price_places([products["m0"], products["m5"], products["m11"]]) == {"m0": 0.0, "m5": 0.5, "m11": 1.0}
    shown = tuple(f"m{i}" for i in range(12))
    # The two cheapest of what was shown, both 'compact' (axis 0).
    events = [Event("u", "s", T - 100, "search", query="mouse", search_id="q", position=1, shown=shown)] + [
        Event("u", "s", T - 90 + i, "click", f"m{i}", "mouse", i + 1, "q") for i in (0, 1)]
    profile = build_profile(events, catalog, PriceBands.fit(products.values()), now=T)
    assert profile.mean_price_place() == pytest.approx(0.5 / 9, abs=0.01)  # places 0 and 1/9 of the first page (10)
    candidates = [Candidate(doc=i, fused_score=1.0, fused_rank=i + 1) for i in range(12)]
    rows = feature_matrix("mouse", [products[f"m{i}"] for i in range(12)], candidates, profile, ProductStats(),
                          PriceBands.fit(products.values()), CatalogPriors.fit(products.values(), catalog), catalog)
    column = {name: rows[:, i] for i, name in enumerate(FEATURES)}
    # compact mice are more similar to the taste than the others, and more than the list's mean
    assert column["user_taste_similarity"][:6].min() > 0 > column["user_taste_similarity"][6:].max()
    assert column["user_taste_contrast"][:6].min() > column["user_taste_contrast"][6:].max()
    assert column["price_place"][0] == 0.0 and column["price_place"][11] == 1.0
    assert abs(column["user_price_place_gap"][0]) < 0.1 and column["user_price_place_gap"][11] > 0.9
    # What they pay against what they were offered: both clicks at 20 or less, 8 of the 10 shown at 30 or more.
    assert column["user_picks_as_dear"][0] == 1.0 and column["user_picks_as_dear"][1] == pytest.approx(0.5, abs=0.01)
    assert not column["user_picks_as_dear"][2:].any()
    assert column["user_shown_as_dear"][0] == 1.0 and 0.5 < column["user_shown_as_dear"][2] < 1.0
    assert column["user_shown_as_dear"][9] > 0 == column["user_shown_as_dear"][10]  # nothing at 110 was shown
    unknown = feature_matrix("mouse", [products["m0"]], candidates[:1], build_profile([], catalog, PriceBands.fit(
        products.values()), now=T), ProductStats(), PriceBands.fit(products.values()), CatalogPriors.fit(
        products.values(), catalog), catalog)[0]
    assert all(np.isnan(unknown[FEATURES.index(name)])
               for name in ("user_taste_similarity", "user_picks_as_dear", "user_shown_as_dear"))


def test_held_out_searches_are_measured_with_the_outcomes_training_gives_them():
    """Evaluation attributes outcomes as training does: a click naming its search counts for
    that search even after a later one; each search of a shopper who sends no session counts
    on its own; a first page's outcomes count though the shopper went on to page 2."""
    from search_engine.personalization.evaluation import _measured

    mouse = Event("u", "u", T, "search", query="mouse", search_id="a", position=1, shown=("m1", "m2"))
    keyboard = Event("u", "u", T + 100, "search", query="keyboard", search_id="b", position=1, shown=("k1", "k2"))
    page_2 = Event("u", "u", T + 300, "search", query="keyboard", search_id="c", position=3, shown=("k3",))
    events = [mouse, keyboard, Event("u", "u", T + 110, "click", "m2", "mouse", 2, "a"),
              Event("u", "u", T + 120, "purchase", "m2"),
              Event("u", "u", T + 200, "click", "k1", "keyboard", 1, "b"),
              Event("u", "u", T + 210, "add_to_cart", "k1"), page_2]
    assert _measured(events, 100) == [(mouse, {"m2": 3.0}), (keyboard, {"k1": 2.0})]


def test_a_later_page_reads_the_profile_as_of_its_first_page():
    """Page 1's own logging and a click on it change the profile; page 2 of the same query in
    the same session reads it as of page 1, so both pages are cut from one order. Another
    query, another session or a first page read it as of now."""
    from search_engine.personalization.profiles import FirstPages

    earlier = Event("u", "s", T - 500, "search", query="Mouse", search_id="x", position=1, shown=("m1",))
    first = Event("u", "s", T - 100, "search", query="mouse ", search_id="a", position=1, shown=("m1", "m2"))
    events = [earlier, first, Event("u", "s", T - 90, "click", "m2", "mouse", 2, "a"),
              Event("u", "s", T - 50, "search", query="mouse", search_id="b", position=11, shown=("m3",))]
    pages = FirstPages.of(events, T)
    assert pages.profile_time(T, "mouse", 11, "s") == T - 100  # the latest first page, case and spaces aside
    assert pages.profile_time(T, "mouse", 1, "s") == T  # a first page (a reload) reads now
    assert pages.profile_time(T, "keyboard", 11, "s") == T and pages.profile_time(T, "mouse", 11, "t") == T
    assert FirstPages.of(events, T - 100).profile_time(T, "mouse", 11, "s") == T - 500  # only pages before


def test_a_profile_reads_the_same_recent_window_in_training_and_serving(tmp_path):
    """A shopper who bought five times and then browsed 600 pages: the profile reads their
    latest 50 searches and 500 other events; the store hands serving exactly those, and
    training's history of the same shopper reads the same ones."""
    from search_engine.event_store import EventStore
    from search_engine.personalization.profiles import (
        EXPOSURE_SEARCHES, PROFILE_INTERACTIONS, PriceBands, build_profile)
    from search_engine.personalization.training import ShopperHistory

    products, catalog = _colour_catalog()
    bands = PriceBands.fit(products.values())
    events = [Event("u", "s", T - 10_000 + i, "purchase", "m0") for i in range(5)]
    for i in range(600):
        at = T - 5_000 + 2 * i
        events.append(Event("u", "s", at, "search", query="mouse", search_id=f"q{i}", position=1, shown=("m1", "m3")))
        events.append(Event("u", "s", at + 1, "view", "m1"))
    store = EventStore(tmp_path / "events.sqlite3")
    store.add(events)
    served = store.latest_for_user("u", EXPOSURE_SEARCHES, PROFILE_INTERACTIONS)
    assert sum(e.type == "search" for e in served) == EXPOSURE_SEARCHES
    assert sum(e.type == "view" for e in served) == PROFILE_INTERACTIONS and served[-1] == events[-1]
    assert [e.timestamp for e in served] == sorted(e.timestamp for e in served)
    history = ShopperHistory()
    for event in events:
        history.add(event)
    whole = build_profile(events, catalog, bands, now=T)
    for read in (served, history.before(T)):
        profile = build_profile(read, catalog, bands, now=T)
        assert (profile.events, profile.total, profile.shown_total) == (whole.events, whole.total, whole.shown_total)
    assert whole.events == PROFILE_INTERACTIONS and "m0" not in {e.product_id for e in served}  # the purchases are out of the window


def test_a_profiles_events_are_read_whole_while_other_threads_write(tmp_path):
    """Serving reads a shopper's window (two reads, one transaction) while request threads
    store events, durable and not: every read is the latest window at some moment, in time
    order, never an error or a mix."""
    from search_engine.event_store import EventStore

    store = EventStore(tmp_path / "events.sqlite3")
    seen: list[list[Event]] = []

    def work(seed: int) -> None:
        for i in range(60):
            if seed % 2:
                at = T + seed * 1000 + i
                store.add([Event("u", "s", at, "search", query="mouse", search_id=f"{seed}-{i}", position=1,
                                 shown=("m1",)), Event("u", "s", at + 0.5, "click", "m1", "mouse", 1, f"{seed}-{i}")],
                          durable=bool(i % 2))
            else:
                seen.append(store.latest_for_user("u", 5, 7))

    assert race(work) == []
    assert seen and all(len(read) <= 12 for read in seen)
    for read in seen:
        assert [e.timestamp for e in read] == sorted(e.timestamp for e in read)
        assert sum(e.type == "search" for e in read) <= 5 and sum(e.type == "click" for e in read) <= 7
    final = store.latest_for_user("u", 5, 7)
    assert [e.type for e in final].count("search") == 5 and len(final) == 12


def test_a_click_timed_before_its_search_is_its_outcome_and_not_its_history():
    """The device's clock runs 2 s behind the server's: the click names its search, so it
    counts for it, and it is no history for that search's features."""
    from search_engine.personalization.training import in_causal_order, logged_lists

    search = Event("u", "s", T, "search", query="mouse", search_id="a", position=1, shown=("m1", "m2"))
    click = Event("u", "s", T - 2, "click", "m2", "mouse", 2, "a")
    ordered = in_causal_order([click, search])
    assert ordered[0] == search and ordered[1].timestamp == T and ordered[1].product_id == "m2"
    [logged] = logged_lists([click, search])
    assert logged.labels == {"m2": 1}


def test_clicks_over_expected_counts_later_pages_at_their_places():
    """Page 2 shows places 11-20: a product clicked there at its place's rate scores 1, as
    one does on page 1 (its clicks were counted, its place's expected clicks were not)."""
    from search_engine.personalization.product_stats import ProductStats

    stats = ProductStats()
    for i in range(100):
        stats.add(Event("u", "s", T + i, "search", query="q", search_id=f"a{i}", position=1,
                        shown=tuple(f"p{j}" for j in range(10))))
        stats.add(Event("u", "s", T + i, "search", query="q", search_id=f"b{i}", position=11,
                        shown=tuple(f"r{j}" for j in range(10))))
        if i % 10 == 0:
            stats.add(Event("u", "s", T + i, "click", "p9", "q", 10, f"a{i}"))
            stats.add(Event("u", "s", T + i, "click", "r0", "q", 11, f"b{i}"))
    assert stats.features("p9")[1] == pytest.approx(1.0) and stats.features("r0")[1] == pytest.approx(1.0)


@pytest.mark.slow
def test_a_hand_written_log_trains_a_model_that_saves_and_reloads(hand_log, engine, slice_products, tmp_path):
    from search_engine.personalization.features import FEATURES
    from search_engine.personalization.model import load_model
    from search_engine.personalization.training import train_from_events

    events = list(read_jsonl_events(hand_log))
    model, report = train_from_events(events, engine, slice_products, rounds=20,
                                      params={"min_data_in_leaf": 1, "min_data_in_bin": 1})
    assert report["lists"] == 16 and report["rows"] == 16 * 6
    path = model.save(tmp_path / "reranker")
    loaded = load_model(tmp_path / "reranker")
    assert loaded.version == path.name and loaded.meta["features"] == list(FEATURES)
    rows = np.random.default_rng(1).random((5, len(FEATURES))).astype(np.float32)
    np.testing.assert_allclose(loaded.score(rows), model.score(rows))
    with pytest.raises(FileNotFoundError, match="no preference model"):
        load_model(tmp_path / "empty")


@pytest.fixture(scope="module")
def personal_engine(hand_log, engine, slice_products):
    from search_engine.personalization.reranker import PreferenceReranker
    from search_engine.personalization.training import train_from_events

    events = list(read_jsonl_events(hand_log))
    model, _ = train_from_events(events, engine, slice_products, rounds=20,
                                 params={"min_data_in_leaf": 1, "min_data_in_bin": 1})
    by_user = {}
    for e in events:
        by_user.setdefault(e.user_id, []).append(e)
    return replace(engine, reranker=PreferenceReranker(model, lambda user: by_user.get(user, [])))


@pytest.mark.slow
def test_unknown_and_anonymous_shoppers_get_exactly_the_unpersonalized_order(personal_engine, engine):
    from search_engine.types import Query

    for text in ("hdmi cable", "wireless mouse", "brother tn-2110 toner"):
        plain = engine.search(Query(text, k=50, explain=True))
        for user in (None, "never-seen-before"):
            result = personal_engine.search(Query(text, k=50, user=user, explain=True))
            assert [h.product.id for h in result.hits] == [h.product.id for h in plain.hits]
            assert [h.score for h in result.hits] == [h.score for h in plain.hits]
            assert result.personalized_by is None


@pytest.mark.slow
def test_a_known_shopper_is_reranked_with_an_explained_score(personal_engine):
    from search_engine.personalization.features import FEATURES
    from search_engine.types import Query

    result = personal_engine.search(Query("hdmi cable", k=20, user="fan", explain=True))
    assert result.personalized_by == personal_engine.reranker.model.version
    assert "personalize" in result.timings_ms
    scores = [h.score for h in result.hits]
    assert scores == sorted(scores, reverse=True)
    for hit in result.hits:
        c = hit.candidate
        assert set(c.contributions) == set(FEATURES) | {"bias", "unpersonalized_order"}
        # The order's part and the TreeSHAP parts of the correction add up to the score.
        assert sum(c.contributions.values()) == pytest.approx(c.personal_score, abs=1e-4)
        assert 0 < c.personal_confidence < 1
        assert c.fused_rank is not None


def test_confidence_grows_with_history_and_nothing_trusted_is_the_unpersonalized_order():
    from search_engine.personalization.profiles import UserProfile
    from search_engine.personalization.reranker import confidence

    assert confidence(UserProfile(), 2.0) == 0.0
    one_view, buyer = UserProfile(total=0.5, events=1), UserProfile(total=20.0, events=6)
    assert confidence(one_view, 2.0) == pytest.approx(0.2) and confidence(buyer, 2.0) == pytest.approx(20 / 22)


@pytest.mark.slow
def test_the_pages_of_a_personalized_search_come_from_one_order(personal_engine, hand_log):
    """The first page is logged (what it showed becomes the shopper's exposure) and clicked
    before page 2 is asked for: page 2 still continues page 1's order, no product on both
    pages and none on neither."""
    import time

    from search_engine.personalization.profiles import CatalogReader, build_profile
    from search_engine.personalization.reranker import PreferenceReranker
    from search_engine.types import Query

    log = [e for e in read_jsonl_events(hand_log) if e.user_id == "fan"]
    fan = personal_engine.reranker
    engine = replace(personal_engine, reranker=PreferenceReranker(fan.model, lambda user: list(log)))
    whole = [h.product.id for h in engine.search(Query("hdmi cable", k=20, user="fan", session="v")).hits]
    page_1 = engine.search(Query("hdmi cable", k=10, user="fan", session="v"))
    now = time.time()
    log.append(Event("fan", "v", now, "search", query="hdmi cable", search_id="p1", position=1,
                     shown=tuple(h.product.id for h in page_1.hits)))
    log += [Event("fan", "v", now + 0.001 + i, "click", h.product.id, "hdmi cable", i + 1, "p1")
            for i, h in enumerate(page_1.hits[5:])]
    page_2 = engine.search(Query("hdmi cable", k=10, offset=10, user="fan", session="v"))
    assert [h.product.id for h in page_1.hits] + [h.product.id for h in page_2.hits] == whole
    # Without the rule, the profile page 2 reads would differ: the log did change it.
    catalog = CatalogReader.of_snapshot(engine.index.snapshot())
    assert fan.model is engine.reranker.model
    before, after = (build_profile(log, catalog, fan.model.bands, now=t) for t in (now, now + 100))
    assert after.total > before.total


@pytest.mark.slow
def test_a_shopper_the_model_does_not_trust_keeps_the_unpersonalized_order(personal_engine, engine):
    from search_engine.personalization.reranker import PreferenceReranker
    from search_engine.types import Query

    fan = personal_engine.reranker
    doubtful = replace(personal_engine, reranker=PreferenceReranker(fan.model, fan.events_of, evidence=1e12))
    plain = [h.product.id for h in engine.search(Query("hdmi cable", k=30)).hits]
    assert [h.product.id for h in doubtful.search(Query("hdmi cable", k=30, user="fan")).hits] == plain
    trusted = [h.product.id for h in personal_engine.search(Query("hdmi cable", k=30, user="fan")).hits]
    assert trusted != plain  # the same shopper, trusted, is reranked


@pytest.mark.slow
def test_post_events_validates_stores_and_reports_unknown_products(client, slice_products, app):
    from api.events import event_store

    good = ev(product_id=slice_products[0].id)
    response = client.post("/events", json={"events": [good, ev(type="nope")]})
    assert response.status_code == 400
    error = response.get_json()["error"]
    assert error["parameter"] == "type" and error["details"][0] == {
        "index": 1, "field": "type", "message": error["details"][0]["message"]}
    unknown = client.post("/events", json=[good, ev(product_id="no-such-product")])
    assert unknown.status_code == 400 and "no-such-product" in unknown.get_json()["error"]["message"]
    with app.app_context():
        assert event_store().count() == 0  # a rejected batch stores nothing
    skipped = client.post("/events?skip_unknown=true", json=[good, ev(product_id="no-such-product")])
    assert skipped.status_code == 201
    assert skipped.get_json() == {"stored": 1, "skipped": [{"index": 1, "product_id": "no-such-product"}]}
    assert client.post("/events", data="not json", content_type="application/json").status_code == 400
    assert client.post("/events", json={"events": []}).get_json()["error"]["parameter"] == "events"


@pytest.mark.slow
def test_searches_of_known_shoppers_are_logged_for_training(client, app):
    from api.events import event_store

    anonymous = client.get("/search?q=hdmi+cable&k=5").get_json()
    assert "search_id" not in anonymous
    body = client.get("/search?q=hdmi+cable&k=5&offset=5&user=u7&session=s7").get_json()
    with app.app_context():
        [logged] = event_store().for_user("u7")
    assert logged.type == "search" and logged.search_id == body["search_id"] and logged.session_id == "s7"
    assert list(logged.shown) == [r["id"] for r in body["results"]] and logged.position == 6
    assert body["personalized_by"] is None  # no preference model configured


@pytest.mark.slow
def test_simulated_sessions_are_valid_marked_and_position_biased(engine, judgments, slice_products):
    from collections import Counter

    from search_engine.events import event_json
    from search_engine.personalization.profiles import PriceBands
    from search_engine.personalization.simulator import ShopperSimulator
    from search_engine.types import Query

    queries = {q: judgments[q] for q in ("hdmi cable", "wireless mouse", "usb hub")}
    simulator = ShopperSimulator(queries, lambda q: [h.product for h in engine.search(Query(q, k=100)).hits],
                                 PriceBands.fit(slice_products), seed=3)
    events = []
    for i in range(40):
        events += simulator.history(simulator.shopper(f"sim-{i}"), T, 5, {})
    assert all(e.session_id.startswith("sim-") for e in events)
    assert [parse_event(event_json(e)) for e in events] == events
    clicks = Counter(e.position for e in events if e.type == "click")
    assert clicks[1] > clicks[5] > 0  # shoppers look at the top more



@pytest.mark.slow
def test_simulated_shoppers_held_out_sessions_improve(engine, judgments, slice_products):
    """The whole path at small scale: simulated logs -> training -> held-out shoppers' sessions."""
    from collections import defaultdict

    from search_engine.metrics import mean
    from search_engine.personalization.evaluation import session_ndcg
    from search_engine.personalization.profiles import PriceBands
    from search_engine.personalization.reranker import PreferenceReranker
    from search_engine.personalization.simulator import DAY, ShopperSimulator
    from search_engine.personalization.training import train_from_events
    from search_engine.types import Query
    from tests.conftest import SLICE_QUERIES

    cache = {}

    def results_of(q):
        if q not in cache:
            cache[q] = [h.product for h in engine.search(Query(q, k=100)).hits]
        return cache[q]

    simulator = ShopperSimulator({q: judgments[q] for q in SLICE_QUERIES}, results_of,
                                 PriceBands.fit(slice_products), seed=11)
    by_brand = defaultdict(list)
    for product in slice_products:
        by_brand[product.brand].append(product)
    train, history, sessions = [], [], []
    for i in range(1500):
        train += simulator.history(simulator.shopper(f"sim-train-{i}"), T, 6, by_brand)
    heldout = []
    for i in range(300):
        shopper = simulator.shopper(f"sim-heldout-{i}")
        heldout.append(shopper)
        history += simulator.history(shopper, T, 6, by_brand)
        sessions += simulator.session(shopper, T + 61 * DAY, measure=True)
    model, _ = train_from_events(train, engine, slice_products, params={"min_data_in_leaf": 100})
    described = {s.user_id: simulator.described(s.describe()) for s in heldout}
    figures = session_ndcg(engine, PreferenceReranker(model, lambda user: []), history, sessions, shoppers=described)
    assert figures["sessions"] > 100
    assert figures["personalized_ndcg@10"] > 1.05 * figures["unpersonalized_ndcg@10"]
    # The yardsticks: the model without reading the shopper, and that plus each shopper's true taste.
    free = mean([r[2] for r in figures["taste_free_per_session"]])
    assert len(figures["taste_free_per_session"]) == figures["sessions"]
    assert mean([r[2] for r in figures["known_taste_per_session"][1.0]]) > 1.05 * free


@pytest.mark.slow
def test_a_described_shopper_is_the_same_shopper_or_a_clear_error(engine, judgments, slice_products):
    """evaluate --known-tastes rebuilds each held-out shopper from what simulate wrote: every
    kind comes back with the same fit; a description from another index or a damaged one is
    an error naming the shopper."""
    from search_engine.personalization.profiles import CatalogReader, PriceBands, price_places
    from search_engine.personalization.simulator import TASTE_KINDS, ShopperSimulator
    from search_engine.types import Query
    from tests.conftest import SLICE_QUERIES

    catalog = CatalogReader.of_snapshot(engine.index.snapshot())
    simulator = ShopperSimulator({q: judgments[q] for q in SLICE_QUERIES},
                                 lambda q: [h.product for h in engine.search(Query(q, k=100)).hits],
                                 PriceBands.fit(slice_products), seed=5, facets=catalog.facets,
                                 vector_of=catalog.vector_of)
    places = price_places(simulator.pool)
    for i in range(3 * len(TASTE_KINDS)):
        shopper = simulator.shopper(f"sim-{i}", TASTE_KINDS[i % len(TASTE_KINDS)])
        again = simulator.described(json.loads(json.dumps(shopper.describe())))
        assert again.kind == shopper.kind
        assert [again.fit(p, places) for p in simulator.pool] == pytest.approx(
            [shopper.fit(p, places) for p in simulator.pool], abs=0.01)  # price care is written to 3 places
    vector = simulator.shopper("sim-v", "vector").describe()
    with pytest.raises(ValueError, match="centre nowhere is not among"):
        simulator.described({**vector, "vector_centre": "nowhere"})
    with pytest.raises(ValueError, match="sim-v: the vector taste .* simulated over another index"):
        simulator.described({**vector, "liked_products": vector["liked_products"] + 1})
    with pytest.raises(ValueError, match="shopper sim-b: no 'budget'"):
        simulator.described({"user_id": "sim-b", "kind": "budget"})
    with pytest.raises(ValueError, match="shopper sim-v: no 'liked_products'"):
        simulator.described({k: v for k, v in vector.items() if k != "liked_products"})


def test_evaluate_names_the_line_of_a_damaged_shoppers_file(tmp_path, capsys):
    from scripts.personalize import main

    shoppers = tmp_path / "heldout-shoppers.jsonl"
    for damage, message in (('{"user_id": "a", "kind": "brand"}\n{"user_id": "b"\n', "line 2: not JSON"),
                            ('{"user_id": "a", "kind": "brand"}\n\n{"user_id": "b"}\n', "line 3: no kind"),
                            ('["a", "brand"]\n', "line 1: no user_id")):
        shoppers.write_text(damage)
        assert main(["evaluate", "--history", "h.jsonl", "--sessions", "s.jsonl", "--shoppers", str(shoppers)]) == 2
        assert f"heldout-shoppers.jsonl {message}" in capsys.readouterr().err


@pytest.mark.slow
def test_a_newly_trained_model_version_is_picked_up_live(personal_engine, slice_index_root, tmp_path):
    import time as clock

    from search_engine.live import LiveEngine
    from search_engine.personalization.model import load_model
    from search_engine.personalization.reranker import PreferenceReranker

    model = personal_engine.reranker.model
    first = model.save(tmp_path / "reranker")
    clock.sleep(1.1)  # versions are named by the second
    reranker = PreferenceReranker(load_model(tmp_path / "reranker"), lambda user: [], model_root=str(tmp_path / "reranker"))
    live = LiveEngine(replace(personal_engine, reranker=reranker), slice_index_root, check_interval_s=0)
    try:
        assert live.get().reranker.model.version == first.name
        second = model.save(tmp_path / "reranker")
        deadline = clock.monotonic() + 30  # the follower thread loads it; searches never wait for it
        while live.get().reranker.model.version != second.name and clock.monotonic() < deadline:
            clock.sleep(0.02)
        assert live.get().reranker.model.version == second.name != first.name
    finally:
        live.stop()


@pytest.mark.slow
def test_the_workbench_compares_a_shopper_with_anonymous(personal_engine, slice_index_root, tmp_path):
    from api import create_app
    from search_engine.settings import Settings

    settings = Settings(index_root=str(slice_index_root), events_path=str(tmp_path / "e.sqlite3"),
                        merchandising_path=str(tmp_path / "m.sqlite3"), judgments_path=str(tmp_path / "j.sqlite3"),
                        admin_token="t")
    client = create_app({"SETTINGS": settings, "ENGINE": personal_engine, "TESTING": True}).test_client()
    auth = {"Authorization": "Bearer t"}
    version = personal_engine.reranker.model.version
    assert client.get("/workbench/api/options", headers=auth).get_json()["personalization"] == version
    body = client.post("/workbench/api/compare", headers=auth, json={
        "q": "hdmi cable", "k": 6, "a": {"mode": "hybrid", "user": "fan"}, "b": {"mode": "hybrid"}}).get_json()
    assert body["a"]["personalized_by"] == version and body["a"]["user"] == "fan"
    assert body["b"]["personalized_by"] is None
    assert all("personalization" in hit["explain"] for hit in body["a"]["results"])
    assert all("personalization" not in hit["explain"] for hit in body["b"]["results"])
    assert [h["id"] for h in body["a"]["results"]] != [h["id"] for h in body["b"]["results"]]


@pytest.mark.slow
def test_a_forgotten_shopper_leaves_nothing_behind(personal_engine, hand_log, engine, slice_products,
                                                  slice_index_root, tmp_path):
    """DELETE /admin/shoppers/<id>: their events and logged searches are gone from the store
    (and from the file's bytes), suggestions and personalization no longer know them, and the
    preference model trains without them."""
    from api import create_app
    from search_engine.event_store import EventStore
    from search_engine.personalization.reranker import PreferenceReranker
    from search_engine.personalization.training import train_from_events
    from search_engine.settings import Settings

    store = EventStore(tmp_path / "e.sqlite3")
    store.add(read_jsonl_events(hand_log))
    serving = replace(personal_engine, reranker=PreferenceReranker(personal_engine.reranker.model, store.for_user))
    settings = Settings(index_root=str(slice_index_root), events_path=str(store.path),
                        merchandising_path=str(tmp_path / "m.sqlite3"), admin_token="t")
    app = create_app({"SETTINGS": settings, "ENGINE": serving, "EVENTS": store, "TESTING": True})
    client, auth = app.test_client(), {"Authorization": "Bearer t"}
    version = serving.reranker.model.version
    assert client.get("/search?q=hdmi+cable&user=fan").get_json()["personalized_by"] == version  # logged, too
    app.extensions["suggestions"].refresh()
    popular = client.get("/suggest?q=hdmi+c").get_json()["suggestions"]
    assert popular[0]["text"] == "hdmi cable" and popular[0]["searches_score"] > 0  # fan and saver searched it
    fan_events = len(store.for_user("fan"))

    assert client.delete("/admin/shoppers/fan").status_code == 401
    forgotten = client.delete("/admin/shoppers/fan", headers=auth)
    assert forgotten.get_json() == {"shopper": "fan", "events_deleted": fan_events, "overwritten_on_disk": True}
    assert store.for_user("fan") == [] and all(e.user_id != "fan" for e in store.all())
    assert store.for_user("saver")  # nobody else's
    stored = b"".join(p.read_bytes() for p in tmp_path.glob("e.sqlite3*"))
    assert b"fan-3" not in stored and b"saver-3" in stored  # session ids: overwritten, not just unlinked
    result = client.get("/search?q=hdmi+cable&user=fan&k=20").get_json()
    anonymous = client.get("/search?q=hdmi+cable&k=20").get_json()
    assert result["personalized_by"] is None and [r["id"] for r in result["results"]] == \
        [r["id"] for r in anonymous["results"]]
    assert len(store.for_user("fan")) == 1  # a shopper who comes back starts a new history ...
    assert client.delete("/admin/shoppers/fan", headers=auth).get_json()["events_deleted"] == 1  # ... also forgettable
    after = client.get("/suggest?q=hdmi+c").get_json()["suggestions"]
    assert all(s["searches_score"] == 0 for s in after)  # one shopper left: below suggest_min_shoppers
    model, report = train_from_events(list(store.all()), engine, slice_products, rounds=5,
                                      params={"min_data_in_leaf": 1, "min_data_in_bin": 1})
    assert model is not None and all(e.user_id != "fan" for e in store.all())
    assert client.delete("/admin/shoppers/" + "x" * 300, headers=auth).status_code == 400
    assert client.delete("/admin/shoppers/nobody", headers=auth).get_json()["events_deleted"] == 0


def test_events_older_than_the_retention_period_are_deleted(tmp_path):
    from search_engine.event_retention import DAY_S, EventRetention
    from search_engine.event_store import EventStore
    from search_engine.types import Event

    store = EventStore(tmp_path / "e.sqlite3")
    now = T + 100 * DAY_S
    store.add([Event("a", "s", now - age * DAY_S, "view", product_id="p") for age in (1, 29, 31, 90)])
    swept = []
    retention = EventRetention(store, days=30, now=lambda: now, follow=False, after_sweep=lambda: swept.append(1))
    assert store.erasures() == 0
    assert retention.sweep() == 2 and sorted(now - e.timestamp for e in store.all()) == [DAY_S, 29 * DAY_S]
    assert store.erasures() == 1 and retention.sweep() == 0 and store.erasures() == 1 and swept == [1]
    with pytest.raises(ValueError, match="event_retention_days"):
        EventRetention(store, days=0, follow=False)


def test_simulate_refuses_an_unknown_kind_of_taste_by_name(capsys):
    from scripts.personalize import main

    assert main(["simulate", "--tastes", "brand,colour", "--output", "/nonexistent"]) == 2
    assert "--tastes: unknown kind colour" in capsys.readouterr().err
    assert main(["evaluate", "--history", "h.jsonl", "--sessions", "s.jsonl", "--known-tastes"]) == 2
    assert "--known-tastes needs --shoppers" in capsys.readouterr().err


def test_simulated_tastes_score_what_they_name():
    from indexer.schema import Product
    from search_engine.personalization.profiles import price_places
    from search_engine.personalization.simulator import AttributeTaste, BudgetTaste, CheapestTaste, SimulatedShopper

    cheap = Product("a", "a", price=10.0, attributes={"product_colour": "Black"})
    dear = Product("b", "b", price=90.0, attributes={"product_colour": "White"})
    shown = price_places([cheap, dear])
    black = SimulatedShopper("u", (AttributeTaste("product_colour=black"),), "attribute")
    assert black.fit(cheap, shown) == 1.5 and black.fit(dear, shown) == 0.0
    thrifty = SimulatedShopper("v", (CheapestTaste(),), "cheapest")
    assert thrifty.fit(cheap, shown) == 0.75 and thrifty.fit(dear, shown) == -0.75
    assert SimulatedShopper("w", (BudgetTaste(50.0),), "budget").fit(dear, shown) == -0.75


def test_facet_terms_are_right_under_concurrent_reads_updates_and_evictions(monkeypatch):
    """The per-product term cache is shared by every search thread: with a tiny limit (every
    few calls empty it) and products replaced by updated copies meanwhile, each answer is
    still the terms of the very product asked about."""
    from indexer.attributes import facet_terms
    from indexer.schema import Product
    from search_engine.personalization import profiles
    from search_engine.personalization.profiles import CatalogReader

    monkeypatch.setattr(profiles._TERMS, "LIMIT", 5)
    colours = ("Black", "White", "Red", "Blue")
    catalog = CatalogReader(lambda product_id: None, facets=("product_colour", "material"))

    def shop(seed):
        rng = np.random.default_rng(seed)
        for _ in range(3000):
            # A fresh object each time, as an update makes: its id may be a dead one's.
            product = Product(f"p{rng.integers(20)}", "t", brand=colours[rng.integers(4)], attributes={
                "product_colour": colours[rng.integers(4)], "material": "Paper" if rng.random() < 0.5 else None})
            expected = tuple(t for n in catalog.facets for t in facet_terms(n, product.attributes.get(n)))
            assert catalog.terms(product) == expected
            assert catalog.keys(product) == expected + (f"brand={product.brand}",)

    assert race(shop) == []


def test_product_stats_features_are_right_under_concurrent_reads_and_evictions(monkeypatch):
    """A served model's product figures are kept per product and read by every search thread:
    with a tiny limit (every few calls empty the cache), each answer is still that product's."""
    from search_engine.personalization import product_stats
    from search_engine.personalization.product_stats import ProductStats
    from search_engine.types import Event

    events = []
    for n in range(20):  # product n: shown twice, clicked n times, bought every third one
        pid = f"p{n}"
        events += [Event("u", "s", float(n), "search", shown=(pid, f"p{(n + 1) % 20}"))] * 2
        events += [Event("u", "s", float(n), "click", product_id=pid, position=1)] * n
        if n % 3 == 0:
            events.append(Event("u", "s", float(n), "purchase", product_id=pid))
    expected = {f"p{n}": ProductStats.from_events(events).features(f"p{n}") for n in range(20)}
    assert len(set(expected.values())) == 20  # each product's differ, so a mixed-up answer shows
    stats = ProductStats.from_events(events)
    monkeypatch.setattr(product_stats, "CACHED_PRODUCTS", 3)

    def read(seed):
        rng = np.random.default_rng(seed)
        for _ in range(3000):
            pid = f"p{rng.integers(20)}"
            assert stats.features(pid) == expected[pid]

    assert race(read) == []


def test_a_profile_never_asks_the_vector_backend_for_no_products():
    """Elasticsearch refuses an empty multi-get: a shopper with no picks, or no events, must
    not make one."""
    from indexer.schema import Product
    from search_engine.personalization.profiles import CatalogReader, PriceBands, build_profile
    from search_engine.types import Event

    asked = []

    def vectors_of(product_ids):
        if not len(product_ids):
            raise AssertionError("asked for the vectors of no products")
        asked.append(list(product_ids))
        return np.ones(len(product_ids), dtype=bool), np.ones((len(product_ids), 3), dtype=np.float32)

    products = {"a": Product("a", "mouse", brand="Acme", category="Mice", price=10.0)}
    catalog = CatalogReader(products.get, facets=(), vectors_of=vectors_of)
    bands = PriceBands.fit(products.values())
    assert build_profile([], catalog, bands, now=T).taste is None
    only_searched = build_profile([Event("u", "s", T - 60, "search", query="mouse", shown=("a",))], catalog, bands, now=T)
    assert only_searched.taste is None and only_searched.shown_vector is not None and asked == [["a"]]
