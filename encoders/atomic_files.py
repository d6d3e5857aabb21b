"""Write a file so that readers see the old content or the new, never a part of it.

The bottom layer's helper, used by every package above it: write beside the target under a
name of this process's own, then rename over the target (atomic within one file system).
`durable=True` also fsyncs the file and its folder, for what must survive a power cut.
"""
from __future__ import annotations

import os
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator


def fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@contextmanager
def atomic_path(path: str | Path, suffix: str = "", durable: bool = False) -> Iterator[Path]:
    """A temporary path to write `path` through; renamed over `path` when the block ends
    without an error, removed when it raises. suffix: what the writer needs the name to end
    in (e.g. ".onnx")."""
    path = Path(path)
    partial = path.with_name(f".{path.name}.{os.getpid()}.tmp{suffix}")
    try:
        yield partial
        if durable:
            with open(partial, "rb+") as written:
                os.fsync(written.fileno())
        os.replace(partial, path)
    finally:
        if partial.exists():
            partial.unlink()
    if durable:
        fsync_dir(path.parent)


def write_atomically(path: str | Path, data: str | bytes, durable: bool = False) -> None:
    with atomic_path(path, durable=durable) as partial:
        if isinstance(data, bytes):
            partial.write_bytes(data)
        else:
            partial.write_text(data, encoding="utf-8")
