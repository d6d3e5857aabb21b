"""Reuse product vectors across runs: encoding a catalog takes minutes on a CPU.

Vectors are cached per tower fingerprint and exact list of texts, so a changed model or a
changed product text can never be served a stale vector.
"""
from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Sequence

import numpy as np

from encoders.atomic_files import atomic_path
from encoders.towers import TextEncoder


def texts_key(fingerprint: str, texts: Sequence[str]) -> str:
    digest = hashlib.sha256(fingerprint.encode())
    for text in texts:
        digest.update(b"\0" + text.encode())
    return digest.hexdigest()[:24]


def encode_cached(encoder: TextEncoder, texts: Sequence[str], cache_dir: Path | None,
                  show_progress: bool = False) -> np.ndarray:
    if cache_dir is None:
        return encoder.encode(texts, show_progress=show_progress)
    cache_dir = Path(cache_dir)
    path = cache_dir / f"{texts_key(encoder.vectors_key, texts)}.npy"
    if path.exists():
        return np.load(path)
    vectors = encoder.encode(texts, show_progress=show_progress)
    cache_dir.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as partial, open(partial, "wb") as out:  # never a truncated cache file
        np.save(out, vectors)
    return vectors
