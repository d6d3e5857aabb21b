"""Search analytics: every dashboard figure against a hand-computed value on a small log."""
from __future__ import annotations

from datetime import date

import pytest

from search_engine.analytics import SearchAnalytics
from search_engine.event_store import EventStore
from search_engine.types import Event

DAY1 = 1788220800.0  # 2026-09-01T00:00:00Z
DAY2 = DAY1 + 86400
PRICES = {"p1": 10.0, "p2": 25.0, "p3": 4.5}
AUTH = {"Authorization": "Bearer test-token"}


def search(user, sid, t, query, shown):
    return Event(user, f"s-{user}", t, "search", query=query, search_id=sid, shown=tuple(shown))


def outcome(user, kind, t, product, sid=None, position=None):
    return Event(user, f"s-{user}", t, kind, product_id=product, search_id=sid, position=position)


LOG = [
    # day 1: "usb hub" twice (a: clicked twice at 1 and 3, bought p1 without naming the search;
    # b: nothing), "USB  Hub" counts as the same query; "zzz" showed nothing
    search("a", "q1", DAY1 + 10, "usb hub", ["p1", "p2", "p3"]),
    outcome("a", "click", DAY1 + 20, "p1", "q1", 1),
    outcome("a", "click", DAY1 + 25, "p3", "q1", 3),
    outcome("a", "add_to_cart", DAY1 + 30, "p1"),
    outcome("a", "purchase", DAY1 + 40, "p1"),
    search("b", "q2", DAY1 + 50, "USB  Hub", ["p2", "p1"]),
    search("b", "q3", DAY1 + 60, "zzz", []),
    outcome("b", "view", DAY1 + 70, "p2"),
    # day 2: "usb hub" once by c, clicked at 2, bought p2 naming the search; a purchase no search showed
    search("c", "q4", DAY2 + 10, "usb hub", ["p1", "p2"]),
    outcome("c", "click", DAY2 + 20, "p2", "q4", 2),
    outcome("c", "purchase", DAY2 + 30, "p2", "q4"),
    outcome("c", "purchase", DAY2 + 40, "p3"),
]


@pytest.fixture
def rollups(tmp_path):
    store = EventStore(tmp_path / "events.sqlite3")
    store.add(LOG)
    yield SearchAnalytics(store, PRICES.get)
    store.close()


def test_every_figure_matches_the_hand_computed_one(rollups):
    assert rollups.update() == len(LOG)
    board = rollups.dashboard(date(2026, 9, 1), date(2026, 9, 2))
    assert (board.searches, board.shoppers) == (4, 3)
    assert board.zero_result_rate == 0.25  # "zzz"
    assert board.click_through_rate == 0.5  # q1 and q4 got clicks, of 4 searches
    assert board.add_to_cart_rate == 0.25 and board.purchase_rate == 0.5  # p3's purchase has no search
    assert board.revenue == 35.0  # p1 (10) through the session's search + p2 (25) naming it
    assert board.mean_clicked_position == 2.0  # (1 + 3 + 2) / 3
    assert board.daily == [
        {"day": "2026-09-01", "searches": 3, "click_through_rate": round(1 / 3, 4), "purchases": 1, "revenue": 10.0},
        {"day": "2026-09-02", "searches": 1, "click_through_rate": 1.0, "purchases": 1, "revenue": 25.0}]
    assert [(q["query"], q["searches"]) for q in board.top_queries] == [("usb hub", 3), ("zzz", 1)]
    assert [q["query"] for q in board.top_zero_result_queries] == ["zzz"]
    assert [q["query"] for q in board.top_queries_without_clicks] == ["zzz"]
    one_day = rollups.dashboard(date(2026, 9, 2), date(2026, 9, 2))
    assert (one_day.searches, one_day.shoppers, one_day.revenue) == (1, 1, 25.0)
    # against 2026-09-01, "usb hub" went from 1 of 2 searches clicked to 1 of 1: no fall
    assert one_day.falling_click_through == []


def test_updates_are_incremental_and_a_deletion_rolls_up_again(rollups):
    rollups.update()
    rollups.events.add([search("d", "q5", DAY2 + 100, "usb hub", ["p1"]),
                        search("d", "q6", DAY2 + 200, "usb hub", ["p1"])])
    assert rollups.update() == 2
    board = rollups.dashboard(date(2026, 9, 2), date(2026, 9, 2))
    assert board.searches == 3 and board.click_through_rate == round(1 / 3, 4)
    assert board.falling_click_through == [{"query": "usb hub", "click_through_rate": round(1 / 3, 4),
                                            "before": 0.5, "searches": 3, "searches_before": 2}]
    rollups.events.forget("c")
    rollups.update()
    rollups.events.checkpoint()  # as the forgetting endpoint does once the rollups are made again
    board = rollups.dashboard(date(2026, 9, 1), date(2026, 9, 2))
    assert (board.searches, board.shoppers, board.revenue) == (5, 3, 10.0)  # c's search and purchases gone
    assert b"s-c" not in b"".join(p.read_bytes() for p in rollups.events.path.parent.glob("events.sqlite3*"))


