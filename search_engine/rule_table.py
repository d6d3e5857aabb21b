"""Merchants' rules in one SQLite table, read by every request and edited now and then
(merchandising rules, suggestion rules, synonyms).

Requests read the rules from memory; each read asks SQLite only for its data_version (a
pragma, no table read), and the table is read again only when the file has changed since, so
an edit in one worker reaches every worker at their next request.
"""
from __future__ import annotations

import dataclasses
import threading
from pathlib import Path
from typing import Callable, Generic, Sequence, TypeVar

from search_engine.sqlite_files import connect_wal, transaction

R = TypeVar("R")  # a frozen dataclass with these fields and an `id`
T = TypeVar("T")
MAX_ID = 2 ** 63 - 1  # SQLite's largest integer: a larger id names no rule


class RuleTable(Generic[R]):
    def __init__(self, path: str | Path, table: str, rule_type: type[R], fields: Sequence[str],
                 integer_fields: Sequence[str] = (), reuse_ids: bool = True):
        """reuse_ids=False: a deleted rule's id is never given again (where the id is recorded
        elsewhere, as experiments' ids are in the event log)."""
        self.path = Path(path)
        self.table = table
        self.rule_type = rule_type
        self.fields = tuple(fields)
        columns = ", ".join(f"{f} {'INTEGER' if f in integer_fields else 'TEXT'}" for f in self.fields)
        self._connection = connect_wal(self.path)
        key = "INTEGER PRIMARY KEY" if reuse_ids else "INTEGER PRIMARY KEY AUTOINCREMENT"
        self._connection.execute(f"CREATE TABLE IF NOT EXISTS {table} (id {key}, {columns})")
        self._lock = threading.Lock()
        self._cached: list[R] = []
        self._seen_version: tuple[int, int] | None = None
        self._local_writes = 0
        self._generation = 0  # moves on whenever the rules change
        self._derived: tuple[int, object] = (-1, None)

    def add(self, rule: R, check: Callable[[list[R]], None] | None = None) -> R:
        """check(the rules as stored now): raise to refuse the rule; it runs in the write
        transaction, so no other worker's edit comes between the check and the write."""
        with self._lock, transaction(self._connection):
            if check is not None:
                check(self._stored())
            cursor = self._connection.execute(
                f"INSERT INTO {self.table} ({', '.join(self.fields)}) VALUES ({', '.join('?' * len(self.fields))})",
                [getattr(rule, f) for f in self.fields])
            self._local_writes += 1
        return dataclasses.replace(rule, id=cursor.lastrowid)

    def replace(self, rule_id: int, rule: R, check: Callable[[list[R]], None] | None = None) -> R | None:
        """Edit a rule in place (it keeps its id); None when there is no such rule. check: as add's."""
        if not 0 <= rule_id <= MAX_ID:
            return None
        with self._lock, transaction(self._connection):
            if check is not None:
                check(self._stored())
            changed = self._connection.execute(
                f"UPDATE {self.table} SET {', '.join(f + ' = ?' for f in self.fields)} WHERE id = ?",
                [getattr(rule, f) for f in self.fields] + [rule_id]).rowcount
            self._local_writes += 1
        return dataclasses.replace(rule, id=rule_id) if changed else None

    def _stored(self) -> list[R]:
        """The rules in the file now (the caller holds the lock)."""
        rows = self._connection.execute(f"SELECT id, {', '.join(self.fields)} FROM {self.table} ORDER BY id").fetchall()
        return [self.rule_type(id=row[0], **dict(zip(self.fields, row[1:]))) for row in rows]

    def delete(self, rule_id: int) -> bool:
        if not 0 <= rule_id <= MAX_ID:
            return False
        with self._lock:
            deleted = self._connection.execute(f"DELETE FROM {self.table} WHERE id = ?", (rule_id,)).rowcount
            self._local_writes += 1
        return bool(deleted)

    def rules(self) -> list[R]:
        """Every rule in the order added, from memory unless the file changed."""
        return self.versioned_rules()[1]

    def versioned_rules(self) -> tuple[int, list[R]]:
        """The rules and their generation, read together: the generation moves when the rules
        change (not when another table of the file does), so what is built from them is
        current exactly while it stays."""
        with self._lock:
            # data_version moves on other connections' commits; our own writes are counted apart.
            version = (self._connection.execute("PRAGMA data_version").fetchone()[0], self._local_writes)
            if version != self._seen_version:
                rules = self._stored()
                if rules != self._cached:
                    self._cached = rules
                    self._generation += 1
                self._seen_version = version
            return self._generation, list(self._cached)

    def derived(self, build: Callable[[list[R]], T]) -> T:
        """What `build` makes of the rules (one such value per table), made again only when
        they change. Shared by request threads: a racing request may publish an older value,
        and the next call, seeing a newer generation, builds again."""
        generation, rules = self.versioned_rules()
        made = self._derived
        if made[0] != generation:
            made = (generation, build(rules))
            self._derived = made  # one reference assignment
        return made[1]
