"""Index versions: manifest, verified atomic switch, rollback, pruning, tower checks."""
import pytest

from indexer import versions
from indexer.build import build_version
from indexer.keyword.tantivy_index import TantivyKeywordIndex
from indexer.search_index import SearchIndex
from indexer.verify import VerificationError

pytestmark = pytest.mark.slow


def test_manifest_records_what_the_version_was_built_from(small_root, small_catalog, towers):
    manifest = versions.read_manifest(versions.current_dir(small_root))
    assert manifest["product_count"] == len(small_catalog)
    assert len(manifest["catalog_checksum"]) == 16
    assert manifest["encoder"] == {"model": "all-MiniLM-L6-v2", "source": "all-MiniLM-L6-v2",
                                   "fingerprint": towers.product.fingerprint, "dimension": 384, "backend": "torch",
                                   "vectors_key": towers.product.fingerprint}
    assert manifest["vector_index"]["kind"] == "flat" and "hnsw_m" in manifest["vector_index"]
    assert manifest["keyword"]["backend"] == "tantivy" and manifest["keyword"]["boosts"]["title"] > 0
    assert set(manifest["build_timings"]) == {"store_s", "encode_s", "vector_index_s", "keyword_index_s"}


def test_new_build_switches_and_rollback_returns(small_root, small_catalog, towers):
    first = versions.current_version(small_root)
    build_version(small_catalog[:40], towers.product, small_root)
    second = versions.current_version(small_root)
    assert second > first and versions.list_versions(small_root) == [first, second]
    assert SearchIndex.open_current(small_root).product_count == 40
    assert versions.previous_version(small_root) == first
    versions.switch(small_root, versions.previous_version(small_root))
    assert versions.current_version(small_root) == first
    with pytest.raises(versions.NoIndexError, match="no version older"):
        versions.previous_version(small_root)


def test_old_versions_are_pruned_to_keep(small_root, small_catalog, towers):
    for size in (50, 45, 40):
        build_version(small_catalog[:size], towers.product, small_root, keep=2)
    kept = versions.list_versions(small_root)
    assert len(kept) == 2 and kept[-1] == versions.current_version(small_root)


def test_a_version_that_fails_verification_is_never_switched_in(small_root, small_catalog, towers, monkeypatch):
    before = versions.current_version(small_root)
    real_add = TantivyKeywordIndex.add
    monkeypatch.setattr(TantivyKeywordIndex, "add", lambda self, docs, products: real_add(
        self, list(docs)[:10], list(products)[:10]))  # a keyword index missing products
    with pytest.raises(VerificationError, match="counts disagree"):
        build_version(small_catalog, towers.product, small_root)
    assert versions.current_version(small_root) == before
    assert len(versions.abandoned_builds(small_root)) == 1
    monkeypatch.undo()
    build_version(small_catalog, towers.product, small_root)  # the next build cleans up
    assert versions.abandoned_builds(small_root) == []


def test_switch_refuses_an_incomplete_version(small_root):
    with pytest.raises(versions.NoIndexError, match="no complete index version"):
        versions.switch(small_root, "v-missing")


def test_a_staged_version_takes_the_updates_made_meanwhile_when_switched_to(small_root, small_catalog, towers):
    from indexer.switching import switch_to_version
    from indexer.incremental import apply_updates_to_current
    from indexer.schema import Product

    first = versions.current_version(small_root)
    staged = build_version(small_catalog[:40], towers.product, small_root, serve=False).name
    assert versions.current_version(small_root) == first
    assert versions.read_manifest(versions.version_dir(small_root, staged))["staged_from"] == {"version": first, "seq": 0}
    apply_updates_to_current(small_root, towers.product, upserts=[Product("new-1", "Acme USB-C hub", brand="Acme")],
                             deletes=[small_catalog[0].id])
    result = switch_to_version(small_root, staged)
    manifest = versions.read_manifest(versions.version_dir(small_root, staged))
    assert versions.current_version(small_root) == staged and manifest["carried_updates"]["products"] == 2
    assert result.staged_carried == 2
    index = SearchIndex.open_current(small_root)
    assert index.products.get("new-1") is not None and index.products.get(small_catalog[0].id) is None
    assert versions.previous_version(small_root) == first


