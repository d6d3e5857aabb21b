"""Live updates under load, through a real server (gunicorn, 2 workers of 4 threads, so a
write lands in one process and searches run in both): searches of every kind never fail,
never show a deleted product, see every acknowledged write, and an acknowledged write
survives kill -9 of the server."""
import itertools
import os
import random
import shutil
import signal
import threading
import time

import pytest
import requests

from tests.servers import running_server, store_settings

pytestmark = pytest.mark.slow
TOKEN = "stress-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


def token(n: int) -> str:
    """A word no catalog product has, so a keyword search for it finds exactly that product."""
    return f"zqx{n:05d}"


def new_product(n: int, brand: str = "Stressco") -> dict:
    return {"id": f"stress-{n}", "title": f"{token(n)} Stressco test widget", "brand": brand,
            "category": "widget", "price": 10.0 + n % 50, "description": "a product written during the test"}


@pytest.fixture
def served_copy(slice_index_root, tmp_path):
    """A writable copy of the slice index: the test's writes must not reach other tests."""
    root = tmp_path / "index"
    shutil.copytree(slice_index_root, root)
    return root


def test_searches_of_every_kind_stay_correct_while_the_catalog_changes(served_copy, tmp_path, slice_products,
                                                                        preference_model_root, hand_log):
    from search_engine.event_store import EventStore
    from search_engine.events import read_jsonl_events

    brand_counts = {}
    for p in slice_products:
        brand_counts[p.brand] = brand_counts.get(p.brand, 0) + 1
    top_brand = max(brand_counts, key=brand_counts.get)
    assert brand_counts[top_brand] >= 10
    # Originals the writer deletes: never of the filtered brand, so its pages stay full.
    doomed_originals = [p.id for p in slice_products if p.brand != top_brand][:6]
    stable = [p.id for p in slice_products if p.brand == top_brand][:5]
    # The products of the filtered brand change under the filtered searches (re-priced, so
    # each gets a new doc and its old one dies), and all of them stay in the catalog.
    repriced = [p.to_dict() for p in slice_products if p.brand == top_brand]
    env = {**store_settings(tmp_path), "SEARCH_ADMIN_TOKEN": TOKEN,
           "SEARCH_RERANKER_PATH": str(preference_model_root), "SEARCH_RELOAD_INTERVAL_S": "5"}
    EventStore(env["SEARCH_EVENTS_PATH"]).add(read_jsonl_events(hand_log))  # "fan" has a history
    deleted_at: dict[str, float] = {}  # product id -> when its delete was acknowledged
    problems: list[str] = []
    counts = {"search": 0, "filtered": 0, "faceted": 0, "similar": 0, "personal": 0, "suggest": 0, "writes": 0}
    searches_sent = itertools.count(1)  # every /search request, for the metrics summed over both workers
    stop = threading.Event()

    with running_server(served_copy, env, workers=2) as (base, _):
        def check_page(kind, started, response, k):
            if response.status_code != 200:
                problems.append(f"{kind}: HTTP {response.status_code} {response.text[:300]}")
                return None
            body = response.json()
            if kind == "suggest":  # completions that find products, of what was typed
                if not body["suggestions"] or any(not s["text"] for s in body["suggestions"]):
                    problems.append(f"suggest: {body['q']!r} got {body['suggestions']}")
                return body
            ids = [hit["id"] for hit in body["results"]]
            expected = min(k, body["total"]) if "total" in body else k  # a search's page is full up to its total
            if len(ids) != expected or len(set(ids)) != len(ids):
                problems.append(f"{kind}: a page of {len(ids)} (distinct {len(set(ids))}), expected {expected}")
            back = [i for i in ids if deleted_at.get(i, float("inf")) < started]
            if back:
                problems.append(f"{kind}: deleted products came back: {back}")
            if kind == "faceted":  # facets count the same snapshot's matched set as total does
                price = body["facets"]["price"]
                if sum(b["count"] for b in price["buckets"]) + price["missing"] != body["total"]:
                    problems.append(f"faceted: price buckets {price} do not add up to total {body['total']}")
            if kind == "personal" and not body.get("personalized_by"):
                problems.append("personal: the shopper's results were not personalized")
            return body

        def shopper(kind, request):
            session = requests.Session()
            rng = random.Random(kind)
            while not stop.is_set():
                started = time.monotonic()
                path, params, k = request(rng)
                if path == "/search":
                    next(searches_sent)
                check_page(kind, started, session.get(base + path, params=params, timeout=30), k)
                counts[kind] += 1

        queries = ["usb hub", "wireless mouse", "backpack", "hdmi cable", "battery", "widget", "stressco",
                   "wireles mouse", "usbhub"]  # misspelt: corrected while the catalog changes
        kinds = {
            "search": lambda rng: ("/search", {"q": rng.choice(queries), "k": 10}, 10),
            "filtered": lambda rng: ("/search", {"q": rng.choice(queries), "k": 10, "brand": top_brand,
                                                  "price_min": 0 if rng.random() < 0.5 else None}, 10),
            "faceted": lambda rng: ("/search", {"q": rng.choice(queries), "k": 10, "sort": "price_asc",
                                                 "facets": "brand,price,attr.product_colour"}, 10),
            "similar": lambda rng: (f"/products/{rng.choice(stable)}/similar", {"k": 5}, 5),
            "personal": lambda rng: ("/search", {"q": "hdmi cable", "k": 10, "user": "fan"}, 10),
            "suggest": lambda rng: ("/suggest", {"q": rng.choice(["usb h", "wirel", "hdmi c", "backp", "wireles mou"])},
                                    5),
        }
        shoppers = [threading.Thread(target=shopper, args=item) for item in kinds.items()]
        for thread in shoppers:
            thread.start()
        try:
            session, rng = requests.Session(), random.Random(11)
            deadline = time.monotonic() + 6
            n = 0
            while time.monotonic() < deadline and counts["writes"] < 25:
                batch = [new_product(n + i) for i in range(5)]
                n += 5
                for original in rng.sample(repriced, 2):
                    batch.append({**original, "price": round(rng.uniform(1, 100), 2)})
                response = session.post(f"{base}/admin/products", json={"products": batch}, headers=AUTH, timeout=60)
                assert response.status_code == 200, response.text
                # Read-your-writes: the next search after the answer finds every product written,
                # in whichever worker answers (a new connection each: either worker may take it).
                for product in batch[:5]:
                    next(searches_sent)
                    found = requests.get(f"{base}/search", params={"q": token(int(product["id"][7:])),
                                                                  "mode": "keyword", "k": 3}, timeout=30).json()
                    if [h["id"] for h in found["results"]][:1] != [product["id"]]:
                        problems.append(f"write not visible after its answer: {product['id']}")
                victims = [f"stress-{n - 10 + i}" for i in (0, 2)] if n >= 10 else []
                if doomed_originals and counts["writes"] % 3 == 0:
                    victims.append(doomed_originals.pop())
                if victims:
                    response = session.post(f"{base}/admin/products/delete", json={"ids": victims}, headers=AUTH,
                                            timeout=60)
                    assert response.status_code == 200 and response.json()["deleted"] == victims, response.text
                    acknowledged = time.monotonic()
                    for victim in victims:
                        deleted_at[victim] = acknowledged
                        if requests.get(f"{base}/products/{victim}", timeout=30).status_code != 404:
                            problems.append(f"deleted product still served: {victim}")
                counts["writes"] += 1
        finally:
            stop.set()
            for thread in shoppers:
                thread.join(timeout=60)
        health = requests.get(f"{base}/health", timeout=30).json()
        # /metrics sums both workers' counters, whichever worker answers the scrape.
        sent = next(searches_sent) - 1
        scraped = {search_requests(requests.get(f"{base}/metrics", timeout=30).text) for _ in range(6)}
    assert scraped == {sent}, (scraped, sent)
    assert not problems, f"{len(problems)} problems, e.g.: " + "; ".join(sorted(set(problems))[:10])
    assert counts["writes"] >= 5 and all(counts[kind] >= 5 for kind in kinds), counts
    written = n
    assert health["product_count"] == len(slice_products) + written - len(deleted_at)


