"""Incremental upserts and deletes: every index changes together, durably."""
import pytest

from indexer import update_log, versions
from indexer.incremental import EncoderMismatchError, apply_updates, apply_updates_to_current, recover_keyword
from indexer.schema import Product
from indexer.search_index import SearchIndex
from search_engine.engine import Engine
from search_engine.types import Query

pytestmark = pytest.mark.slow

NEW = Product("new-1", "Zorbix quantum espresso grinder", "Burr grinder for espresso beans", "Zorbix",
              "coffee grinder", 89.0, {"product_colour": "Red"})


def ids(engine, text, mode="hybrid", k=10):
    return [h.product.id for h in engine.search(Query(text, k=k, mode=mode)).hits]


def test_upsert_is_searchable_at_once_in_both_legs(small_root, towers):
    index = SearchIndex.open_current(small_root)
    engine = Engine(index, towers)
    summary = apply_updates(index, towers.product, upserts=[NEW])
    assert summary.added == ["new-1"]
    assert ids(engine, "zorbix grinder", mode="keyword")[0] == "new-1"
    assert ids(engine, "coffee bean grinding machine", mode="dense")[0] == "new-1"
    assert index.products.get("new-1").price == 89.0


def test_update_replaces_the_old_text_everywhere(small_root, towers, small_catalog):
    index = SearchIndex.open_current(small_root)
    engine = Engine(index, towers)
    target = small_catalog[3]
    changed = Product(target.id, "Zorbix espresso grinder deluxe", "", "Zorbix", "coffee grinder", 120.0)
    summary = apply_updates(index, towers.product, upserts=[changed])
    assert summary.updated == [target.id]
    assert ids(engine, "zorbix", mode="keyword") == [target.id]
    assert [h.product.title for h in engine.search(Query("zorbix", mode="keyword")).hits] == [changed.title]
    assert index.product_count == len(small_catalog)


def test_delete_removes_from_every_leg_and_reports_unknown_ids(small_root, towers, small_catalog):
    index = SearchIndex.open_current(small_root)
    engine = Engine(index, towers)
    victim = small_catalog[0]
    assert victim.id in ids(engine, victim.title, k=5)
    summary = apply_updates(index, towers.product, deletes=[victim.id, "no-such-id"])
    assert summary.deleted == [victim.id] and summary.not_found == ["no-such-id"]
    for mode in ("keyword", "dense", "hybrid"):
        assert victim.id not in ids(engine, victim.title, mode=mode, k=60)
    assert index.products.get(victim.id) is None
    assert engine.similar(small_catalog[1].id, k=59) and victim.id not in [
        h.product.id for h in engine.similar(small_catalog[1].id, k=59)]


def test_updates_survive_a_restart_and_reach_other_readers(small_root, towers, small_catalog):
    reader = SearchIndex.open_current(small_root)  # another process's view, opened before the change
    apply_updates_to_current(small_root, towers.product, upserts=[NEW], deletes=[small_catalog[0].id])
    reopened = SearchIndex.open_current(small_root)  # a restart
    for index in (reopened, reader):
        index.catch_up()
        engine = Engine(index, towers)
        assert ids(engine, "zorbix grinder", mode="keyword")[0] == "new-1"
        assert index.products.get(small_catalog[0].id) is None
        assert index.product_count == len(small_catalog)


def test_a_writer_killed_before_the_keyword_commit_is_finished_at_start(small_root, towers):
    index = SearchIndex.open_current(small_root)
    vector = towers.product.encode(["Zorbix quantum espresso grinder"])[0]
    # What a writer leaves when killed right after the log's fsync: a logged, unapplied change.
    update_log.append(index.directory, [update_log.Change(
        1, "upsert", "new-1", doc=index.products.next_doc, product=NEW.to_dict(), vector=vector.tolist())])
    restarted = SearchIndex.open_current(small_root)
    recover_keyword(restarted)
    assert ids(Engine(restarted, towers), "zorbix", mode="keyword") == ["new-1"]
    assert update_log.keyword_applied(restarted.directory) == 1


def test_updates_with_another_product_tower_are_refused(small_root, towers, monkeypatch):
    index = SearchIndex.open_current(small_root)
    monkeypatch.setattr(type(towers.product), "fingerprint", property(lambda self: "f" * 16))
    with pytest.raises(EncoderMismatchError, match="ffffffffffffffff"):
        apply_updates(index, towers.product, upserts=[NEW])


def test_full_reindex_carries_over_updates_made_while_it_ran(small_root, towers, small_catalog, monkeypatch):
    """An update logged after a full build started must not be lost by the switch."""
    from indexer import build

    real_write = build._write_version

    def write_then_update(*args, **kwargs):
        manifest = real_write(*args, **kwargs)
        apply_updates_to_current(small_root, towers.product, upserts=[NEW], deletes=[small_catalog[5].id])
        return manifest

    monkeypatch.setattr(build, "_write_version", write_then_update)
    build.build_version(small_catalog, towers.product, small_root)
    manifest = versions.read_manifest(versions.current_dir(small_root))
    assert manifest["carried_updates"]["products"] == 2
    index = SearchIndex.open_current(small_root)
    assert index.products.get("new-1") is not None and index.products.get(small_catalog[5].id) is None
    assert ids(Engine(index, towers), "zorbix grinder", mode="keyword")[0] == "new-1"


def test_a_profile_reads_base_and_updated_products_vectors_in_one_batch(small_root, towers, small_catalog):
    import numpy as np

    from search_engine.personalization.profiles import CatalogReader

    index = SearchIndex.open_current(small_root)
    gone = small_catalog[1].id
    apply_updates(index, towers.product, upserts=[NEW], deletes=[gone])
    snapshot = index.snapshot()
    catalog = CatalogReader.of_snapshot(snapshot)
    base, products = small_catalog[0].id, snapshot.products
    rows = catalog.vector_rows([base, "new-1", gone, "never-there"])
    assert np.array_equal(rows[0], snapshot.vectors.vector(products.doc_of(base)))
    assert np.array_equal(rows[1], snapshot.vectors.vector(products.doc_of("new-1")))  # from the delta segment
    assert np.isnan(rows[2:]).all()
    assert np.allclose(catalog.weighted_sum([base, gone, "new-1"], [2.0, 5.0, 0.5]), 2.0 * rows[0] + 0.5 * rows[1])
    assert catalog.vector_rows(["never-there"]) is None and catalog.weighted_sum([], []) is None
