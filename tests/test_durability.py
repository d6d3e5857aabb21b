"""An acknowledged update survives a crash at any step of the write, a torn log tail is never
applied and never corrupts the log, and a failed publish leaves the index writable."""
import subprocess
import sys

import pytest

from indexer import update_log
from indexer.incremental import apply_updates, recover_keyword
from indexer.schema import Product
from indexer.search_index import SearchIndex
from search_engine.engine import Engine
from search_engine.types import Query
from tests.conftest import REPO_ROOT

pytestmark = pytest.mark.slow
BATCH = [Product(f"crash-{i}", f"Quokka{i} crash lamp", brand="Crashco", price=5.0 + i) for i in range(3)]

# Runs apply_updates in a child process that dies (os._exit, like kill -9: nothing flushed)
# right after one step of the write.
CRASHING_WRITER = """
import os, sys
from encoders.towers import Towers
from indexer import incremental, update_log
from indexer.schema import Product
from indexer.search_index import SearchIndex

directory, step = sys.argv[1], sys.argv[2]
def die_after(function):
    def wrapped(*args, **kwargs):
        function(*args, **kwargs)
        os._exit(9)
    return wrapped
if step == "log":
    incremental.apply_to_keyword = lambda *a, **k: os._exit(9)
elif step == "keyword":
    incremental.apply_to_keyword = die_after(incremental.apply_to_keyword)
elif step == "publish":
    SearchIndex.publish = die_after(SearchIndex.publish)
index = SearchIndex.open(directory)
products = [Product(f"crash-{i}", f"Quokka{i} crash lamp", brand="Crashco", price=5.0 + i) for i in range(3)]
incremental.apply_updates(index, Towers.load().product, upserts=products)
"""


def keyword_ids(index, towers, text):
    return [h.product.id for h in Engine(index, towers).search(Query(text, mode="keyword", k=5)).hits]


@pytest.mark.parametrize("step", ["log", "keyword", "publish"])
def test_a_writer_killed_after_any_step_past_the_log_loses_nothing(small_root, towers, step):
    """Once the batch is in the log (fsynced) it is durable: the next start finishes it, whole."""
    directory = SearchIndex.open_current(small_root).directory
    child = subprocess.run([sys.executable, "-c", CRASHING_WRITER, str(directory), step], cwd=REPO_ROOT,
                           capture_output=True, text=True, timeout=300)
    assert child.returncode == 9, child.stderr
    restarted = SearchIndex.open(directory)
    recover_keyword(restarted)
    assert [restarted.products.get(p.id) is not None for p in BATCH] == [True, True, True]
    assert keyword_ids(restarted, towers, "quokka1")[0] == "crash-1"
    assert update_log.keyword_applied(directory) == update_log.last_seq(directory) == 3
    apply_updates(restarted, towers.product, upserts=[Product("after", "Wombat desk")])  # still writable
    assert SearchIndex.open(directory).products.get("after") is not None


def test_a_torn_batch_is_never_applied_and_the_next_write_repairs_the_log(small_root, towers):
    index = SearchIndex.open_current(small_root)
    apply_updates(index, towers.product, upserts=[BATCH[0]])
    vectors = towers.product.encode(["a", "b"])
    # What a writer killed in the middle of appending a two-change batch leaves: the first
    # line whole, the second cut.
    torn = [update_log.Change(2, "upsert", "torn-a", doc=index.products.next_doc, product=BATCH[1].to_dict(),
                              vector=update_log.pack_vector(vectors[0]), batch_end=3),
            update_log.Change(3, "upsert", "torn-b", doc=index.products.next_doc + 1, product=BATCH[2].to_dict(),
                              vector=update_log.pack_vector(vectors[1]), batch_end=3)]
    import dataclasses
    import json

    lines = [json.dumps(dataclasses.asdict(c)) + "\n" for c in torn]
    with open(index.directory / update_log.UPDATES_FILE, "a") as log:
        log.write(lines[0] + lines[1][: len(lines[1]) // 2])
    assert [c.seq for c, _ in update_log.read_entries(index.directory)] == [1]  # not half a batch
    restarted = SearchIndex.open(index.directory)
    recover_keyword(restarted)
    assert restarted.products.get("crash-1") is None
    summary = apply_updates(restarted, towers.product, upserts=[Product("next", "Wombat chair")])
    assert summary.added == ["next"]
    changes, _ = update_log.read(index.directory)  # every line parses: the torn tail was cut
    assert [c.product_id for c in changes] == ["crash-0", "next"] and changes[-1].seq == 2
    again = SearchIndex.open(index.directory)
    assert again.products.get("next") is not None and again.products.get("crash-1") is None


def test_a_publish_that_fails_leaves_the_index_as_it_was_and_writable(small_root, towers, monkeypatch):
    index = SearchIndex.open_current(small_root)
    before = index.snapshot()
    real = type(index.keyword).searcher
    failures = iter([OSError(24, "Too many open files")])

    def flaky(self):
        error = next(failures, None)
        if error:
            raise error
        return real(self)

    monkeypatch.setattr(type(index.keyword), "searcher", flaky)
    with pytest.raises(OSError):
        apply_updates(index, towers.product, upserts=[BATCH[0]])
    assert index.snapshot() is before  # nothing half-published
    apply_updates(index, towers.product, upserts=[BATCH[1]])  # the next write takes the logged one too
    assert index.products.get(BATCH[0].id) is not None and index.products.get(BATCH[1].id) is not None
    assert keyword_ids(index, towers, "quokka1")[0] == "crash-1"
    assert len(index.snapshot().vectors) == len(index.products) == len(before.products) + 2
