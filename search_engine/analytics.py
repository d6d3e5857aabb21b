"""Search analytics for merchants, from the event store, over a date range.

Reading millions of raw events per dashboard is too slow, so the events are rolled up as they
arrive into daily tables in the event store's own SQLite file: per day and query, its searches,
searches that showed nothing, searches that got a click, clicks (with the clicked positions),
add-to-carts, purchases and revenue; per day, the shoppers who searched. A dashboard sums those
rows over its range. `update()` reads only the events stored since it last ran (EventStore.since);
when events were deleted (a forgotten shopper, expiry) it rolls up again from the start,
and whoever deleted them checkpoints afterwards (EventStore.checkpoint), so the old rollup
rows linger in neither file.

Attribution: a click, cart or purchase counts for the search it names (search_id), else for the
latest search of the same session that showed the product, else for none. Revenue is the
product's catalog price (price_of) per purchase event: events carry no quantity or price yet.
Days are UTC.
"""
from __future__ import annotations

import csv
import io
import json
import sqlite3
import threading
import time
from dataclasses import asdict, dataclass, field
from datetime import date, datetime, timedelta, timezone
from typing import Callable

from indexer.suggestions import phrase_words
from search_engine.sqlite_files import connect_wal, transaction

SCHEMA = """
CREATE TABLE IF NOT EXISTS analytics_state (id INTEGER PRIMARY KEY CHECK (id = 1), last_event INTEGER NOT NULL,
                                             erasures INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS analytics_searches (
    search_id TEXT PRIMARY KEY, day TEXT NOT NULL, query TEXT NOT NULL, session_id TEXT NOT NULL,
    timestamp REAL NOT NULL, shown TEXT NOT NULL, clicked INTEGER NOT NULL DEFAULT 0);
CREATE INDEX IF NOT EXISTS analytics_searches_by_session ON analytics_searches (session_id, timestamp);
CREATE TABLE IF NOT EXISTS analytics_daily (
    day TEXT NOT NULL, query TEXT NOT NULL, searches INTEGER NOT NULL DEFAULT 0,
    zero_results INTEGER NOT NULL DEFAULT 0, clicked_searches INTEGER NOT NULL DEFAULT 0,
    clicks INTEGER NOT NULL DEFAULT 0, click_positions INTEGER NOT NULL DEFAULT 0,
    positioned_clicks INTEGER NOT NULL DEFAULT 0, carts INTEGER NOT NULL DEFAULT 0,
    purchases INTEGER NOT NULL DEFAULT 0, revenue REAL NOT NULL DEFAULT 0, PRIMARY KEY (day, query));
CREATE TABLE IF NOT EXISTS analytics_shoppers (day TEXT NOT NULL, user_id TEXT NOT NULL, PRIMARY KEY (day, user_id));
"""
TABLES = ("analytics_state", "analytics_searches", "analytics_daily", "analytics_shoppers")
BATCH = 5_000  # events per write transaction: other writers get the lock between batches
TOP = 20


def day_of(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp, tz=timezone.utc).date().isoformat()


@dataclass
class Dashboard:
    start: str  # first day, inclusive (UTC)
    end: str  # last day, inclusive
    searches: int = 0
    shoppers: int = 0
    zero_result_rate: float | None = None
    click_through_rate: float | None = None  # searches with at least one click, per search
    add_to_cart_rate: float | None = None  # carts attributed to searches, per search
    purchase_rate: float | None = None  # purchases attributed to searches, per search
    revenue: float = 0.0
    mean_clicked_position: float | None = None
    daily: list[dict] = field(default_factory=list)  # per day: searches, ctr, purchases, revenue
    top_queries: list[dict] = field(default_factory=list)
    top_zero_result_queries: list[dict] = field(default_factory=list)
    top_queries_without_clicks: list[dict] = field(default_factory=list)
    falling_click_through: list[dict] = field(default_factory=list)  # against the range just before

    def to_dict(self) -> dict:
        return asdict(self)


def _rate(part: float, whole: float) -> float | None:
    return round(part / whole, 4) if whole else None


