"""Admin endpoints and zero-downtime version switches, through the Flask app."""
import threading
import time

from pathlib import Path

import pytest

from api import create_app
from api.engine_holder import EXTENSION
from indexer.build import build_version
from indexer.search_index import SearchIndex
from search_engine.engine import Engine
from search_engine.settings import Settings
from search_engine.types import Query

pytestmark = pytest.mark.slow
TOKEN = "s3cret-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


def make_app(root, towers, **settings):
    engine = Engine(SearchIndex.open_current(root), towers)
    settings.setdefault("events_path", str(Path(root).parent / "events.sqlite3"))
    settings.setdefault("merchandising_path", str(Path(root).parent / "merchandising.sqlite3"))
    settings.setdefault("judgments_path", str(Path(root).parent / "judgments.sqlite3"))
    return create_app({"SETTINGS": Settings(index_root=str(root), **settings), "ENGINE": engine})


def test_admin_is_disabled_without_a_token_and_closed_without_the_right_one(small_root, towers):
    disabled = make_app(small_root, towers).test_client()
    response = disabled.get("/admin/status", headers=AUTH)
    assert response.status_code == 403 and "disabled" in response.get_json()["error"]["message"]
    client = make_app(small_root, towers, admin_token=TOKEN).test_client()
    assert client.get("/admin/status").status_code == 401
    assert client.get("/admin/status", headers={"Authorization": "Bearer wrong"}).status_code == 401
    assert client.get("/admin/status", headers={"Authorization": TOKEN}).status_code == 401
    assert client.get("/admin/status", headers=AUTH).status_code == 200


def test_admin_upsert_delete_and_status(small_root, towers, small_catalog):
    client = make_app(small_root, towers, admin_token=TOKEN).test_client()
    new = {"id": "new-1", "title": "Zorbix quantum espresso grinder", "brand": "Zorbix", "price": 89}
    response = client.post("/admin/products", json={"products": [new]}, headers=AUTH)
    assert response.status_code == 200 and response.get_json()["added"] == ["new-1"]
    hits = client.get("/search?q=zorbix+grinder&k=3").get_json()["results"]
    assert hits[0]["id"] == "new-1"
    assert client.get("/products/new-1").get_json()["brand"] == "Zorbix"

    victim = small_catalog[2].id
    assert client.delete(f"/admin/products/{victim}", headers=AUTH).get_json()["deleted"] == [victim]
    assert client.get(f"/products/{victim}").status_code == 404
    assert client.delete("/admin/products/nope", headers=AUTH).status_code == 404
    assert client.post("/admin/products/delete", json={"ids": [True]}, headers=AUTH).status_code == 400
    body = client.post("/admin/products/delete", json={"ids": ["new-1", "nope"]}, headers=AUTH).get_json()
    assert body["deleted"] == ["new-1"] and body["not_found"] == ["nope"]

    status = client.get("/admin/status", headers=AUTH).get_json()
    assert status["product_count"] == len(small_catalog) - 1
    assert status["logged_changes"] == status["applied_changes"] == 3

def test_an_id_with_slashes_reaches_every_product_endpoint(small_root, towers):
    """SKUs such as "HP/CF226X" are real; a route that stops at "/" made them unreachable."""
    client = make_app(small_root, towers, admin_token=TOKEN).test_client()
    sku = "HP/CF226X/bulk"
    new = {"id": sku, "title": "Zorbix toner cartridge black", "brand": "Zorbix", "price": 50}
    assert client.post("/admin/products", json={"products": [new]}, headers=AUTH).status_code == 200
    assert client.get(f"/products/{sku}").get_json()["id"] == sku
    similar = client.get(f"/products/{sku}/similar?k=3")
    assert similar.status_code == 200 and similar.get_json()["id"] == sku
    assert client.get(f"/products/{sku}/bought-together?k=3").status_code == 200
    assert client.get("/products/HP/CF226X").status_code == 404  # a prefix of the id is another id
    assert client.delete(f"/admin/products/{sku}", headers=AUTH).get_json()["deleted"] == [sku]
    assert client.get(f"/products/{sku}").status_code == 404
    # An id that starts with "/" is itself, not the id without it (no redirect to another product).
    for product_id in ("/lead", "lead"):
        client.post("/admin/products", json={"products": [{**new, "id": product_id}]}, headers=AUTH)
    assert client.get("/products//lead").get_json()["id"] == "/lead"
    assert client.get("/products//lead/similar").get_json()["id"] == "/lead"
    assert client.delete("/admin/products/%2Flead", headers=AUTH).get_json()["deleted"] == ["/lead"]
    assert client.get("/products/lead").status_code == 200