def test_a_staged_version_is_kept_but_is_no_way_back_and_goes_stale(small_root, small_catalog, towers, capsys):
    from indexer.switching import StaleStagedVersionError, switch_to_version
    from scripts.reindex import main as reindex

    first = versions.current_version(small_root)
    staged = build_version(small_catalog[:40], towers.product, small_root, serve=False, keep=1).name
    assert versions.list_versions(small_root) == [first, staged]  # keep=1 never prunes what was just built
    assert reindex(["status", "--index", str(small_root)]) == 0
    listed = capsys.readouterr().out
    assert f"* {first}" in listed and f"+ {staged}" in listed
    third = build_version(small_catalog[:50], towers.product, small_root).name
    assert versions.previous_version(small_root) == first  # the staged version never served
    with pytest.raises(StaleStagedVersionError, match=f"staged beside {first}, but {third} serves now"):
        switch_to_version(small_root, staged)
    assert reindex(["switch", staged, "--index", str(small_root)]) == 1
    assert "build a new version instead" in capsys.readouterr().err
    assert versions.current_version(small_root) == third


def test_rollback_names_the_updates_it_would_lose_and_drops_or_carries_them(small_root, small_catalog, towers):
    from indexer.incremental import apply_updates_to_current
    from indexer.schema import Product
    from indexer.switching import UpdatesWouldBeLostError, rollback, switch_to_version

    first = versions.current_version(small_root)
    second = build_version(small_catalog[:50], towers.product, small_root).name
    new = Product("after-switch", "Zorbix grinder", "", "Zorbix", "grinder", 10.0)
    apply_updates_to_current(small_root, towers.product, upserts=[new], deletes=[small_catalog[1].id])
    with pytest.raises(UpdatesWouldBeLostError, match="1 upserted and 1 deleted products .*after-switch"):
        rollback(small_root)
    assert versions.current_version(small_root) == second  # refused: nothing moved

    carried = rollback(small_root, updates="carry")
    assert carried.to_version == first and carried.updated == ["after-switch"]
    index = SearchIndex.open_current(small_root)
    assert index.products.get("after-switch").title == "Zorbix grinder"
    assert index.products.get(small_catalog[1].id) is None

    # Forward again: the second version already has those; nothing was made to the first since.
    assert switch_to_version(small_root, second).products == 0
    apply_updates_to_current(small_root, towers.product, upserts=[Product("late", "Quokka lamp")])
    with pytest.raises(UpdatesWouldBeLostError, match="1 upserted and 0 deleted products \\(late\\)"):
        rollback(small_root)
    dropped = rollback(small_root, updates="drop")
    assert dropped.to_version == first and dropped.describe() == "dropped 1 upserted and 0 deleted products (late)"
    index = SearchIndex.open_current(small_root)
    assert index.products.get("late") is None and index.products.get("after-switch") is not None


def test_switching_and_pruning_tell_the_keyword_backend(small_root, small_catalog, towers, monkeypatch):
    """Which versions the backend is told serve (its alias) and which to delete (its data):
    the orchestration; the Elasticsearch calls themselves are tested against a live cluster."""
    from indexer import switching
    from indexer.keyword.factory import open_keyword_index

    told = []

    def recording(directory, manifest, elasticsearch=None):
        index = open_keyword_index(directory, manifest, elasticsearch)
        index.mark_serving = lambda: told.append(("serve", manifest["version"]))
        index.drop = lambda: told.append(("drop", manifest["version"]))
        return index

    monkeypatch.setattr(switching, "open_keyword_index", recording)
    first = versions.current_version(small_root)
    second = build_version(small_catalog[:50], towers.product, small_root, keep=5).name
    switching.rollback(small_root)
    switching.switch_to_version(small_root, second)
    assert told == [("serve", first), ("serve", second)]
    assert switching.prune_versions(small_root, keep=1) == [first]
    assert told[-1] == ("drop", first) and first not in versions.list_versions(small_root)