def test_the_admin_api_serves_json_and_csv_and_names_bad_parameters(client, app):
    store = app.extensions["event_store"]
    store.add(LOG)
    body = client.get("/admin/analytics?from=2026-09-01&to=2026-09-02", headers=AUTH).get_json()
    assert body["searches"] == 4 and body["top_queries"][0]["query"] == "usb hub"
    csv_text = client.get("/admin/analytics?from=2026-09-01&to=2026-09-02&format=csv", headers=AUTH)
    assert csv_text.mimetype == "text/csv" and "top_queries" in csv_text.get_data(as_text=True)
    assert client.get("/admin/analytics").status_code == 401
    for query, parameter in (("from=2026-13-01", "from"), ("from=2026-09-02&to=2026-09-01", "to"),
                             ("format=xml", "format"), ("top=0", "top"), ("from=1900-01-01&to=2026-01-01", "from"),
                             ("to=0001-01-01", "to"), ("from=0001-01-01&to=2026-01-05", "from")):
        response = client.get("/admin/analytics?" + query, headers=AUTH)
        assert response.status_code == 400 and response.get_json()["error"]["parameter"] == parameter, query


def test_concurrent_updates_and_dashboards_count_every_event_once(rollups):
    """Request threads roll up and read while events keep arriving: nothing fails, nothing is
    counted twice or lost, and a dashboard shows what was stored before its update, never
    more than is stored."""
    import threading

    rollups.update()
    problems: list[str] = []
    stored = [len([e for e in LOG if e.type == "search"])]
    lock = threading.Lock()

    def shop(worker: int):
        for i in range(30):
            try:
                with lock:
                    rollups.events.add([search(f"w{worker}", f"w{worker}-{i}", DAY2 + i, "usb hub", ["p1"])])
                    stored[0] += 1
                    floor = stored[0]  # this event and every one stored before it must be rolled up
                rollups.update()
                seen = rollups.dashboard(date(2026, 9, 1), date(2026, 9, 2)).searches
                with lock:
                    ceiling = stored[0]
                if not floor <= seen <= ceiling:
                    problems.append(f"{seen} searches shown, between {floor} and {ceiling} stored")
            except Exception as exc:  # noqa: BLE001 - every failure is the finding
                problems.append(repr(exc))

    threads = [threading.Thread(target=shop, args=(w,)) for w in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    rollups.update()
    assert problems == []
    assert rollups.dashboard(date(2026, 9, 1), date(2026, 9, 2)).searches == stored[0] == 4 + 120


def test_two_processes_rolling_up_the_same_file_count_each_event_once(rollups):
    """Two SearchAnalytics on one file (as two gunicorn workers have) update in turns and
    concurrently: every event is counted once."""
    import threading

    other = SearchAnalytics(rollups.events, PRICES.get)
    more = [search("e", f"e{i}", DAY1 + 500 + i, "usb hub", ["p1"]) for i in range(200)]
    rollups.events.add(more[:100])
    threads = [threading.Thread(target=r.update) for r in (rollups, other, rollups, other)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    rollups.events.add(more[100:])
    other.update()
    rollups.update()
    assert rollups.dashboard(date(2026, 9, 1), date(2026, 9, 2)).searches == 4 + 200


def test_attribution_edge_cases_and_every_day_of_the_range(rollups):
    rollups.events.add([
        search("f", "q1", DAY2 + 300, "usb hub", ["p1"]),  # the same search sent again: once
        Event("g", "s-g", DAY2 + 400, "search", query="hdmi cable", shown=("p2",)),  # no search id
        outcome("g", "click", DAY2 + 410, "p2", position=1),  # found through its session
        outcome("h", "click", DAY2 + 420, "p9", "q4", 7),  # names a search that did not show p9
    ])
    rollups.update()
    board = rollups.dashboard(date(2026, 9, 1), date(2026, 9, 3))
    assert board.searches == 5 and board.click_through_rate == 0.6  # q1, q4 and g's search
    assert board.mean_clicked_position == 1.75  # (1 + 3 + 2 + 1) / 4: the click at 7 counts for nothing
    assert [d["day"] for d in board.daily] == ["2026-09-01", "2026-09-02", "2026-09-03"]
    assert board.daily[2]["searches"] == 0 and board.daily[2]["click_through_rate"] is None