def search_requests(metrics_text: str) -> int:
    """The /search requests a Prometheus scrape counts, every status."""
    return int(sum(float(line.rsplit(" ", 1)[1]) for line in metrics_text.splitlines()
                   if line.startswith('search_http_requests_total{endpoint="/search"')))


def test_acknowledged_updates_survive_kill_9_in_the_middle_of_a_write_stream(served_copy, tmp_path, slice_products):
    env = {**store_settings(tmp_path), "SEARCH_ADMIN_TOKEN": TOKEN}
    acknowledged: list[str] = []
    with running_server(served_copy, env) as (base, process):
        session = requests.Session()
        for n in range(0, 30, 3):
            batch = [new_product(n + i) for i in range(3)]
            assert session.post(f"{base}/admin/products", json={"products": batch}, headers=AUTH,
                                timeout=60).status_code == 200
            acknowledged += [p["id"] for p in batch]

        def in_flight():  # the write the kill interrupts: it may or may not have landed
            try:
                requests.post(f"{base}/admin/products", json={"products": [new_product(n) for n in range(30, 33)]},
                              headers=AUTH, timeout=60)
            except requests.RequestException:
                pass

        writer = threading.Thread(target=in_flight)
        writer.start()
        time.sleep(0.02)
        os.killpg(process.pid, signal.SIGKILL)  # master and worker: no chance to flush anything
        process.wait(timeout=30)
        writer.join(timeout=60)

    with running_server(served_copy, env) as (base, _):
        for product_id in acknowledged:
            response = requests.get(f"{base}/products/{product_id}", timeout=30)
            assert response.status_code == 200, product_id
            n = int(product_id[7:])
            hits = requests.get(f"{base}/search", params={"q": token(n), "mode": "keyword", "k": 1}, timeout=30).json()
            assert [h["id"] for h in hits["results"]] == [product_id]
        landed = sum(requests.get(f"{base}/products/stress-{n}", timeout=30).status_code == 200 for n in range(30, 33))
        assert landed in (0, 3)  # a batch is all or nothing
        count = requests.get(f"{base}/health", timeout=30).json()["product_count"]
    assert count == len(slice_products) + len(acknowledged) + landed