@pytest.mark.parametrize("body,fragment", [
    ({"products": [{"id": "x"}]}, "row 1 (id 'x'): title: missing"),
    ({"products": [{"id": "x", "title": "t", "price": "cheap"}]}, "price"),
    ({"products": []}, "must not be empty"),
    ({"items": []}, "list 'products'"),
    ({"products": [{"id": ["a", "b"], "title": "t"}]}, "row 1: id: expected text, got list"),
    ({"products": [{"id": "x", "title": {"t": 1}}]}, "title: expected text, got dict"),
    ({"products": [{"id": True, "title": "t"}]}, "id: expected text, got bool"),
    ({"products": [{"id": "x", "title": "t \ud800"}]}, "products[0].title: is not valid text"),
    ({"products": [{"id": "x", "title": "t", "colour": "red"}]}, "row 1 (id 'x'): colour: not a product field"),
    ('{"products": [{"id": "x", "title": "t"}', "the body is not valid JSON: Expecting"),  # cut short
])
def test_admin_upsert_rejects_bad_rows_and_changes_nothing(small_root, towers, body, fragment):
    client = make_app(small_root, towers, admin_token=TOKEN).test_client()
    before = client.get("/admin/status", headers=AUTH).get_json()["logged_changes"]
    sent = {"data": body, "content_type": "application/json"} if isinstance(body, str) else {"json": body}
    response = client.post("/admin/products", headers=AUTH, **sent)
    assert response.status_code == 400 and fragment in response.get_json()["error"]["message"]
    assert client.get("/admin/status", headers=AUTH).get_json()["logged_changes"] == before


def test_a_json_body_needs_no_json_content_type(small_root, towers):
    """A JSON body sent as a form (curl -d) is read as JSON."""
    client = make_app(small_root, towers, admin_token=TOKEN).test_client()
    body = '{"products": [{"id": "form-1", "title": "Enamel mug", "attributes": {"size": "L"}}]}'
    response = client.post("/admin/products", data=body, content_type="application/x-www-form-urlencoded",
                           headers=AUTH)
    assert response.status_code == 200, response.get_json()
    assert client.get("/products/form-1").get_json()["attributes"] == {"size": "L"}


def test_searches_never_fail_while_a_new_version_is_switched_in(small_root, towers, small_catalog):
    app = make_app(small_root, towers, reload_interval_s=0)
    old_version = SearchIndex.open_current(small_root).version
    errors, seen = [], []
    stop = threading.Event()

    def shop():
        client = app.test_client()
        while not stop.is_set():
            response = client.get("/search?q=usb+hub&k=5")
            if response.status_code != 200:
                errors.append(response.status_code)
            else:
                seen.append(response.get_json()["index_version"])

    shopper = threading.Thread(target=shop)
    shopper.start()
    try:
        new_version = build_version(small_catalog[:45], towers.product, small_root).name
        deadline = time.monotonic() + 60
        while (not seen or seen[-1] != new_version) and time.monotonic() < deadline:
            time.sleep(0.05)
        switched_at = len(seen)
        time.sleep(0.5)
    finally:
        stop.set()
        shopper.join()
    assert errors == []
    assert seen[0] == old_version and seen[-1] == new_version
    assert all(v == new_version for v in seen[switched_at:])
    assert app.test_client().get("/health").get_json()["product_count"] == 45


def test_admin_reload_switches_at_once(small_root, towers, small_catalog):
    from indexer.spelling import SpellingDictionary

    client = make_app(small_root, towers, admin_token=TOKEN, reload_interval_s=3600).test_client()
    words_before = client.application.extensions[EXTENSION].get().spelling.get()
    new_version = build_version(small_catalog[:50], towers.product, small_root).name
    assert client.get("/health").get_json()["index_version"] != new_version
    assert client.post("/admin/reload", headers=AUTH).get_json() == {"version": new_version, "product_count": 50}
    assert client.get("/health").get_json()["index_version"] == new_version
    # The new version corrects with its own words: those only the products it dropped held are gone.
    words_after = client.application.extensions[EXTENSION].get().spelling.get()
    kept = SpellingDictionary.build(small_catalog[:50])
    gone = [w for w in words_before.products_per_word if not kept.products(w)]
    assert gone and not any(words_after.products(w) for w in gone)


def test_a_version_built_with_another_product_tower_is_refused_and_the_old_keeps_serving(
        small_root, towers, small_catalog, monkeypatch):
    client = make_app(small_root, towers, admin_token=TOKEN, reload_interval_s=3600).test_client()
    serving = client.get("/health").get_json()["index_version"]
    with monkeypatch.context() as patched:
        patched.setattr(type(towers.product), "fingerprint", property(lambda self: "f" * 16))
        build_version(small_catalog[:50], towers.product, small_root)
    response = client.post("/admin/reload", headers=AUTH)
    assert response.status_code == 409
    assert "product tower" in response.get_json()["error"]["message"]
    assert client.get("/health").get_json()["index_version"] == serving
    assert client.get("/search?q=usb").status_code == 200


