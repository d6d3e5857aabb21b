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
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Iterator

import numpy as np

from encoders.atomic_files import fsync_dir, write_atomically

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
    batch_end: int | None = None  # the seq of its batch's last change (older logs: none, a batch each)


def pack_vector(vector) -> str:
    """A float32 vector as base64 (a fifth of its JSON list's size, and exact)."""
    return base64.b64encode(np.asarray(vector, dtype="<f4").tobytes()).decode("ascii")


def unpack_vector(packed: str | list[float]) -> np.ndarray:
    if isinstance(packed, str):
        return np.frombuffer(base64.b64decode(packed), dtype="<f4").astype(np.float32)
    return np.asarray(packed, dtype=np.float32)


def append(directory: Path, changes: list[Change]) -> int:
    """Append one batch and fsync it (the durable point); returns the log's size after it.
    The caller holds the write lock and has repaired the log's tail (`repair`)."""
    batch = [replace(c, batch_end=changes[-1].seq) for c in changes]
    data = "".join(json.dumps(asdict(c), ensure_ascii=False) + "\n" for c in batch).encode("utf-8")
    path = Path(directory) / UPDATES_FILE
    created = not path.exists()
    with open(path, "ab", buffering=0) as log:
        written = log.write(data)
        while written < len(data):  # a full disk writes short; finish or raise
            written += log.write(data[written:])
        os.fsync(log.fileno())
        end = log.tell()
    if created:
        fsync_dir(path.parent)  # the new file's name must survive a power cut too
    return end


def _complete_batches(data: bytes, offset: int) -> tuple[list[tuple[Change, int]], int]:
    """The changes of the whole batches in data (which starts at byte `offset`), each with
    the offset just past its line, and the offset just past the last whole batch."""
    entries: list[tuple[Change, int]] = []
    pending: list[tuple[Change, int]] = []
    end = offset
    for line in data[: data.rfind(b"\n") + 1].splitlines(keepends=True):
        offset += len(line)
        if not line.strip():
            continue
        change = Change(**json.loads(line))
        pending.append((change, offset))
        if change.batch_end is None or change.seq >= change.batch_end:
            entries += pending
            pending, end = [], offset
    return entries, end


def read_entries(directory: Path, offset: int = 0) -> list[tuple[Change, int]]:
    """The changes of whole batches after byte offset, each with the offset just past its line.

    A batch is applied all or nothing: lines of a batch whose last line is missing or cut (a
    write in progress, or one a crash cut short, so never acknowledged) are left out.
    """
    path = Path(directory) / UPDATES_FILE
    try:
        with open(path, "rb") as log:
            log.seek(offset)
            data = log.read()
    except FileNotFoundError:
        return []
    return _complete_batches(data, offset)[0]


def repair(directory: Path, offset: int = 0) -> int:
    """Cut the log back to its last whole batch after `offset` (a known batch boundary): what
    a writer killed mid-append left was never acknowledged, and the next batch must not be
    appended to a torn line. Under the write lock. Returns the bytes cut."""
    path = Path(directory) / UPDATES_FILE
    try:
        with open(path, "rb+") as log:
            log.seek(offset)
            _, end = _complete_batches(log.read(), offset)
            size = log.seek(0, os.SEEK_END)
            if size > end:
                log.truncate(end)
                os.fsync(log.fileno())
            return size - end
    except FileNotFoundError:
        return 0


def read(directory: Path, offset: int = 0) -> tuple[list[Change], int]:
    """Changes (of whole batches) after byte offset, and the offset after the last one."""
    entries = read_entries(directory, offset)
    return [change for change, _ in entries], entries[-1][1] if entries else offset


def last_seq(directory: Path) -> int:
    changes, _ = read(directory)
    return changes[-1].seq if changes else 0


def keyword_applied(directory: Path) -> int:
    """The commit mark; 0 when missing, or emptied by a power cut (it is not fsynced): the next
    writer, or start-up, then re-applies the log to the keyword index (idempotent)."""
    try:
        return int((Path(directory) / KEYWORD_APPLIED_FILE).read_text() or 0)
    except (FileNotFoundError, ValueError):
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
