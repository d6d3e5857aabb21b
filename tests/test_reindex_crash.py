"""A full reindex killed with SIGKILL part-way, in a real subprocess."""
import os
import signal
import subprocess
import sys
import time

import pytest

from indexer import versions
from indexer.loaders import write_jsonl
from indexer.search_index import SearchIndex
from search_engine.engine import Engine
from search_engine.types import Query
from tests.conftest import REPO_ROOT

pytestmark = pytest.mark.slow


def reindex(*args, **kwargs):
    return subprocess.run([sys.executable, "-m", "scripts.reindex", *args], cwd=REPO_ROOT,
                          capture_output=True, text=True, timeout=600, **kwargs)


def answers(root, towers):
    engine = Engine(SearchIndex.open_current(root), towers)
    return [[h.product.id for h in engine.search(Query(q, k=10)).hits] for q in ("usb hub", "backpack", "toner")]


def test_killed_full_reindex_leaves_the_serving_version_and_is_cleaned_up(tmp_path, small_root, slice_products, towers):
    serving = versions.current_version(small_root)
    before = answers(small_root, towers)
    catalog = tmp_path / "catalog.jsonl"
    write_jsonl(slice_products, catalog)  # ~500 products: encoding takes a few seconds
    process = subprocess.Popen([sys.executable, "-m", "scripts.reindex", "full", "--catalog", str(catalog),
                                "--index", str(small_root), "--embedding-cache", ""],
                               cwd=REPO_ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:  # kill once the build has written part of its version
        building = versions.abandoned_builds(small_root)
        if building and (building[0] / "products.jsonl.gz").exists():
            break
        assert process.poll() is None, "the reindex finished before it could be killed"
        time.sleep(0.05)
    os.kill(process.pid, signal.SIGKILL)
    process.wait()

    assert versions.current_version(small_root) == serving
    assert versions.list_versions(small_root) == [serving]  # no partial version was switched in
    assert answers(small_root, towers) == before
    status = reindex("status", "--index", str(small_root))
    assert status.returncode == 0 and "leftovers of interrupted builds" in status.stdout

    small = tmp_path / "small.jsonl"
    write_jsonl(slice_products[:30], small)
    result = reindex("full", "--catalog", str(small), "--index", str(small_root))
    assert result.returncode == 0, result.stderr
    assert "built v" in result.stdout and "now serving" in result.stdout
    assert versions.abandoned_builds(small_root) == []
    assert versions.current_version(small_root) != serving
    assert SearchIndex.open_current(small_root).product_count == 30


def test_reindex_cli_validate_incremental_rollback(tmp_path, small_root, small_catalog):
    changed = small_catalog[:3]
    changed[0] = type(changed[0])(**{**changed[0].to_dict(), "title": "Renamed product"})
    upserts = tmp_path / "upserts.jsonl"
    write_jsonl(changed, upserts)
    validate = reindex("validate", "--catalog", str(upserts), "--index", str(small_root))
    assert validate.returncode == 0, validate.stderr
    assert '{"added": 0, "updated": 1, "removed": 57}' in validate.stdout

    gone = tmp_path / "gone.txt"
    gone.write_text(f"{small_catalog[10].id}\nmissing-id\n", encoding="utf-8-sig")  # as Notepad saves it
    incremental = reindex("incremental", "--upsert", str(upserts), "--delete-ids", str(gone),
                          "--index", str(small_root))
    assert incremental.returncode == 0, incremental.stderr
    assert "0 added, 3 updated, 1 deleted, 1 ids to delete not found: missing-id" in incremental.stdout
    index = SearchIndex.open_current(small_root)
    assert index.products.get(changed[0].id).title == "Renamed product"

    assert reindex("rollback", "--index", str(small_root)).returncode == 2  # nothing older
    bad = tmp_path / "bad.csv"
    bad.write_text("id,title,price\n1,ok,3\n2,,4\n")
    result = reindex("validate", "--catalog", str(bad), "--index", str(small_root))
    assert result.returncode == 2 and "row 2 (id '2'): title: missing" in result.stdout
    result = reindex("full", "--catalog", str(bad), "--index", str(small_root))
    assert result.returncode == 2 and "row 2 (id '2'): title: missing" in result.stderr
    # The dry run checks the attribute settings as a full build would.
    odd = tmp_path / "odd.jsonl"
    odd.write_text('{"id": "1", "title": "Scale", "attributes": {"weight": [1, 2]}}\n')
    result = reindex("validate", "--catalog", str(odd), "--index", str(small_root), "--facet-attributes", "",
                     "--numeric-attributes", "weight")
    assert result.returncode == 2 and "attributes.weight [1, 2] is not a number" in result.stderr
    # Both kinds of problem at once, each named by its row in the file (the second valid
    # product is the file's third): the dry run lists them all, the build fails before encoding.
    both = tmp_path / "both.csv"
    both.write_text("id;title;price;volume\n1;Kettle;3;1,5\n2;Mug;abc;0,3\n3;Pot;4;two\n", encoding="utf-8")
    result = reindex("validate", "--catalog", str(both), "--index", str(small_root), "--facet-attributes", "",
                     "--numeric-attributes", "volume")
    assert result.returncode == 2 and "row 2 (id '2'): price: expected a number" in result.stdout
    assert "row 3 (product 3): attributes.volume 'two' is not a number" in result.stderr
    result = reindex("full", "--catalog", str(both), "--index", str(small_root), "--skip-invalid",
                     "--facet-attributes", "", "--numeric-attributes", "volume")
    assert result.returncode == 2 and "row 3 (product 3): attributes.volume 'two'" in result.stderr
    assert "encoding" not in result.stderr
