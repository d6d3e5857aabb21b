"""Which version serves: switch to one on disk, roll back, prune; each keeps the keyword
backend in step (Elasticsearch's alias follows the serving version, and a pruned version's
Elasticsearch index is deleted) and keeps the catalog team's incremental updates.

All of it runs under the root's build lock, so none of it races a full build.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

from encoders.towers import TextEncoder, encoder_source
from indexer import update_log, versions
from indexer.incremental import apply_updates, carry_over, final_states
from indexer.keyword.factory import open_keyword_index
from indexer.search_index import SearchIndex

log = logging.getLogger(__name__)
UPDATE_POLICIES = ("refuse", "drop", "carry")


class StaleStagedVersionError(RuntimeError):
    pass


class UpdatesWouldBeLostError(RuntimeError):
    """A rollback would silently drop incremental updates; say drop or carry."""


def serve(root: Path, version: str, elasticsearch=None) -> None:
    """Point CURRENT at a complete version, then the keyword backend's alias (opened first,
    so a version whose backend is unreachable is refused before anything moves)."""
    directory = versions.version_dir(root, version)
    if version not in versions.list_versions(root):
        raise versions.NoIndexError(f"no complete index version {version!r} under {root}")
    keyword = open_keyword_index(directory, versions.read_manifest(directory), elasticsearch)
    versions.switch(root, version)
    keyword.mark_serving()


def _encoder_for(manifest: dict) -> TextEncoder:
    return TextEncoder(encoder_source(manifest["encoder"]), backend=manifest["encoder"].get("backend", "torch"))


def switch_to_version(root: Path, version: str, elasticsearch=None) -> dict:
    """Serve a complete version on disk; returns its manifest.

    A version staged beside the serving one (build_version(serve=False)) first takes the
    updates the serving version logged since, under its write lock, as a full build's switch
    does, so none is lost. One staged beside an older serving version is refused: the updates
    made to the versions in between are not in it."""
    from indexer.build import write_manifest

    root = Path(root)
    with versions.build_lock(root):
        if version not in versions.list_versions(root):
            raise versions.NoIndexError(f"no complete index version {version!r} under {root}")
        target = versions.version_dir(root, version)
        manifest = versions.read_manifest(target)
        staged_from, serving = manifest.get("staged_from"), versions.serving_dir(root)
        if staged_from is None or serving is None or serving.name == version:
            serve(root, version, elasticsearch)
            return manifest
        if staged_from["version"] != serving.name:
            raise StaleStagedVersionError(
                f"{version} was staged beside {staged_from['version']}, but {serving.name} serves now and its "
                f"updates are not in {version}; build a new version instead")
        with update_log.write_lock(serving):
            after_seq, manifest["staged_from"]["seq"] = staged_from["seq"], update_log.last_seq(serving)
            if manifest["staged_from"]["seq"] > after_seq:
                index = SearchIndex.open(target, use_gpu=False, elasticsearch=elasticsearch)
                carry_over(serving, after_seq, index, _encoder_for(manifest), manifest)
            write_manifest(target, manifest)
            serve(root, version, elasticsearch)
    return manifest


def own_changes(directory: Path) -> list[update_log.Change]:
    """The incremental changes made to a version itself (not those carried over into it from
    the version it replaced, which that version holds too)."""
    carried = versions.read_manifest(directory).get("carried_updates", {}).get("own_through_seq", 0)
    return [c for c in update_log.read(directory)[0] if c.seq > carried]


@dataclass
class RollbackResult:
    from_version: str
    to_version: str
    updated: list[str] = field(default_factory=list)  # products the newer versions upserted
    deleted: list[str] = field(default_factory=list)  # products they deleted
    policy: str = "refuse"

    @property
    def products(self) -> int:
        return len(self.updated) + len(self.deleted)

    def describe(self) -> str:
        if not self.products:
            return "no incremental updates were made to the versions rolled back over"
        ids = ", ".join((self.updated + self.deleted)[:10]) + (" ..." if self.products > 10 else "")
        what = f"{len(self.updated)} upserted and {len(self.deleted)} deleted products ({ids})"
        return {"carry": f"carried over {what}", "drop": f"dropped {what}"}.get(
            self.policy, f"the versions rolled back over hold incremental updates to {what}")


def rollback(root: Path, to: str | None = None, updates: str = "refuse", elasticsearch=None) -> RollbackResult:
    """Serve an older version (the previous one that served, or `to`). The incremental
    updates made to the newer versions since they began serving are not in it: `updates`
    says what to do with them: "refuse" (the default: raise UpdatesWouldBeLostError naming
    them), "drop" them, or "carry" them over (re-encoded with the target's product tower)."""
    if updates not in UPDATE_POLICIES:
        raise ValueError(f"updates: expected one of {', '.join(UPDATE_POLICIES)}, got {updates!r}")
    root = Path(root)
    with versions.build_lock(root):
        current = versions.current_version(root)
        target = to or versions.previous_version(root)
        if target not in versions.list_versions(root):
            raise versions.NoIndexError(f"no complete index version {target!r} under {root}")
        newer = [v for v in versions.list_versions(root) if target < v <= current]
        changes = [c for v in newer for c in own_changes(versions.version_dir(root, v))]
        states = final_states(changes)
        result = RollbackResult(current, target, [i for i, p in states.items() if p is not None],
                                [i for i, p in states.items() if p is None], updates)
        if result.products and updates == "refuse":
            raise UpdatesWouldBeLostError(
                f"{result.describe()}; rolling back to {target} would lose them: say --updates drop "
                f"or --updates carry")
        target_dir = versions.version_dir(root, target)
        if result.products and updates == "carry":
            index = SearchIndex.open(target_dir, use_gpu=False, elasticsearch=elasticsearch)
            apply_updates(index, _encoder_for(index.manifest),
                          upserts=[p for p in states.values() if p is not None], deletes=result.deleted)
        serve(root, target, elasticsearch)
    log.info("rolled back from %s to %s: %s", current, target, result.describe())
    return result


def prune_versions(root: Path, keep: int = versions.DEFAULT_KEEP, protect: tuple[str, ...] = (),
                   elasticsearch=None) -> list[str]:
    """Delete the oldest versions beyond `keep` (never the serving one nor `protect`), their
    keyword backend's data first. A version whose backend cannot be reached is kept, and
    said so, rather than leaving its Elasticsearch index behind unreferenced."""
    pruned = []
    for version in versions.prunable(root, keep, protect):
        directory = versions.version_dir(root, version)
        try:
            open_keyword_index(directory, versions.read_manifest(directory), elasticsearch).drop()
        except Exception as exc:  # an unreachable cluster must not fail the build that pruned
            log.warning("kept version %s: could not delete its keyword index (%s)", version, exc)
            continue
        versions.remove(root, version)
        pruned.append(version)
    return pruned
