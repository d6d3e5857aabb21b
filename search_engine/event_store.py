"""Shoppers' events in one SQLite file (WAL mode): no server, durable once acknowledged.

`add()` commits with synchronous=FULL, so an event the API acknowledged survives a kill -9
(and a power cut) right after the response. Searches the engine logs itself (what a shopper
was shown) go through `add(..., durable=False)`: still safe from a process crash, but without
an fsync on the search path.
"""
from __future__ import annotations

import json
import sqlite3
import threading
import time
from pathlib import Path
from typing import Callable, Generic, Iterable, Iterator, TypeVar

from search_engine.sqlite_files import BUSY_TIMEOUT_S, connect_wal, transaction
from search_engine.types import Event

TABLES = (
    """CREATE TABLE IF NOT EXISTS events (
        id INTEGER PRIMARY KEY, user_id TEXT NOT NULL, session_id TEXT NOT NULL, timestamp REAL NOT NULL,
        type TEXT NOT NULL, product_id TEXT, query TEXT, position INTEGER, search_id TEXT, shown TEXT,
        experiment TEXT, variant TEXT, teams TEXT)""",
    # One row per erasure (a forgotten shopper, expired events), holding nothing of whose:
    # followers of the log (suggestions) count again from scratch when the newest id moves.
    "CREATE TABLE IF NOT EXISTS erasures (id INTEGER PRIMARY KEY, at REAL NOT NULL, events INTEGER NOT NULL)",
)
INDEXES = {
    "events_by_user": "events (user_id, timestamp)",
    "events_by_time": "events (timestamp)",
    "events_by_session": "events (session_id, timestamp)",  # an experiment's sessions
    "events_by_experiment": "events (experiment) WHERE experiment IS NOT NULL",
    # Outcomes naming a search: an experiment's clicks from other sessions.
    "events_by_named_search": "events (search_id) WHERE search_id IS NOT NULL AND type != 'search'",
}
# Columns added since the first release: a store written before gets them when opened.
ADDED_COLUMNS = ("experiment", "variant", "teams")
# A worker opening a store that another is upgrading (indexes built over millions of events:
# about 12 s per 5 million) waits for it this long.
UPGRADE_WAIT_MS = 600_000
CHECKPOINT_WAIT_MS = 500
MAX_EVENT_ID = 2 ** 63 - 1
L = TypeVar("L")  # FollowedLog's log
BUSY_TIMEOUT_MS = BUSY_TIMEOUT_S * 1000


COLUMNS = ("user_id", "session_id", "timestamp", "type", "product_id", "query", "position", "search_id", "shown",
           "experiment", "variant", "teams")


