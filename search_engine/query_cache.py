"""The query tower behind a cache: shoppers repeat queries, and the transformer is the
slowest step of a search."""
from __future__ import annotations

import threading
from collections import OrderedDict

import numpy as np

from encoders.towers import TextEncoder


class QueryVectorCache:
    """A least-recently-used map from query text to its vector, shared by request threads."""

    def __init__(self, encoder: TextEncoder, size: int = 10_000):
        self.encoder = encoder
        self.size = size
        self._vectors: OrderedDict[str, np.ndarray] = OrderedDict()
        self._lock = threading.Lock()  # get, move_to_end and eviction must not interleave

    def __call__(self, text: str) -> np.ndarray:
        key = " ".join(text.split())  # not lower-cased: a cased model would embed differently
        with self._lock:
            vector = self._vectors.get(key)
            if vector is not None:
                self._vectors.move_to_end(key)
                return vector
        vector = self.encoder.encode([key])[0]  # outside the lock: encoding is the slow part
        vector.flags.writeable = False  # shared by every search of this text
        if self.size > 0:
            with self._lock:
                self._vectors[key] = vector
                self._vectors.move_to_end(key)
                while len(self._vectors) > self.size:
                    self._vectors.popitem(last=False)
        return vector
