"""Incremental updates: upsert and delete products by id in the serving version.

The writer encodes new products first (slow, no lock held), then under the version's write
lock: catches up with the log, assigns doc numbers, appends the changes to the log (the
durable point), applies them to the keyword index on disk and finally to its own memory.
Readers in other processes pick the changes up from the log.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

from encoders.product_text import product_text
from encoders.towers import TextEncoder
from indexer import update_log, versions
from indexer.schema import Product
from indexer.search_index import SearchIndex


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
    """Bring the on-disk keyword index up to the log (after a writer died half-way)."""
    applied = update_log.keyword_applied(index.directory)
    changes, _ = update_log.read(index.directory)
    pending = [c for c in changes if c.seq > applied]
    if pending:
        apply_to_keyword(index, pending)


def recover_keyword(index: SearchIndex) -> None:
    """At start-up: finish what a writer killed between the log and the keyword commit left."""
    if update_log.keyword_applied(index.directory) < update_log.last_seq(index.directory):
        with update_log.write_lock(index.directory):
            finish_keyword(index)


def apply_to_keyword(index: SearchIndex, changes: list[update_log.Change]) -> None:
    removed = [c.replaced_doc for c in changes if c.replaced_doc is not None]
    upserts = [c for c in changes if c.op == "upsert"]
    products = [Product.from_dict(c.product) for c in upserts]
    if getattr(index.vectors, "filters_natively", False):  # vectors live in the keyword documents
        index.keyword.update(removed, [c.doc for c in upserts], products, [c.vector for c in upserts])
    else:
        index.keyword.update(removed, [c.doc for c in upserts], products)
    update_log.set_keyword_applied(index.directory, changes[-1].seq)


def apply_updates(index: SearchIndex, encoder: TextEncoder, upserts: Sequence[Product] = (),
                  deletes: Sequence[str] = (), root: Path | None = None) -> UpdateSummary:
    """Apply upserts and deletes to an open index version, durably. Upserts win over a delete
    of the same id in the same call. With root, refuses (VersionSwitchedError) once the
    version no longer serves: a full reindex carries over what was logged before its switch,
    and holds this version's write lock while it does."""
    check_encoder(index, encoder)
    latest = {p.id: p for p in upserts}  # the last upsert of an id in a batch wins
    products = list(latest.values())
    vectors = encoder.encode([product_text(p) for p in products]) if products else []
    summary = UpdateSummary(index.version)
    with update_log.write_lock(index.directory):
        if root is not None and versions.current_version(root) != index.version:
            raise VersionSwitchedError(f"{index.version} is no longer the serving version")
        index.sync()
        finish_keyword(index)
        changes: list[update_log.Change] = []
        seq = max(index.applied_seq, update_log.last_seq(index.directory))
        next_doc = index.products.next_doc
        for product_id in dict.fromkeys(deletes):
            if product_id in latest:
                continue
            doc = index.products.doc_of.get(product_id)
            if doc is None:
                summary.not_found.append(product_id)
                continue
            seq += 1
            changes.append(update_log.Change(seq, "delete", product_id, replaced_doc=doc))
            summary.deleted.append(product_id)
        for product, vector in zip(products, vectors):
            seq += 1
            old = index.products.doc_of.get(product.id)
            changes.append(update_log.Change(seq, "upsert", product.id, doc=next_doc, replaced_doc=old,
                                             product=product.to_dict(), vector=[float(x) for x in vector]))
            (summary.updated if old is not None else summary.added).append(product.id)
            next_doc += 1
        if changes:
            update_log.append(index.directory, changes)  # durable from here on
            apply_to_keyword(index, changes)
            index.sync()
    return summary


def apply_updates_to_current(root: Path, encoder: TextEncoder, upserts: Sequence[Product] = (),
                             deletes: Sequence[str] = (), elasticsearch=None) -> UpdateSummary:
    """Apply to whatever version is serving, following a switch made meanwhile."""
    while True:
        index = SearchIndex.open(versions.current_dir(root), elasticsearch=elasticsearch)
        try:
            return apply_updates(index, encoder, upserts, deletes, root=root)
        except VersionSwitchedError:
            continue