class EventStore:
    def __init__(self, path: str | Path):
        self.path = Path(path)
        self._lock = threading.Lock()  # one writer at a time in this process; SQLite locks across processes
        self._durable = connect_wal(self.path, "FULL")
        self._fast = connect_wal(self.path, "NORMAL")
        with self._lock:
            if not self._current():
                self._upgrade()
            self._durable.execute("PRAGMA secure_delete = ON")  # a forgotten shopper's rows are overwritten

    def _current(self) -> bool:
        """Whether the file already has every table, column and index (read only)."""
        columns = {row[1] for row in self._durable.execute("PRAGMA table_info(events)")}
        indexes = {row[0] for row in self._durable.execute("SELECT name FROM sqlite_master WHERE type = 'index'")}
        tables = {row[0] for row in self._durable.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        return "erasures" in tables and set(ADDED_COLUMNS) <= columns and set(INDEXES) <= indexes

    def _upgrade(self) -> None:
        """Create or upgrade the schema in one write transaction: workers opening the file at
        once take turns, and each sees what the one before it did."""
        connection = self._durable
        connection.execute(f"PRAGMA busy_timeout = {UPGRADE_WAIT_MS}")
        try:
            with transaction(connection):
                columns = {row[1] for row in connection.execute("PRAGMA table_info(events)")}
                if columns:  # a store written before some columns existed
                    for name in ADDED_COLUMNS:
                        if name not in columns:
                            connection.execute(f"ALTER TABLE events ADD COLUMN {name} TEXT")
                for statement in TABLES:
                    connection.execute(statement)
                for name, definition in INDEXES.items():
                    connection.execute(f"CREATE INDEX IF NOT EXISTS {name} ON {definition}")
        finally:
            connection.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")

    def add(self, events: Iterable[Event], durable: bool = True) -> int:
        rows = [_row(e) for e in events]
        connection = self._durable if durable else self._fast
        with self._lock, transaction(connection):
            connection.executemany(
                f"INSERT INTO events ({', '.join(COLUMNS)}) VALUES ({', '.join('?' * len(COLUMNS))})", rows)
        return len(rows)

    def for_user(self, user_id: str, limit: int = 500) -> list[Event]:
        """The user's most recent events, oldest first."""
        rows = self._query(f"SELECT {', '.join(COLUMNS)} FROM events WHERE user_id = ? "
                           "ORDER BY timestamp DESC, id DESC LIMIT ?", (user_id, limit))
        return [_event(r) for r in reversed(rows)]

    def latest_for_user(self, user_id: str, searches: int, others: int) -> list[Event]:
        """The user's latest `searches` search events and latest `others` other events, oldest
        first: what a profile reads (personalization.profiles.build_profile), which page
        views by the hundred must not push a purchase out of."""
        columns = ", ".join(COLUMNS)
        with self._lock:  # one read of the two: no event stored between them
            self._fast.execute("BEGIN")
            try:
                rows = self._fast.execute(
                    f"SELECT id, {columns} FROM events WHERE user_id = ? AND type = 'search' "
                    "ORDER BY timestamp DESC, id DESC LIMIT ?", (user_id, searches)).fetchall()
                rows += self._fast.execute(
                    f"SELECT id, {columns} FROM events WHERE user_id = ? AND type != 'search' "
                    "ORDER BY timestamp DESC, id DESC LIMIT ?", (user_id, others)).fetchall()
            finally:
                self._fast.execute("COMMIT")
        at = 1 + COLUMNS.index("timestamp")  # after the id
        return [_event(row[1:]) for row in sorted(rows, key=lambda row: (row[at], row[0]))]

    def all(self) -> Iterator[Event]:
        """Every event in time order (its own connection: a long read never holds the lock)."""
        connection = sqlite3.connect(self.path)
        try:
            for row in connection.execute(f"SELECT {', '.join(COLUMNS)} FROM events ORDER BY timestamp, id"):
                yield _event(row)
        finally:
            connection.close()

    def since(self, after_id: int, limit: int = 10_000) -> list[tuple[int, Event]]:
        """Up to `limit` events stored after the one numbered `after_id`, in the order stored,
        with their numbers (what a follower of the log reads next; its own connection)."""
        connection = sqlite3.connect(self.path)
        try:
            rows = connection.execute(f"SELECT id, {', '.join(COLUMNS)} FROM events WHERE id > ? ORDER BY id LIMIT ?",
                                      (after_id, limit)).fetchall()
        finally:
            connection.close()
        return [(row[0], _event(row[1:])) for row in rows]

    def batches_since(self, after_id: int, size: int) -> Iterator[list[tuple[int, Event]]]:
        """since() in batches of `size` up to the newest event: what a follower of the log reads
        each time it looks (the next batch is read once the caller has taken the one before)."""
        while True:
            batch = self.since(after_id, size)
            if batch:
                yield batch
                after_id = batch[-1][0]
            if len(batch) < size:
                return

    def of_experiment(self, experiment_id: str, since: float, until: float,
                      up_to: int = MAX_EVENT_ID) -> Iterator[Event]:
        """What an experiment's results are counted from, in the order stored, streamed from a
        connection of its own: every event from `since` to `until` of the sessions it served
        searches in (its searches, the others, and what followed), and the clicks, carts and
        purchases that name its searches from another session; none numbered above `up_to`."""
        connection = sqlite3.connect(self.path)
        try:
            listed = ", ".join(COLUMNS)
            rows = connection.execute(
                f"WITH ours AS (SELECT search_id, session_id FROM events WHERE experiment = ? AND id <= ?) "
                f"SELECT id, {listed} FROM events WHERE session_id IN (SELECT session_id FROM ours) "
                "AND timestamp BETWEEN ? AND ? AND id <= ? UNION "
                f"SELECT id, {listed} FROM events WHERE search_id IS NOT NULL AND type != 'search' "
                "AND search_id IN (SELECT search_id FROM ours WHERE search_id IS NOT NULL) "
                "AND timestamp BETWEEN ? AND ? AND id <= ? ORDER BY id",
                (experiment_id, up_to, since, until, up_to, since, until, up_to))
            for row in rows:
                yield _event(row[1:])
        finally:
            connection.close()

    def users(self, limit: int = 200) -> list[tuple[str, int]]:
        """The shoppers with the most events, with their event counts."""
        return [(u, n) for u, n in self._query(
            "SELECT user_id, COUNT(*) AS n FROM events GROUP BY user_id ORDER BY n DESC, user_id LIMIT ?", (limit,))]

    def forget(self, user_id: str) -> int:
        """Delete every event of one shopper (their searches with what they were shown
        included), overwritten in the file; how many. Call checkpoint() once what else
        holds them (the analytics rollups) is made again, so they leave the log too."""
        return self._erase("DELETE FROM events WHERE user_id = ?", (user_id,))

    def expire(self, before: float) -> int:
        """Delete every event older than `before` (seconds since the epoch); how many. Then
        checkpoint(), as after forget()."""
        return self._erase("DELETE FROM events WHERE timestamp < ?", (before,))

    def _erase(self, sql: str, params: tuple) -> int:
        with self._lock:
            with transaction(self._durable):
                deleted = self._durable.execute(sql, params).rowcount
                if deleted:
                    self._durable.execute("INSERT INTO erasures (at, events) VALUES (?, ?)", (time.time(), deleted))
        return deleted

    def checkpoint(self) -> bool:
        """Copy the write-ahead log into the file and empty it, so deleted rows (overwritten
        there) linger in neither; False while a reader holds an older view (SQLite copies
        the rest at a later checkpoint). Waits at most CHECKPOINT_WAIT_MS for readers."""
        with self._lock:
            self._durable.execute(f"PRAGMA busy_timeout = {CHECKPOINT_WAIT_MS}")
            try:
                busy, _, _ = self._durable.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
            finally:
                self._durable.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        return not busy

    def last_id(self) -> int:
        """The newest event's number (0: none)."""
        return self._query("SELECT COALESCE(MAX(id), 0) FROM events", ())[0][0]

    def erasures(self) -> int:
        """The newest erasure's number (0: none yet): moves whenever events are deleted."""
        return self._query("SELECT COALESCE(MAX(id), 0) FROM erasures", ())[0][0]

    def count(self) -> int:
        return self._query("SELECT COUNT(*) FROM events", ())[0][0]

    def _query(self, sql: str, params: tuple) -> list[tuple]:
        with self._lock:
            return self._fast.execute(sql, params).fetchall()

    def close(self) -> None:
        self._durable.close()
        self._fast.close()


class FollowedLog(Generic[L]):
    """A log (anything whose add(events) returns what it counted) fed every event of a store
    in order, and started again from nothing when events were erased (a shopper forgotten,
    old events expired), so nothing of theirs stays counted: what the suggestion and the
    recommendation followers count from. One reader at a time (the follower's lock)."""

    BATCH = 50_000  # events read per query

    def __init__(self, events: EventStore, new_log: Callable[[], L]):
        self.events = events
        self.new_log = new_log
        self.log = new_log()
        self.last_event = 0
        self.erasures = 0  # the store's erasure number the log was counted after

    def read(self) -> tuple[int, int]:
        """Read what was stored since the last read: (events read, changes), the changes being
        what the log's add counted, plus one when it started again (so that a log emptied by
        an erasure is published too)."""
        changes = 0
        erasures = self.events.erasures()
        if erasures != self.erasures:
            self.log, self.last_event, self.erasures = self.new_log(), 0, erasures
            changes += 1
        read = 0
        for batch in self.events.batches_since(self.last_event, self.BATCH):
            self.last_event = batch[-1][0]
            changes += self.log.add(event for _, event in batch)
            read += len(batch)
        return read, changes


def _row(event: Event) -> tuple:
    return (event.user_id, event.session_id, event.timestamp, event.type, event.product_id, event.query,
            event.position, event.search_id, json.dumps(list(event.shown)) if event.shown else None,
            event.experiment, event.variant, json.dumps(list(event.teams)) if event.teams else None)


def _event(row: tuple) -> Event:
    values = dict(zip(COLUMNS, row))
    for listed in ("shown", "teams"):
        values[listed] = tuple(json.loads(values[listed])) if values[listed] else ()
    return Event(**values)