class SearchAnalytics:
    """The rollups of one event store. One updater at a time (a lock); dashboards read
    committed rows, so they may run alongside."""

    def __init__(self, events, price_of: Callable[[str], float | None]):
        self.events = events
        self.price_of = price_of
        self._connection = connect_wal(events.path, "NORMAL")  # a rollup is rebuilt from the events if lost
        self._connection.executescript(SCHEMA)
        self._connection.execute("PRAGMA secure_delete = ON")  # a forgotten shopper's rollup rows are overwritten
        self._lock = threading.Lock()

    def update(self) -> int:
        """Roll up the events stored since the last update; how many were read. Each batch is
        read and rolled up inside one write transaction that first reads how far the rollups
        got, so processes sharing the file (gunicorn workers) never count an event twice."""
        with self._lock:
            connection, read = self._connection, 0
            while True:
                with transaction(connection):  # BEGIN IMMEDIATE: one writer across processes
                    state = connection.execute("SELECT last_event, erasures FROM analytics_state").fetchone()
                    # Read on this connection: the event store's own lock may be held by a writer
                    # waiting for the write lock this transaction holds.
                    erasures = connection.execute("SELECT COALESCE(MAX(id), 0) FROM erasures").fetchone()[0]
                    if state is None or state[1] != erasures:  # first run, or events were deleted: from the start
                        for table in TABLES:
                            connection.execute(f"DELETE FROM {table}")
                        connection.execute("INSERT INTO analytics_state VALUES (1, 0, ?)", (erasures,))
                        state = (0, erasures)
                    batch = self.events.since(state[0], BATCH)
                    for number, event in batch:
                        self._add(connection, number, event)
                    if batch:
                        connection.execute("UPDATE analytics_state SET last_event = ?", (batch[-1][0],))
                read += len(batch)
                if len(batch) < BATCH:
                    break
                time.sleep(0.001)  # let a waiting writer (a logged search, POST /events) take the lock
            return read

    def _add(self, connection: sqlite3.Connection, number: int, event) -> None:
        if event.type == "search":
            key = phrase_words(event.query or "")
            if not key:
                return
            day = day_of(event.timestamp)
            # A search without an id is kept under its event's number, for the session fallback.
            search_id = event.search_id or f"event-{number}"
            added = connection.execute("INSERT OR IGNORE INTO analytics_searches VALUES (?, ?, ?, ?, ?, ?, 0)",
                                       (search_id, day, key, event.session_id, event.timestamp,
                                        json.dumps(list(event.shown)))).rowcount
            if not added:
                return  # the same search sent twice counts once
            connection.execute("INSERT OR IGNORE INTO analytics_daily (day, query) VALUES (?, ?)", (day, key))
            connection.execute("UPDATE analytics_daily SET searches = searches + 1, zero_results = zero_results + ? "
                               "WHERE day = ? AND query = ?", (0 if event.shown else 1, day, key))
            connection.execute("INSERT OR IGNORE INTO analytics_shoppers VALUES (?, ?)", (day, event.user_id))
            return
        if event.type not in ("click", "add_to_cart", "purchase"):
            return
        search = self._search_of(connection, event)
        if search is None:
            return
        search_id, day, key, clicked = search
        if event.type == "click":
            positioned = event.position is not None
            connection.execute(
                "UPDATE analytics_daily SET clicks = clicks + 1, clicked_searches = clicked_searches + ?, "
                "click_positions = click_positions + ?, positioned_clicks = positioned_clicks + ? "
                "WHERE day = ? AND query = ?",
                (0 if clicked else 1, event.position or 0, 1 if positioned else 0, day, key))
            connection.execute("UPDATE analytics_searches SET clicked = 1 WHERE search_id = ?", (search_id,))
        elif event.type == "add_to_cart":
            connection.execute("UPDATE analytics_daily SET carts = carts + 1 WHERE day = ? AND query = ?", (day, key))
        else:
            price = self.price_of(event.product_id) or 0.0
            connection.execute("UPDATE analytics_daily SET purchases = purchases + 1, revenue = revenue + ? "
                               "WHERE day = ? AND query = ?", (price, day, key))

    @staticmethod
    def _search_of(connection, event):
        """The search an outcome counts for: the one it names if that showed the product, else
        the session's latest one before it that did."""
        if event.search_id:
            row = connection.execute("SELECT search_id, day, query, clicked, shown FROM analytics_searches "
                                     "WHERE search_id = ?", (event.search_id,)).fetchone()
            if row is not None and event.product_id in json.loads(row[4]):  # it showed what was clicked
                return row[:4]
        rows = connection.execute(
            "SELECT search_id, day, query, clicked, shown FROM analytics_searches WHERE session_id = ? "
            "AND timestamp <= ? ORDER BY timestamp DESC", (event.session_id, event.timestamp)).fetchall()
        for search_id, day, key, clicked, shown in rows:
            if event.product_id in json.loads(shown):
                return search_id, day, key, clicked
        return None

    def dashboard(self, start: date, end: date, top: int = TOP) -> Dashboard:
        """The figures for the days start..end (inclusive), from the rollups as last updated."""
        if end < start:
            raise ValueError(f"to: must not be before from ({start.isoformat()}), got {end.isoformat()}")
        first, last = start.isoformat(), end.isoformat()
        connection = sqlite3.connect(self.events.path)  # its own: a dashboard never sees an update half-done
        try:
            connection.execute("BEGIN")  # every figure from one moment of the file
            return self._dashboard(connection.execute, start, end, first, last, top)
        finally:
            connection.close()

    def _dashboard(self, read, start: date, end: date, first: str, last: str, top: int) -> Dashboard:
        totals = read("SELECT COALESCE(SUM(searches),0), COALESCE(SUM(zero_results),0), "
                      "COALESCE(SUM(clicked_searches),0), COALESCE(SUM(carts),0), COALESCE(SUM(purchases),0), "
                      "COALESCE(SUM(revenue),0), COALESCE(SUM(click_positions),0), COALESCE(SUM(positioned_clicks),0) "
                      "FROM analytics_daily WHERE day BETWEEN ? AND ?", (first, last)).fetchone()
        searches, zero, clicked, carts, purchases, revenue, positions, positioned = totals
        shoppers = read("SELECT COUNT(DISTINCT user_id) FROM analytics_shoppers WHERE day BETWEEN ? AND ?",
                        (first, last)).fetchone()[0]
        board = Dashboard(first, last, searches, shoppers, _rate(zero, searches), _rate(clicked, searches),
                          _rate(carts, searches), _rate(purchases, searches), round(revenue, 2),
                          round(positions / positioned, 3) if positioned else None)
        by_day = {day: (n, c, p, r) for day, n, c, p, r in read(
            "SELECT day, SUM(searches), SUM(clicked_searches), SUM(purchases), SUM(revenue) "
            "FROM analytics_daily WHERE day BETWEEN ? AND ? GROUP BY day", (first, last))}
        board.daily = []
        for offset in range((end - start).days + 1):  # every day of the range, searched or not
            day = (start + timedelta(days=offset)).isoformat()
            n, c, p, r = by_day.get(day, (0, 0, 0, 0.0))
            board.daily.append({"day": day, "searches": n, "click_through_rate": _rate(c, n), "purchases": p,
                                "revenue": round(r, 2)})
        # One pass over the range's rows per query serves every per-query list.
        per_query = read("SELECT query, SUM(searches), SUM(zero_results), SUM(clicked_searches), SUM(purchases), "
                         "SUM(revenue) FROM analytics_daily WHERE day BETWEEN ? AND ? GROUP BY query",
                         (first, last)).fetchall()
        per_query.sort(key=lambda row: (-row[1], row[0]))

        def rows(keep) -> list[dict]:
            return [{"query": q, "searches": n, "zero_results": z, "click_through_rate": _rate(c, n),
                     "purchases": p, "revenue": round(r, 2)}
                    for q, n, z, c, p, r in per_query if keep(z, c)][:top]

        board.top_queries = rows(lambda zero, clicked: True)
        board.top_zero_result_queries = rows(lambda zero, clicked: zero > 0)
        board.top_queries_without_clicks = rows(lambda zero, clicked: clicked == 0)
        now = {q: (n, c) for q, n, _, c, _, _ in per_query}
        board.falling_click_through = self._falling(read, now, start, end, top)
        return board

    @staticmethod
    def _falling(read, now: dict[str, tuple[int, int]], start: date, end: date, top: int) -> list[dict]:
        """Queries searched in both this range and the as-long range before it whose
        click-through fell, the largest falls first. now: query -> (searches, clicked) in range."""
        length = (end - start).days + 1
        before = (start - timedelta(days=length)).isoformat(), (start - timedelta(days=1)).isoformat()
        then = {q: (n, c) for q, n, c in read(
            "SELECT query, SUM(searches), SUM(clicked_searches) FROM analytics_daily WHERE day BETWEEN ? AND ? "
            "GROUP BY query", before) if q in now}
        falls = []
        for query, (n, c) in then.items():
            was, is_now = c / n, now[query][1] / now[query][0]
            if is_now < was:
                falls.append({"query": query, "click_through_rate": round(is_now, 4), "before": round(was, 4),
                              "searches": now[query][0], "searches_before": n})
        falls.sort(key=lambda f: (f["click_through_rate"] - f["before"], f["query"]))
        return falls[:top]


def dashboard_csv(board: Dashboard) -> str:
    """One table per section, each headed by its name: what a spreadsheet opens."""
    out = io.StringIO()
    writer = csv.writer(out)
    summary = {k: v for k, v in board.to_dict().items() if not isinstance(v, list)}
    writer.writerow(["summary"])
    writer.writerows(summary.items())
    for section in ("daily", "top_queries", "top_zero_result_queries", "top_queries_without_clicks",
                    "falling_click_through"):
        rows = getattr(board, section)
        writer.writerow([])
        writer.writerow([section])
        if rows:
            writer.writerow(list(rows[0]))
            writer.writerows([list(row.values()) for row in rows])
    return out.getvalue()
