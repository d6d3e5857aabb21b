"""Merchants' relevance judgments in SQLite: marked one by one, listed, exported and
imported in the Icecat judgment-list CSV format (query,docid,rating), so the evaluation
command and the workbench read the same lists.

A query is keyed, listed and exported in its normalised form (trimmed, lower case, single
spaces; the form filters use), so "HDMI cable" and "hdmi  cable" are one query; a new mark
replaces the old one. The form last typed is kept beside it.
"""
from __future__ import annotations

import threading
import time
from pathlib import Path

from indexer.filters import filter_key
from search_engine.judgments import Judgments, load_judgments, write_judgments
from search_engine.sqlite_files import connect_wal, transaction

SCHEMA = """
CREATE TABLE IF NOT EXISTS judgments (
    query_key TEXT NOT NULL,
    query TEXT NOT NULL,
    product_id TEXT NOT NULL,
    rating INTEGER NOT NULL CHECK (rating BETWEEN 0 AND 3),
    judged_at REAL NOT NULL,
    PRIMARY KEY (query_key, product_id)
)"""


def check_rating(rating) -> int:
    if isinstance(rating, bool) or not isinstance(rating, (int, float)) or rating not in (0, 1, 2, 3):
        raise ValueError(f"rating: must be 0, 1, 2 or 3, got {rating!r}")
    return int(rating)


class JudgmentStore:
    def __init__(self, path: str | Path):
        self.path = Path(path)
        self._connection = connect_wal(self.path)
        self._connection.execute(SCHEMA)
        self._lock = threading.Lock()

    def mark(self, query: str, product_id: str, rating) -> None:
        self.mark_many([(query, product_id, rating)])

    def mark_many(self, rows) -> int:
        """(query, product id, rating) rows, all stored or none (one transaction)."""
        checked = []
        for query, product_id, rating in rows:
            if not filter_key(query or ""):
                raise ValueError("query: must not be empty")
            if not (product_id or "").strip():
                raise ValueError("product_id: must not be empty")
            checked.append((filter_key(query), query.strip(), product_id.strip(), check_rating(rating), time.time()))
        with self._lock, transaction(self._connection):
            self._connection.executemany(
                "INSERT INTO judgments VALUES (?, ?, ?, ?, ?) ON CONFLICT (query_key, product_id) "
                "DO UPDATE SET query = excluded.query, rating = excluded.rating, judged_at = excluded.judged_at",
                checked)
        return len(checked)

    def forget(self, query: str, product_id: str) -> bool:
        with self._lock:
            return bool(self._connection.execute("DELETE FROM judgments WHERE query_key = ? AND product_id = ?",
                                                 (filter_key(query), product_id)).rowcount)

    def judgments(self) -> Judgments:
        """query -> product id -> rating, in the form the evaluation reads."""
        with self._lock:
            rows = self._connection.execute(
                "SELECT query_key, product_id, rating FROM judgments ORDER BY query_key, product_id").fetchall()
        result: Judgments = {}
        for query, product_id, rating in rows:
            result.setdefault(query, {})[product_id] = float(rating)
        return result

    def judgments_for(self, query: str) -> dict[str, int]:
        """One query's marks: product id -> rating."""
        with self._lock:
            rows = self._connection.execute("SELECT product_id, rating FROM judgments WHERE query_key = ?",
                                            (filter_key(query),)).fetchall()
        return dict(rows)

    def export_csv(self, path: str | Path) -> None:
        write_judgments(self.judgments(), path)

    def import_csv(self, path: str | Path) -> int:
        """Every row of a query,docid,rating CSV, validated first (a bad row names its row number)."""
        return self.import_judgments(load_judgments(path), str(path))

    def import_judgments(self, judgments: Judgments, source: str) -> int:
        """A parsed judgment list, all of it or none; errors name `source`."""
        rows = [(q, pid, g) for q, grades in judgments.items() for pid, g in grades.items()]
        for q, pid, g in rows:
            if g not in (0, 1, 2, 3):
                raise ValueError(f"{source}: rating {g} for ({q!r}, {pid!r}) is not a whole grade 0-3")
        return self.mark_many(rows)
