"""Merchandising rules in one SQLite file, read by every search and edited by merchants.

Searches read the rules from memory; each search asks SQLite only for its data_version (a
pragma, no table read), and the list is read again only when the file has changed since, so
an edit in one worker reaches every worker at their next search.
"""
from __future__ import annotations

import threading
from pathlib import Path

from search_engine.merchandising import Rule
from search_engine.sqlite_files import connect_wal

FIELDS = ("query", "action", "match", "product_id", "position", "brand", "category")
SCHEMA = f"""CREATE TABLE IF NOT EXISTS rules (id INTEGER PRIMARY KEY, {', '.join(f + ' ' + ('INTEGER' if f == 'position' else 'TEXT') for f in FIELDS)})"""


class RuleStore:
    def __init__(self, path: str | Path):
        self.path = Path(path)
        self._connection = connect_wal(self.path)
        self._connection.execute(SCHEMA)
        self._lock = threading.Lock()
        self._cached: list[Rule] = []
        self._seen_version: int | None = None
        self._local_writes = 0

    def add(self, rule: Rule) -> Rule:
        with self._lock:
            cursor = self._connection.execute(
                f"INSERT INTO rules ({', '.join(FIELDS)}) VALUES ({', '.join('?' * len(FIELDS))})",
                [getattr(rule, f) for f in FIELDS])
            self._local_writes += 1
        return Rule(**{**rule.to_dict(), "id": cursor.lastrowid})

    def replace(self, rule_id: int, rule: Rule) -> Rule | None:
        """Edit a rule in place (it keeps its id); None when there is no such rule."""
        with self._lock:
            changed = self._connection.execute(
                f"UPDATE rules SET {', '.join(f + ' = ?' for f in FIELDS)} WHERE id = ?",
                [getattr(rule, f) for f in FIELDS] + [rule_id]).rowcount
            self._local_writes += 1
        return Rule(**{**rule.to_dict(), "id": rule_id}) if changed else None

    def delete(self, rule_id: int) -> bool:
        with self._lock:
            deleted = self._connection.execute("DELETE FROM rules WHERE id = ?", (rule_id,)).rowcount
            self._local_writes += 1
        return bool(deleted)

    def rules(self) -> list[Rule]:
        """Every rule, from memory unless the file changed."""
        with self._lock:
            # data_version moves on other connections' commits; our own writes are counted apart.
            version = (self._connection.execute("PRAGMA data_version").fetchone()[0], self._local_writes)
            if version != self._seen_version:
                rows = self._connection.execute(f"SELECT id, {', '.join(FIELDS)} FROM rules ORDER BY id").fetchall()
                self._cached = [Rule(id=row[0], **dict(zip(FIELDS, row[1:]))) for row in rows]
                self._seen_version = version
            return list(self._cached)
