"""The durable log of incremental changes to one index version.

Each change is one JSON line in <version>/updates.jsonl, written and fsynced before any
index is touched: the product (and its vector, so replay needs no encoder) for an upsert,
the doc number for a delete. Every process serving the version replays the log at start
and tails it afterwards, so all of them, and a restarted one, see the same catalog.
The keyword index is changed on disk by the writer; `keyword-applied` records the last
change it holds, so a writer killed between the log and the keyword commit is finished by
the next writer.
"""
from __future__ import annotations

import fcntl
import json
import os
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Iterator

UPDATES_FILE = "updates.jsonl"
KEYWORD_APPLIED_FILE = "keyword-applied"
WRITE_LOCK_FILE = ".write.lock"


@dataclass
class Change:
    seq: int
    op: str  # "upsert" or "delete"
    product_id: str
    doc: int | None = None           # upsert: the product's new doc number
    replaced_doc: int | None = None  # the doc this change retires (the old version, or the deleted one)
    product: dict | None = None
    vector: list[float] | None = None


def append(directory: Path, changes: list[Change]) -> None:
    if not changes:
        return
    with open(Path(directory) / UPDATES_FILE, "a", encoding="utf-8") as log:
        log.write("".join(json.dumps(asdict(c), ensure_ascii=False) + "\n" for c in changes))
        log.flush()
        os.fsync(log.fileno())


def read(directory: Path, offset: int = 0) -> tuple[list[Change], int]:
    """Changes after byte offset, and the offset after the last complete line.

    A line without its newline is a write still in progress (or cut by a crash before its
    fsync, so never acknowledged): it is left for the next read.
    """
    path = Path(directory) / UPDATES_FILE
    try:
        with open(path, "rb") as log:
            log.seek(offset)
            data = log.read()
    except FileNotFoundError:
        return [], offset
    complete = data[: data.rfind(b"\n") + 1]
    changes = [Change(**json.loads(line)) for line in complete.splitlines() if line.strip()]
    return changes, offset + len(complete)


def size(directory: Path) -> int:
    try:
        return (Path(directory) / UPDATES_FILE).stat().st_size
    except FileNotFoundError:
        return 0


def last_seq(directory: Path) -> int:
    changes, _ = read(directory)
    return changes[-1].seq if changes else 0


def keyword_applied(directory: Path) -> int:
    try:
        return int((Path(directory) / KEYWORD_APPLIED_FILE).read_text())
    except FileNotFoundError:
        return 0


def set_keyword_applied(directory: Path, seq: int) -> None:
    path = Path(directory) / KEYWORD_APPLIED_FILE
    partial = path.with_suffix(".tmp")
    partial.write_text(str(seq))
    os.replace(partial, path)


@contextmanager
def write_lock(directory: Path) -> Iterator[None]:
    """One writer per version at a time, across processes; released even on SIGKILL."""
    with open(Path(directory) / WRITE_LOCK_FILE, "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
