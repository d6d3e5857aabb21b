"""Index versions on disk: one folder per build, one pointer file naming the serving one.

    <root>/versions/<version>/   manifest.json, products, vectors, keyword index, update log
    <root>/CURRENT               the serving version's name, replaced atomically

A build writes into a hidden temporary folder and is renamed into versions/ only when
complete and verified, so a reader never sees a half-written version. Version names sort by
creation time.
"""
from __future__ import annotations

import json
import os
import shutil
import time
from pathlib import Path

CURRENT_FILE = "CURRENT"
SERVED_FILE = "SERVED"  # every version CURRENT has named, in order: rollback only goes back to these
VERSIONS_DIR = "versions"
MANIFEST_FILE = "manifest.json"
STAGING_PREFIX = ".building-"
DEFAULT_KEEP = 3


class NoIndexError(FileNotFoundError):
    pass


def new_version_name() -> str:
    now = time.time()
    return time.strftime("v%Y%m%d-%H%M%S", time.gmtime(now)) + f"-{int(now * 1e6) % 1_000_000:06d}"


def staging_dir(root: Path, version: str) -> Path:
    path = Path(root) / VERSIONS_DIR / f"{STAGING_PREFIX}{version}"
    path.mkdir(parents=True)
    return path


def stage(root: Path, staging: Path, version: str) -> Path:
    """Move a finished, verified build into place beside the serving version."""
    final = Path(root) / VERSIONS_DIR / version
    os.replace(staging, final)
    _fsync_dir(final.parent)
    return final


def publish(root: Path, staging: Path, version: str) -> Path:
    """Move a finished, verified build into place and point CURRENT at it."""
    final = stage(root, staging, version)
    switch(root, version)
    return final


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def switch(root: Path, version: str) -> None:
    """Point CURRENT at a complete version: write a new pointer, then rename it over the old."""
    root = Path(root)
    if not (root / VERSIONS_DIR / version / MANIFEST_FILE).exists():
        raise NoIndexError(f"no complete index version {version!r} under {root}")
    pointer = root / f".{CURRENT_FILE}.{os.getpid()}.tmp"
    with open(pointer, "w") as out:
        out.write(version + "\n")
        out.flush()
        os.fsync(out.fileno())
    os.replace(pointer, root / CURRENT_FILE)
    _fsync_dir(root)
    with open(root / SERVED_FILE, "a") as served:
        served.write(version + "\n")


def current_version(root: Path) -> str:
    try:
        return (Path(root) / CURRENT_FILE).read_text().strip()
    except FileNotFoundError:
        raise NoIndexError(
            f"no index at {root}: build one first (search-reindex full --index {root})"
        ) from None


def version_dir(root: Path, version: str) -> Path:
    return Path(root) / VERSIONS_DIR / version


def current_dir(root: Path) -> Path:
    return version_dir(root, current_version(root))


def read_manifest(directory: Path) -> dict:
    return json.loads((Path(directory) / MANIFEST_FILE).read_text())


def list_versions(root: Path) -> list[str]:
    """Complete versions, oldest first."""
    versions = Path(root) / VERSIONS_DIR
    if not versions.exists():
        return []
    return sorted(p.name for p in versions.iterdir()
                  if not p.name.startswith(".") and (p / MANIFEST_FILE).exists())


def served_versions(root: Path) -> set[str] | None:
    """The versions that have ever served; None for an index root older than that record."""
    try:
        return set((Path(root) / SERVED_FILE).read_text().split())
    except FileNotFoundError:
        return None


def previous_version(root: Path) -> str:
    """The newest complete version older than the serving one that has served before: what
    rollback switches to (a staged version that never served is not a way back)."""
    current = current_version(root)
    served = served_versions(root)
    older = [v for v in list_versions(root) if v < current and (served is None or v in served)]
    if not older:
        raise NoIndexError(f"no version older than {current} to roll back to under {root}")
    return older[-1]


def prune(root: Path, keep: int = DEFAULT_KEEP, protect: tuple[str, ...] = ()) -> list[str]:
    """Delete the oldest versions beyond `keep`; never the serving one nor those in `protect`."""
    current = current_version(root)
    removable = [v for v in list_versions(root) if v != current and v not in protect]
    doomed = removable[: max(0, len(removable) - (keep - 1))]
    for version in doomed:
        shutil.rmtree(version_dir(root, version), ignore_errors=True)
    return doomed


def abandoned_builds(root: Path) -> list[Path]:
    versions = Path(root) / VERSIONS_DIR
    return sorted(versions.glob(f"{STAGING_PREFIX}*")) if versions.exists() else []


def remove_abandoned_builds(root: Path) -> list[Path]:
    """Temporary folders left by interrupted builds; removed before the next build."""
    leftovers = abandoned_builds(root)
    for path in leftovers:
        shutil.rmtree(path, ignore_errors=True)
    return leftovers
