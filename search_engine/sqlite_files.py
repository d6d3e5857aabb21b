"""The one way this project opens its small SQLite files (events, rules, judgments).

WAL mode so searches keep reading while a writer commits; `synchronous` FULL where an
acknowledged write must survive a power cut, NORMAL where surviving a process crash is enough.
"""
from __future__ import annotations

import sqlite3
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator


def connect_wal(path: Path, synchronous: str = "FULL") -> sqlite3.Connection:
    """An autocommit connection any thread may use (callers serialise it with their own lock)."""
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    connection = sqlite3.connect(path, check_same_thread=False, timeout=30, isolation_level=None)
    connection.execute("PRAGMA journal_mode=WAL")
    connection.execute(f"PRAGMA synchronous={synchronous}")
    return connection


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
