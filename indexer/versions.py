"""Index versions on disk: one folder per build, one pointer file naming the serving one.

    <root>/versions/<version>/   manifest.json, products, vectors, keyword index, update log
    <root>/CURRENT               the serving version's name, replaced atomically

A build writes into a hidden temporary folder and is renamed into versions/ only when
complete and verified, so a reader never sees a half-written version. Version names sort by
creation time.
"""
from __future__ import annotations

import fcntl
import json
import os
import shutil
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from encoders.atomic_files import fsync_dir, write_atomically

CURRENT_FILE = "CURRENT"
SERVED_FILE = "SERVED"  # every version CURRENT has named, in order: rollback only goes back to these
VERSIONS_DIR = "versions"
MANIFEST_FILE = "manifest.json"
STAGING_PREFIX = ".building-"
BUILD_LOCK_FILE = ".build.lock"
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
    fsync_dir(final.parent)
    return final


def publish(root: Path, staging: Path, version: str, seq: int = 0) -> Path:
    """Move a finished, verified build into place and point CURRENT at it (seq: see switch)."""
    final = stage(root, staging, version)
    switch(root, version, seq)
    return final


def switch(root: Path, version: str, seq: int = 0) -> None:
    """Point CURRENT at a complete version: write a new pointer, then rename it over the old;
    SERVED records it with `seq`, the last update-log change it held when it began serving.
    (indexer.switching.serve also tells the keyword backend: use that.)"""
    root = Path(root)
    if not (root / VERSIONS_DIR / version / MANIFEST_FILE).exists():
        raise NoIndexError(f"no complete index version {version!r} under {root}")
    write_atomically(root / CURRENT_FILE, version + "\n", durable=True)
    with open(root / SERVED_FILE, "a") as served:
        served.write(f"{version} {seq}\n")


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


def serving_dir(root: Path) -> Path | None:
    """The serving version's folder, or None when nothing serves yet."""
    try:
        return current_dir(root)
    except NoIndexError:
        return None


class BuildInProgressError(RuntimeError):
    pass


@contextmanager
def build_lock(root: Path) -> Iterator[None]:
    """One process at a time builds, switches, rolls back or prunes under a root."""
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    with open(root / BUILD_LOCK_FILE, "w") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise BuildInProgressError(f"another build, switch or rollback is running on {root}") from None
        yield


def read_manifest(directory: Path) -> dict:
    return json.loads((Path(directory) / MANIFEST_FILE).read_text())


def list_versions(root: Path) -> list[str]:
    """Complete versions, oldest first."""
    versions = Path(root) / VERSIONS_DIR
    if not versions.exists():
        return []
    return sorted(p.name for p in versions.iterdir()
                  if not p.name.startswith(".") and (p / MANIFEST_FILE).exists())


def served_log(root: Path) -> list[tuple[str, int]] | None:
    """Every switch in order: (version, the last update-log change it held when it began
    serving; 0 in records older than that number); None for a root older than the record."""
    try:
        lines = (Path(root) / SERVED_FILE).read_text().splitlines()
    except FileNotFoundError:
        return None
    return [(parts[0], int(parts[1]) if len(parts) > 1 else 0) for parts in map(str.split, lines) if parts]


def served_versions(root: Path) -> set[str] | None:
    """The versions that have ever served; None for an index root older than that record."""
    log = served_log(root)
    return None if log is None else {version for version, _ in log}


def previous_version(root: Path) -> str:
    """The newest complete version older than the serving one that has served before: what
    rollback switches to (a staged version that never served is not a way back)."""
    current = current_version(root)
    served = served_versions(root)
    older = [v for v in list_versions(root) if v < current and (served is None or v in served)]
    if not older:
        raise NoIndexError(f"no version older than {current} to roll back to under {root}")
    return older[-1]


def prunable(root: Path, keep: int = DEFAULT_KEEP, protect: tuple[str, ...] = ()) -> list[str]:
    """The oldest versions beyond `keep`; never the serving one nor those in `protect`."""
    current = current_version(root)
    removable = [v for v in list_versions(root) if v != current and v not in protect]
    return removable[: max(0, len(removable) - (keep - 1))]


def remove(root: Path, version: str) -> None:
    """Delete a version's folder (indexer.switching.prune_versions drops its backend data first)."""
    shutil.rmtree(version_dir(root, version), ignore_errors=True)


def abandoned_builds(root: Path) -> list[Path]:
    versions = Path(root) / VERSIONS_DIR
    return sorted(versions.glob(f"{STAGING_PREFIX}*")) if versions.exists() else []


def remove_abandoned_builds(root: Path) -> list[Path]:
    """Temporary folders left by interrupted builds; removed before the next build."""
    leftovers = abandoned_builds(root)
    for path in leftovers:
        shutil.rmtree(path, ignore_errors=True)
    return leftovers
