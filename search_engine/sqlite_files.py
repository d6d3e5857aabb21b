"""The one way this project opens its small SQLite files (events, rules, judgments).

WAL mode so searches keep reading while a writer commits; `synchronous` FULL where an
acknowledged write must survive a power cut, NORMAL where surviving a process crash is enough.
"""
from __future__ import annotations

import sqlite3
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

BUSY_TIMEOUT_S = 30  # how long a connection waits for another process's write lock
_LOCKED_RETRY_S = 0.01


def connect_wal(path: Path, synchronous: str = "FULL") -> sqlite3.Connection:
    """An autocommit connection any thread may use (callers serialise it with their own lock)."""
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    connection = sqlite3.connect(path, check_same_thread=False, timeout=BUSY_TIMEOUT_S, isolation_level=None)
    _switch_to_wal(connection)
    connection.execute(f"PRAGMA synchronous={synchronous}")
    return connection


def _switch_to_wal(connection: sqlite3.Connection) -> None:
    """Switching a file written in rollback mode to WAL promotes a read lock to a write lock, and
    SQLite answers "locked" at once there instead of calling the busy handler (it could deadlock):
    workers opening such a file together would fail. So wait here as the busy handler would."""
    deadline = time.monotonic() + BUSY_TIMEOUT_S
    while True:
        try:
            connection.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as error:
            if "locked" not in str(error) or time.monotonic() > deadline:
                raise
            time.sleep(_LOCKED_RETRY_S)


@contextmanager
def transaction(connection: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """All of the block's writes or none of them."""
    connection.execute("BEGIN IMMEDIATE")
    try:
        yield connection
        connection.execute("COMMIT")
    except BaseException:
        connection.execute("ROLLBACK")
        raise