def test_a_version_that_cannot_be_served_is_refused_once_and_remembered(small_root, towers, small_catalog,
                                                                        monkeypatch):
    from search_engine.live import LiveEngine

    opened = []

    def open_index(directory):
        opened.append(Path(directory).name)
        return SearchIndex.open(directory)

    serving = Engine(SearchIndex.open_current(small_root), towers)
    live = LiveEngine(serving, small_root, open_index=open_index, follow=False)
    with monkeypatch.context() as patched:
        patched.setattr(type(towers.product), "fingerprint", property(lambda self: "f" * 16))
        other_tower = build_version(small_catalog[:50], towers.product, small_root).name
    for _ in range(3):  # what the follower does every interval
        live.check()
    assert opened == [other_tower] and "product tower" in live.refused[other_tower]
    assert live.get().index.version == serving.index.version
    good = build_version(small_catalog[:45], towers.product, small_root).name
    live.check()
    assert live.get().index.version == good and opened == [other_tower, good]


def test_a_write_acknowledged_by_another_process_is_seen_by_the_next_search(small_root, towers):
    """Read-your-writes across processes: the server's follower checks only once an hour
    here, so only the search's own check (wake the follower, wait for it) can show the write."""
    from indexer.incremental import apply_updates_to_current
    from indexer.schema import Product
    from search_engine.live import LiveEngine

    live = LiveEngine(Engine(SearchIndex.open_current(small_root), towers), small_root, check_interval_s=3600)
    try:
        for n in range(3):
            # A separate SearchIndex: another process's memory (the CLI's, say).
            apply_updates_to_current(small_root, towers.product, upserts=[Product(f"w{n}", f"Quokka{n} lamp")])
            hits = live.get().search(Query(f"quokka{n}", mode="keyword", k=1)).hits
            assert [h.product.id for h in hits] == [f"w{n}"]
    finally:
        live.stop()


def test_searches_do_not_wait_while_current_names_a_refused_version(small_root, towers, small_catalog, monkeypatch):
    """A write committed to the serving version just before CURRENT moved to a version this
    server refuses: the follower still replays the serving version, so searches stop waiting."""
    from indexer.incremental import apply_updates
    from indexer.schema import Product
    from search_engine.live import LiveEngine

    serving = Engine(SearchIndex.open_current(small_root), towers)
    live = LiveEngine(serving, small_root, check_interval_s=3600)
    try:
        other = SearchIndex.open_current(small_root)  # another process's writer
        with monkeypatch.context() as patched:
            patched.setattr(type(towers.product), "fingerprint", property(lambda self: "f" * 16))
            build_version(small_catalog[:50], towers.product, small_root)
        apply_updates(other, towers.product, upserts=[Product("late", "Quokka late lamp")])
        assert live.get().index.products.get("late") is not None  # read-your-writes on the old version
        deadline = time.monotonic() + 60
        while not live.refused and time.monotonic() < deadline:  # the follower tries the new one
            time.sleep(0.05)
        assert len(live.refused) == 1
        timings = []
        for _ in range(5):
            started = time.monotonic()
            engine = live.get()
            timings.append(time.monotonic() - started)
        assert engine.index.version == serving.index.version and max(timings) < 0.5
    finally:
        live.stop()


def test_a_version_switched_away_is_freed_although_its_objects_were_frozen(small_root, towers, small_catalog):
    """The server freezes a loaded version's objects out of the collector's walks
    (search_engine/long_lived.py); the check after a switch unfreezes and collects, so the old
    version's reference cycles do not outlive it."""
    import weakref

    from search_engine import long_lived
    from search_engine.live import LiveEngine

    serving = Engine(SearchIndex.open_current(small_root), towers)
    serving.search(Query("usb", k=5))
    old_index = weakref.ref(serving.index)
    long_lived.settle()  # as open_engine leaves a served version
    live = LiveEngine(serving, small_root, follow=False)
    del serving
    new_version = build_version(small_catalog[:50], towers.product, small_root).name
    live.check()  # switches
    assert live.get().index.version == new_version
    live.check()  # the next check, as the follower makes every interval
    assert old_index() is None

    # A search still under way on the old version at that check holds it: a later check frees it.
    held = live.get()
    second = weakref.ref(held.index)
    build_version(small_catalog[:40], towers.product, small_root)
    live.check()  # switches
    live.check()
    assert second() is not None
    del held
    live.check()
    assert second() is None
