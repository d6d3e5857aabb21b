"""The durable log of incremental changes to one index version.

Each change is one JSON line in <version>/updates.jsonl, written and fsynced before any
index is touched: the product (and its vector, so replay needs no encoder) for an upsert,
the doc number for a delete. Every process serving the version replays the log at start
and tails it afterwards, so all of them, and a restarted one, see the same catalog.
The keyword index is changed on disk by the writer; `keyword-applied` records the last
change it holds, so a writer killed between the log and the keyword commit is finished by
the next writer. It is also the commit mark: a change is acknowledged only after it, and a
server replays the log only up to it (so its keyword searcher always holds what its
products and vectors hold), and compares its snapshot with it for read-your-writes.
"""
from __future__ import annotations

import base64
import fcntl
import json
import os
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Iterator

import numpy as np

from encoders.atomic_files import write_atomically

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
    vector: str | list[float] | None = None  # pack_vector's base64 (older logs: a list of floats)


def pack_vector(vector) -> str:
    """A float32 vector as base64 (a fifth of its JSON list's size, and exact)."""
    return base64.b64encode(np.asarray(vector, dtype="<f4").tobytes()).decode("ascii")


def unpack_vector(packed: str | list[float]) -> np.ndarray:
    if isinstance(packed, str):
        return np.frombuffer(base64.b64decode(packed), dtype="<f4").astype(np.float32)
    return np.asarray(packed, dtype=np.float32)


def append(directory: Path, changes: list[Change]) -> int:
    """Append and fsync (the durable point); returns the log's size after the last change."""
    data = "".join(json.dumps(asdict(c), ensure_ascii=False) + "\n" for c in changes).encode("utf-8")
    with open(Path(directory) / UPDATES_FILE, "ab", buffering=0) as log:
        # One write call: a kill leaves all of the batch or none of it (a regular file's write
        # is not cut by a signal); a torn last line from a power cut is never read (read_entries).
        written = log.write(data)
        while written < len(data):  # only a full disk writes short; finish or raise
            written += log.write(data[written:])
        os.fsync(log.fileno())
        return log.tell()


def read_entries(directory: Path, offset: int = 0) -> list[tuple[Change, int]]:
    """Changes after byte offset, each with the offset just past its line.

    A line without its newline is a write still in progress (or cut by a crash before its
    fsync, so never acknowledged): it is left for the next read.
    """
    path = Path(directory) / UPDATES_FILE
    try:
        with open(path, "rb") as log:
            log.seek(offset)
            data = log.read()
    except FileNotFoundError:
        return []
    entries = []
    for line in data[: data.rfind(b"\n") + 1].splitlines(keepends=True):
        offset += len(line)
        if line.strip():
            entries.append((Change(**json.loads(line)), offset))
    return entries


def read(directory: Path, offset: int = 0) -> tuple[list[Change], int]:
    """Changes after byte offset, and the offset after the last complete line."""
    entries = read_entries(directory, offset)
    return [change for change, _ in entries], entries[-1][1] if entries else offset


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
    # Not fsynced: if lost, the next writer or start-up repeats the (idempotent) keyword apply.
    write_atomically(Path(directory) / KEYWORD_APPLIED_FILE, str(seq))


@contextmanager
def write_lock(directory: Path) -> Iterator[None]:
    """One writer per version at a time, across processes; released even on SIGKILL."""
    with open(Path(directory) / WRITE_LOCK_FILE, "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
