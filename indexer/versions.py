"""Index versions on disk: one folder per build, one pointer file naming the serving one.

    <root>/versions/<version>/   manifest.json, products, vectors, keyword index
    <root>/CURRENT               the serving version's name, replaced atomically

A build writes into a hidden temporary folder and is renamed into versions/ only when
complete, so a reader never sees a half-written version.
"""
from __future__ import annotations

import json
import os
import shutil
import time
from pathlib import Path

CURRENT_FILE = "CURRENT"
VERSIONS_DIR = "versions"
MANIFEST_FILE = "manifest.json"


class NoIndexError(FileNotFoundError):
    pass


def new_version_name() -> str:
    return time.strftime("v%Y%m%d-%H%M%S", time.gmtime()) + f"-{os.getpid() % 10000:04d}"


def staging_dir(root: Path, version: str) -> Path:
    path = Path(root) / VERSIONS_DIR / f".building-{version}"
    path.mkdir(parents=True)
    return path


def publish(root: Path, staging: Path, version: str) -> Path:
    """Move a finished build into place and point CURRENT at it."""
    final = Path(root) / VERSIONS_DIR / version
    os.replace(staging, final)
    switch(root, version)
    return final


def switch(root: Path, version: str) -> None:
    root = Path(root)
    if not (root / VERSIONS_DIR / version / MANIFEST_FILE).exists():
        raise NoIndexError(f"no complete index version {version!r} under {root}")
    pointer = root / f".{CURRENT_FILE}.{os.getpid()}.tmp"
    pointer.write_text(version + "\n")
    os.replace(pointer, root / CURRENT_FILE)


def current_version(root: Path) -> str:
    try:
        return (Path(root) / CURRENT_FILE).read_text().strip()
    except FileNotFoundError:
        raise NoIndexError(
            f"no index at {root}: build one first (search-index build --catalog FILE --index {root})"
        ) from None


def current_dir(root: Path) -> Path:
    return Path(root) / VERSIONS_DIR / current_version(root)


def read_manifest(version_dir: Path) -> dict:
    return json.loads((Path(version_dir) / MANIFEST_FILE).read_text())


def remove_abandoned_builds(root: Path) -> list[Path]:
    """Temporary folders left by interrupted builds; removed before the next build."""
    versions = Path(root) / VERSIONS_DIR
    leftovers = sorted(versions.glob(".building-*")) if versions.exists() else []
    for path in leftovers:
        shutil.rmtree(path, ignore_errors=True)
    return leftovers
