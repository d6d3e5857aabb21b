"""Incremental updates: upsert and delete products by id in the serving version.

The writer encodes new products first (slow, no lock held), then under the version's write
lock: catches up with the log, assigns doc numbers, appends the changes to the log (the
durable point), commits them to the keyword index, publishes its own next snapshot and
finally marks them committed (keyword-applied). Only then is the write acknowledged, so
every later search in this process sees it, and servers in other processes, which replay
the log up to that mark, see it at their next search (read-your-writes, search_engine/live.py).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

from encoders.product_text import product_text
from encoders.towers import TextEncoder
from indexer import update_log, versions
from indexer.attributes import check_attributes
from indexer.schema import Product
from indexer.search_index import SearchIndex
from indexer.snapshot import IndexSnapshot


class EncoderMismatchError(ValueError):
    pass


class VersionSwitchedError(RuntimeError):
    """The version being written stopped serving (a full reindex switched); write to the new one."""


@dataclass
class UpdateSummary:
    version: str
    added: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)
    not_found: list[str] = field(default_factory=list)  # deletes of ids the index does not have

    def to_dict(self) -> dict:
        return {"version": self.version, "added": self.added, "updated": self.updated,
                "deleted": self.deleted, "not_found": self.not_found}


def check_encoder(index: SearchIndex, encoder: TextEncoder) -> None:
    expected = index.manifest["encoder"]["fingerprint"]
    if encoder.fingerprint != expected:
        raise EncoderMismatchError(
            f"index {index.version} was built with product tower fingerprint {expected}, "
            f"but the update encoder is {encoder.name} ({encoder.fingerprint}); use the same model"
        )


def finish_keyword(index: SearchIndex) -> None:
    """Bring the keyword index and the commit mark up to the log (after a writer died
    between the two; its changes were never acknowledged, but they are durable)."""
    applied = update_log.keyword_applied(index.directory)
    # The snapshot never holds more than was committed: what is pending lies after it.
    pending = [c for c, _ in update_log.read_entries(index.directory, index.snapshot().log_offset)
               if c.seq > applied]
    if pending:
        apply_to_keyword(index, pending)
        update_log.set_keyword_applied(index.directory, pending[-1].seq)


def recover_keyword(index: SearchIndex) -> None:
    """At start-up: finish what a writer killed between the log and the keyword commit left."""
    if update_log.keyword_applied(index.directory) < update_log.last_seq(index.directory):
        with update_log.write_lock(index.directory):
            update_log.repair(index.directory, index.snapshot().log_offset)
            finish_keyword(index)
        index.catch_up()


def apply_to_keyword(index: SearchIndex, changes: list[update_log.Change]) -> None:
    upserts = [c for c in changes if c.op == "upsert"]
    index.keyword.update([c.replaced_doc for c in changes if c.replaced_doc is not None],
                         [c.doc for c in upserts], [Product.from_dict(c.product) for c in upserts],
                         [update_log.unpack_vector(c.vector) for c in upserts])


def plan_changes(snapshot: IndexSnapshot, products: Sequence[Product], vectors, deletes: Sequence[str],
                 summary: UpdateSummary) -> list[update_log.Change]:
    """The log entries for these upserts and deletes against the snapshot's catalog."""
    store = snapshot.products
    latest = {p.id for p in products}
    changes: list[update_log.Change] = []
    seq, next_doc = snapshot.seq, store.next_doc
    for product_id in dict.fromkeys(deletes):
        if product_id in latest:
            continue
        doc = store.doc_of(product_id)
        if doc is None:
            summary.not_found.append(product_id)
            continue
        seq += 1
        changes.append(update_log.Change(seq, "delete", product_id, replaced_doc=doc))
        summary.deleted.append(product_id)
    for product, vector in zip(products, vectors):
        seq += 1
        old = store.doc_of(product.id)
        changes.append(update_log.Change(seq, "upsert", product.id, doc=next_doc, replaced_doc=old,
                                         product=product.to_dict(), vector=update_log.pack_vector(vector)))
        (summary.updated if old is not None else summary.added).append(product.id)
        next_doc += 1
    return changes


def apply_updates(index: SearchIndex, encoder: TextEncoder, upserts: Sequence[Product] = (),
                  deletes: Sequence[str] = (), root: Path | None = None) -> UpdateSummary:
    """Apply upserts and deletes to an open index version, durably; when it returns, the
    index's snapshot and every server's next search hold them. Upserts win over a delete
    of the same id in the same call. With root, refuses (VersionSwitchedError) once the
    version no longer serves: a full reindex carries over what was logged before its switch,
    and holds this version's write lock while it does."""
    check_encoder(index, encoder)
    latest = {p.id: p for p in upserts}  # the last upsert of an id in a batch wins
    products = list(latest.values())
    check_attributes(products, index.products.attributes, whole_catalog=False)
    vectors = encoder.encode([product_text(p) for p in products]) if products else []
    summary = UpdateSummary(index.version)
    with update_log.write_lock(index.directory):
        if root is not None and versions.current_version(root) != index.version:
            raise VersionSwitchedError(f"{index.version} is no longer the serving version")
        finish_keyword(index)
        index.catch_up()
        snapshot = index.snapshot()
        update_log.repair(index.directory, snapshot.log_offset)  # a torn, never-acknowledged tail
        if update_log.read_entries(index.directory, snapshot.log_offset):
            raise RuntimeError(f"{index.version}: the update log goes on after change {snapshot.seq}, "
                               "which caught up with it")
        changes = plan_changes(snapshot, products, vectors, deletes, summary)
        if changes:
            log_offset = update_log.append(index.directory, changes)  # durable from here on
            apply_to_keyword(index, changes)
            index.publish(changes, log_offset)
            update_log.set_keyword_applied(index.directory, changes[-1].seq)  # committed
    return summary


def apply_updates_to_current(root: Path, encoder: TextEncoder, upserts: Sequence[Product] = (),
                             deletes: Sequence[str] = (), elasticsearch=None) -> UpdateSummary:
    """Apply to whatever version is serving, following a switch made meanwhile."""
    while True:
        index = SearchIndex.open(versions.current_dir(root), use_gpu=False, elasticsearch=elasticsearch)
        try:
            return apply_updates(index, encoder, upserts, deletes, root=root)
        except VersionSwitchedError:
            continue


def final_states(changes: Sequence[update_log.Change]) -> dict[str, Product | None]:
    """Each product's last state in these changes (None: deleted), in first-touched order."""
    states: dict[str, Product | None] = {}
    for change in changes:
        states[change.product_id] = Product.from_dict(change.product) if change.op == "upsert" else None
    return states


def carry_over(serving: Path, after_seq: int, target: SearchIndex, encoder: TextEncoder, manifest: dict) -> None:
    """Replay onto `target` the updates `serving` logged after after_seq (its write lock held
    by the caller), recording them in `manifest` (the caller writes it).

    Only each product's last change matters, so they are applied as one batch: the target
    ends in the same state as the serving version for every product they touched.
    """
    changes, _ = update_log.read(serving)
    states = final_states([c for c in changes if c.seq > after_seq])
    if not states:
        return
    summary = apply_updates(target, encoder, upserts=[p for p in states.values() if p is not None],
                            deletes=[pid for pid, p in states.items() if p is None])
    manifest["carried_updates"] = {"from_version": serving.name, "after_seq": after_seq,
                                   "through_seq": changes[-1].seq, "products": len(states),
                                   "deleted_not_found": summary.not_found}
