"""Which version serves: switch to one on disk, roll back, prune; each keeps the keyword
backend in step (Elasticsearch's alias follows the serving version, and a pruned version's
Elasticsearch index is deleted) and keeps the catalog team's incremental updates: a switch
carries them over, or names them and refuses, or drops them when told to.

All of it runs under the root's build lock, so none of it races a full build, and a switch
holds the serving version's write lock, so no update lands while it decides.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

from encoders.exported_tower import exports_folder
from encoders.towers import encoder_source, load_tower
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
    versions.switch(root, version, update_log.last_seq(directory))
    keyword.mark_serving()


def _encoder_for(root: Path, manifest: dict):
    """The product tower a version was built with (its export under root, where there is one)."""
    encoder = manifest["encoder"]
    return load_tower(encoder_source(encoder), encoder.get("backend", "torch"), exports=[exports_folder(root)])


def changes_since_served(root: Path, target: str) -> list[update_log.Change]:
    """The incremental changes made, in order, to the versions that served after `target`
    last did (to all that served, for a target that never did): what `target` lacks. Each
    version contributes what it took while serving, not what was carried into it before."""
    served = versions.served_log(root) or []
    last = max((i for i, (version, _) in enumerate(served) if version == target), default=-1)
    later = served[last + 1:]
    changes = []
    for i, (version, started) in enumerate(later):
        if version == target:
            continue
        # Until that version next began serving (what it took then is another interval).
        ends = next((seq for other, seq in later[i + 1:] if other == version), None)
        changes += [c for c in update_log.read(versions.version_dir(root, version))[0]
                    if c.seq > started and (ends is None or c.seq <= ends)]
    return changes


@dataclass
class SwitchResult:
    from_version: str
    to_version: str
    policy: str = "refuse"
    updated: list[str] = field(default_factory=list)  # products the versions left behind upserted...
    deleted: list[str] = field(default_factory=list)  # ...and deleted, which `to_version` lacked
    staged_carried: int = 0  # a staged version: products carried over from the version it was staged beside

    @property
    def products(self) -> int:
        return len(self.updated) + len(self.deleted)

    def describe(self) -> str:
        if self.staged_carried:
            return f"carried over {self.staged_carried} products' incremental updates into the staged version"
        if not self.products:
            return "no incremental updates to carry or drop"
        ids = ", ".join((self.updated + self.deleted)[:10]) + (" ..." if self.products > 10 else "")
        what = f"{len(self.updated)} upserted and {len(self.deleted)} deleted products ({ids})"
        return {"carry": f"carried over {what}", "drop": f"dropped {what}"}.get(
            self.policy, f"the serving version holds incremental updates to {what}")


def switch_versions(root: Path, target: str, updates: str = "refuse", elasticsearch=None) -> SwitchResult:
    """Serve `target`, a complete version on disk, keeping the catalog team's updates.

    Under the build lock and the serving version's write lock (no update lands meanwhile):
    a version staged beside the serving one (full --no-switch) first takes the updates
    logged since it was built, as a full build's switch does; one staged beside an older
    serving version is refused (StaleStagedVersionError). Any other target lacks the updates
    made since it last served; `updates` says what to do with them: "refuse" (the default:
    raise UpdatesWouldBeLostError naming them), "drop" them, or "carry" them over (each
    product's last state, encoded with the target's product tower)."""
    if updates not in UPDATE_POLICIES:
        raise ValueError(f"updates: expected one of {', '.join(UPDATE_POLICIES)}, got {updates!r}")
    from indexer.build import write_manifest

    root = Path(root)
    with versions.build_lock(root):
        if target not in versions.list_versions(root):
            raise versions.NoIndexError(f"no complete index version {target!r} under {root}")
        serving = versions.serving_dir(root)
        result = SwitchResult(serving.name if serving else "", target, updates)
        if serving is None or serving.name == target:
            serve(root, target, elasticsearch)
            return result
        target_dir = versions.version_dir(root, target)
        with update_log.write_lock(serving):
            manifest = versions.read_manifest(target_dir)
            staged_from, served = manifest.get("staged_from"), versions.served_versions(root)
            if staged_from is not None and (served is None or target not in served):
                if staged_from["version"] != serving.name:
                    raise StaleStagedVersionError(
                        f"{target} was staged beside {staged_from['version']}, but {serving.name} serves now and "
                        f"its updates are not in {target}; build a new version instead")
                after_seq, manifest["staged_from"]["seq"] = staged_from["seq"], update_log.last_seq(serving)
                if manifest["staged_from"]["seq"] > after_seq:
                    index = SearchIndex.open(target_dir, use_gpu=False, elasticsearch=elasticsearch)
                    carry_over(serving, after_seq, index, _encoder_for(root, manifest), manifest)
                    result.staged_carried = manifest["carried_updates"]["products"]
                write_manifest(target_dir, manifest)
            else:
                states = final_states(changes_since_served(root, target))
                result.updated = [i for i, p in states.items() if p is not None]
                result.deleted = [i for i, p in states.items() if p is None]
                if result.products and updates == "refuse":
                    raise UpdatesWouldBeLostError(
                        f"{result.describe()}; {target} lacks them: say --updates drop or --updates carry")
                if result.products and updates == "carry":
                    index = SearchIndex.open(target_dir, use_gpu=False, elasticsearch=elasticsearch)
                    apply_updates(index, _encoder_for(root, index.manifest),
                                  upserts=[p for p in states.values() if p is not None], deletes=result.deleted)
            serve(root, target, elasticsearch)
    log.info("switched from %s to %s: %s", result.from_version, target, result.describe())
    return result


def switch_to_version(root: Path, version: str, elasticsearch=None, updates: str = "refuse") -> SwitchResult:
    """Serve a version on disk (e.g. one staged with full --no-switch); see switch_versions."""
    return switch_versions(root, version, updates, elasticsearch)


def rollback(root: Path, to: str | None = None, updates: str = "refuse", elasticsearch=None) -> SwitchResult:
    """Serve the previous version that served (or `to`); see switch_versions for `updates`."""
    return switch_versions(root, to or versions.previous_version(root), updates, elasticsearch)


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
