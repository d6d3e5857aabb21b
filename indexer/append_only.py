"""Storage that one writer appends to while many readers read what was there before.

Each snapshot of an index holds a length, not a copy: a reader reads rows below its length,
which no writer ever changes again, and a writer only writes rows at or past the end. When
the buffer is full the writer moves to one twice the size; readers holding the old buffer
keep it. So an append costs the rows appended (amortized), never the whole column.
"""
from __future__ import annotations

import numpy as np


class AppendOnlyArray:
    """A growable numpy array (1-D, or 2-D rows of a fixed width) for one writer."""

    def __init__(self, initial: np.ndarray, headroom: int = 1024):
        initial = np.asarray(initial)
        self._data = np.empty((len(initial) + headroom,) + initial.shape[1:], dtype=initial.dtype)
        self._data[: len(initial)] = initial
        self._size = len(initial)

    def __len__(self) -> int:
        return self._size

    def append(self, rows: np.ndarray) -> None:
        """Append rows (the writer's lock held). Rows visible to readers are never touched."""
        rows = np.asarray(rows, dtype=self._data.dtype).reshape((-1,) + self._data.shape[1:])
        end = self._size + len(rows)
        if end > len(self._data):
            grown = np.empty((max(end, 2 * len(self._data)),) + self._data.shape[1:], dtype=self._data.dtype)
            grown[: self._size] = self._data[: self._size]
            self._data = grown  # readers of the old buffer keep it alive
        self._data[self._size: end] = rows
        self._size = end

    def rewind(self, size: int) -> None:
        """Forget rows from `size` on (the writer's lock held): rows no published view reads,
        left by a write that failed before it published."""
        self._size = min(self._size, size)

    def head(self, size: int | None = None) -> np.ndarray:
        """A read-only view of the first `size` rows (all so far by default), for a snapshot."""
        view = self._data[: self._size if size is None else size]
        view.flags.writeable = False
        return view


class LiveDocs:
    """Which doc numbers are live: a bitmap in fixed chunks, copied on write.

    Immutable: `without(docs)` returns a new LiveDocs sharing every chunk it did not touch,
    so a delete costs one chunk (CHUNK bytes), not the catalog. Docs at or past `size` are
    not live; growing `size` makes the new docs live without copying anything.
    """

    CHUNK = 1 << 16

    def __init__(self, chunks: tuple[np.ndarray, ...], size: int, dead: int):
        self._chunks = chunks
        self.size = size
        self.dead = dead
        self._mask: np.ndarray | None = None

    @classmethod
    def all_live(cls, size: int) -> "LiveDocs":
        return cls((), 0, 0).grown(size)

    def grown(self, size: int) -> "LiveDocs":
        """Docs up to `size` live (new chunks start all live)."""
        chunks = self._chunks
        needed = -(-size // self.CHUNK)
        if needed > len(chunks):
            chunks = chunks + tuple(_live_chunk(self.CHUNK) for _ in range(needed - len(chunks)))
        return LiveDocs(chunks, max(size, self.size), self.dead)

    def without(self, docs) -> "LiveDocs":
        """A copy with these docs dead (already dead or out of range: ignored)."""
        chunks = list(self._chunks)
        copied: set[int] = set()
        dead = self.dead
        for doc in docs:
            doc = int(doc)
            if not 0 <= doc < self.size:
                continue
            number, offset = divmod(doc, self.CHUNK)
            if not chunks[number][offset]:
                continue
            if number not in copied:
                chunks[number] = chunks[number].copy()
                copied.add(number)
            chunks[number][offset] = False
            dead += 1
        for number in copied:
            chunks[number].flags.writeable = False
        return LiveDocs(tuple(chunks), self.size, dead)

    def __contains__(self, doc: int) -> bool:
        if not 0 <= doc < self.size:
            return False
        number, offset = divmod(int(doc), self.CHUNK)
        return bool(self._chunks[number][offset])

    def __len__(self) -> int:
        """Live docs."""
        return self.size - self.dead

    def mask(self) -> np.ndarray:
        """A bool array over every doc below size; built once per LiveDocs (O(size))."""
        if self._mask is None:
            mask = np.concatenate(self._chunks)[: self.size] if self._chunks else np.zeros(0, dtype=bool)
            mask.flags.writeable = False
            self._mask = mask  # one reference assignment: a racing reader builds the same array
        return self._mask


def _live_chunk(size: int) -> np.ndarray:
    chunk = np.ones(size, dtype=bool)
    chunk.flags.writeable = False
    return chunk
