"""The workbench's login, JSON endpoints and the pieces behind them (rank diffs, staged
versions, evaluation from the page = search-evaluate)."""
import csv
import io
from dataclasses import replace

import pytest

from search_engine.evaluation import Configuration, evaluate, query_changes, unjudged_pool
from search_engine.rank_diff import rank_changes

TOKEN = "test-token"
BEARER = {"Authorization": f"Bearer {TOKEN}"}
HYBRID = {"mode": "hybrid", "fusion": "linear", "dense_weight": 0.4}
KEYWORD = {"mode": "keyword"}


def log_in(client) -> str:
    response = client.post("/workbench/login", data={"token": TOKEN})
    assert response.status_code == 303
    page = client.get("/workbench").get_data(as_text=True)
    return page.split('name="csrf-token" content="')[1].split('"')[0]


def test_rank_changes_say_up_down_new_and_dropped():
    changes = {c.product_id: c for c in rank_changes(["a", "b", "c", "d"], ["c", "a", "e", "b"])}
    assert (changes["c"].status, changes["c"].moved) == ("up", 2)
    assert (changes["a"].status, changes["a"].moved) == ("down", -1)
    assert changes["b"].status == "down" and changes["e"].status == "new" and changes["e"].before is None
    assert changes["d"].status == "dropped" and changes["d"].after is None
    assert [c.status for c in rank_changes(["x"], ["x"])] == ["same"]


def test_the_page_needs_a_login_and_the_token(client):
    assert client.get("/workbench").status_code == 401
    assert b'name="token"' in client.get("/workbench").data
    wrong = client.post("/workbench/login", data={"token": "nope"})
    assert wrong.status_code == 401 and b"not the admin token" in wrong.data
    assert client.get("/workbench/api/options").status_code == 401
    log_in(client)
    page = client.get("/workbench")
    assert page.status_code == 200 and b'id="compare"' in page.data
    assert b"https://" not in page.data and b"http://" not in page.data.replace(b"http://www.w3.org", b"")
    assert client.get("/workbench/static/workbench.js").status_code == 200
    client.post("/workbench/logout")
    assert client.get("/workbench").status_code == 401


def test_a_shared_link_comes_back_after_the_login_and_never_leads_elsewhere(client):
    link = "/workbench?q=usb+hub&b.mode=dense"
    login = client.get(link)
    assert login.status_code == 401 and b'value="/workbench?q=usb+hub&amp;b.mode=dense"' in login.data
    back = client.post("/workbench/login", data={"token": TOKEN, "next": link})
    assert back.status_code == 303 and back.headers["Location"] == link
    client.post("/workbench/logout")
    away = client.post("/workbench/login", data={"token": TOKEN, "next": "https://evil.example/workbench?q=x"})
    assert away.headers["Location"] == "/workbench"
    client.post("/workbench/logout")
    broken = client.post("/workbench/login", data={"token": TOKEN, "next": "/workbench?q=x\r\nSet-Cookie: a=1"})
    assert broken.status_code == 303 and broken.headers["Location"] == "/workbench"


def test_the_page_is_disabled_without_an_admin_token(engine, slice_index_root, tmp_path):
    from api import create_app
    from search_engine.settings import Settings

    settings = Settings(index_root=str(slice_index_root), events_path=str(tmp_path / "e.sqlite3"),
                        merchandising_path=str(tmp_path / "m.sqlite3"), judgments_path=str(tmp_path / "j.sqlite3"))
    client = create_app({"SETTINGS": settings, "ENGINE": engine, "TESTING": True}).test_client()
    assert client.get("/workbench").status_code == 403
    assert client.post("/workbench/login", data={"token": ""}).status_code == 403
    assert client.get("/workbench/api/options").status_code == 403


def test_a_logged_in_browser_must_send_the_csrf_token_to_change_anything(client):
    csrf = log_in(client)
    assert client.get("/admin/rules").status_code == 200  # reading needs only the cookie
    rule = {"query": "usb hub", "action": "bury", "brand": "Belkin"}
    refused = client.post("/admin/rules", json=rule)
    assert refused.status_code == 403 and refused.get_json()["error"]["parameter"] == "X-CSRF-Token"
    assert client.get("/admin/rules").get_json()["rules"] == []
    assert client.post("/admin/rules", json=rule, headers={"X-CSRF-Token": csrf + "x"}).status_code == 403
    assert client.post("/admin/rules", json=rule, headers={"X-CSRF-Token": csrf}).status_code == 201
    wrong_bearer = client.get("/admin/rules", headers={"Authorization": "Bearer wrong"})
    assert wrong_bearer.status_code == 401  # a bad header is refused even with a good cookie


def test_compare_returns_both_rankings_with_stage_scores_and_the_changes(client):
    body = client.post("/workbench/api/compare", headers=BEARER,
                       json={"q": "wireless mouse", "k": 10, "a": HYBRID, "b": KEYWORD}).get_json()
    a, b = body["a"]["results"], body["b"]["results"]
    assert len(a) == len(b) == 10 and body["a"]["mode"] == "hybrid" and body["b"]["mode"] == "keyword"
    assert all(set(hit["explain"]) >= {"dense", "keyword", "fused"} for hit in a)
    assert all(hit["explain"]["dense"]["score"] is None for hit in b)  # keyword mode has no dense leg
    a_at = {hit["id"]: hit["rank"] for hit in a}
    for change in body["changes"]:
        assert change["a"] == a_at.get(change["id"])
        if change["status"] == "up":
            assert change["b"] < change["a"] and change["moved"] == change["a"] - change["b"]
        if change["status"] == "new":
            assert change["id"] not in a_at
    assert {c["id"] for c in body["changes"] if c["status"] == "dropped"} == set(a_at) - {h["id"] for h in b}


def test_compare_applies_the_filters_to_both_sides(client):
    body = client.post("/workbench/api/compare", headers=BEARER,
                       json={"q": "wireless mouse", "k": 20, "brand": "Logitech", "price_max": 80,
                             "a": HYBRID, "b": {"mode": "dense"}}).get_json()
    for side in ("a", "b"):
        assert body[side]["results"]
        assert all(h["brand"] == "Logitech" and h["price"] <= 80 for h in body[side]["results"])


def test_compare_counts_facets_and_filters_by_attribute_and_sorts(client):
    body = client.post("/workbench/api/compare", headers=BEARER,
                       json={"q": "wireless mouse", "k": 10, "attr": {"connectivity_technology": ["Wireless"]},
                             "sort": "price_asc", "a": HYBRID, "b": KEYWORD}).get_json()
    for side in ("a", "b"):
        facets = body[side]["facets"]
        assert {"brand", "category", "price", "attr.product_colour"} <= set(facets)
        connectivity = {v["value"]: v["count"] for v in facets["attr.connectivity_technology"]["values"]}
        assert connectivity.get("Wireless") == body[side]["total"]  # its own selection is not applied to it
        prices = [h["price"] for h in body[side]["results"]]
        assert prices == sorted(prices)
    options = client.get("/workbench/api/options", headers=BEARER).get_json()
    assert "attr.product_colour" in options["facets"] and "attr.weight_desc" in options["sorts"]


def test_a_side_whose_version_lacks_an_attribute_leaves_its_filter_out_and_says_so(client, engine):
    from api.workbench_api import for_attributes
    from indexer.attributes import AttributeConfig
    from indexer.filters import Filters
    from search_engine.types import Query

    query = Query("mouse", sort="attr.weight_asc", filters=Filters(
        attributes=(("product_colour", ("black",)),), ranges=(("weight", None, 100.0),)))
    older, ignored = for_attributes(query, AttributeConfig())
    assert ignored == ["attr.product_colour", "attr.weight_max", "sort"]
    assert older.filters == Filters() and older.sort == "relevance" and older.facets.names == ("brand", "category",
                                                                                               "price")
    same, ignored = for_attributes(query, engine.index.products.attributes)
    assert ignored == [] and same.filters == query.filters and "attr.product_colour" in same.facets.names


@pytest.mark.parametrize("change, parameter", [
    ({"q": ""}, "q"),
    ({"attr": {"nothing": ["x"]}}, "attr.nothing"),
    ({"sort": "cheapest"}, "sort"),
    ({"k": 0}, "k"),
    ({"price_min": "cheap"}, "price_min"),
    ({"b": {"mode": "semantic"}}, "b.mode"),
    ({"a": {"fusion": "linear", "dense_weight": 2}}, "a.dense_weight"),
    ({"a": {"mode": "hybrid", "colour": "red"}}, "a.colour"),
    ({"b": {"version": "v1999"}}, "b.version"),
])
def test_bad_compare_requests_name_the_field(client, change, parameter):
    request = {"q": "hdmi cable", "a": HYBRID, "b": KEYWORD, **change}
    response = client.post("/workbench/api/compare", headers=BEARER, json=request)
    assert response.status_code == 400
    assert response.get_json()["error"]["parameter"] == parameter


def test_marks_are_stored_listed_and_shown_with_the_results(client):
    first = client.post("/workbench/api/compare", headers=BEARER,
                        json={"q": "hdmi cable", "a": HYBRID, "b": KEYWORD}).get_json()["a"]["results"][0]["id"]
    marked = client.post("/workbench/api/judgments", headers=BEARER,
                         json={"query": "HDMI  cable", "product_id": first, "rating": 3})
    assert marked.status_code == 200
    listed = client.get("/workbench/api/judgments?query=hdmi cable", headers=BEARER).get_json()
    assert listed["judgments"] == {first: 3}
    again = client.post("/workbench/api/compare", headers=BEARER, json={"q": "hdmi cable", "a": HYBRID, "b": KEYWORD})
    assert again.get_json()["judgments"] == {first: 3}
    assert list(again.get_json()["judged_titles"]) == [first]
    for bad, parameter in (({"rating": 4}, "rating"), ({"rating": "3"}, "rating"), ({"product_id": "nope"}, "product_id"),
                           ({"query": " "}, "query"), ({"version": "v1999"}, "version")):
        response = client.post("/workbench/api/judgments", headers=BEARER,
                               json={"query": "hdmi cable", "product_id": first, "rating": 1, **bad})
        assert response.status_code == 400 and response.get_json()["error"]["parameter"] == parameter
    assert client.get("/workbench/api/judgments?query=hdmi cable", headers=BEARER).get_json()["judgments"] == {first: 3}
    assert client.delete("/workbench/api/judgments", headers=BEARER,
                         json={"query": "hdmi cable", "product_id": first}).status_code == 200
    assert client.get("/workbench/api/judgments", headers=BEARER).get_json()["total"] == 0


def test_judgments_round_trip_through_csv_in_the_icecat_format(client, judgments):
    rows = [("wireless mouse", pid, int(g)) for pid, g in list(judgments["wireless mouse"].items())[:5]]
    upload = "query,docid,rating\n" + "".join(f"{q},{p},{g}\n" for q, p, g in rows)
    imported = client.post("/workbench/api/judgments.csv", headers=BEARER,
                           data={"file": (io.BytesIO(upload.encode()), "marks.csv")})
    assert imported.status_code == 200 and imported.get_json()["imported"] == 5
    assert imported.get_json()["unknown_product_count"] == 0
    exported = client.get("/workbench/api/judgments.csv", headers=BEARER)
    assert exported.mimetype == "text/csv"
    table = list(csv.reader(io.StringIO(exported.get_data(as_text=True))))
    assert table[0] == ["query", "docid", "rating"]
    assert sorted(tuple(r) for r in table[1:]) == sorted((q, p, str(g)) for q, p, g in rows)


def test_judgments_of_products_not_in_the_catalog_are_kept_and_reported(client, judgments):
    known = next(iter(judgments["usb hub"]))
    upload = f"query,docid,rating\nusb hub,{known},3\nusb hub,0{known},2\nusb hub,gone-1,0\n"
    body = client.post("/workbench/api/judgments.csv", headers=BEARER, data=upload, content_type="text/csv").get_json()
    assert body["imported"] == 3
    assert body["unknown_product_count"] == 2 and body["unknown_products"] == sorted([f"0{known}", "gone-1"])
    unknown_version = client.post("/workbench/api/judgments.csv?version=v1999", headers=BEARER, data=upload,
                                  content_type="text/csv")
    assert unknown_version.status_code == 400 and unknown_version.get_json()["error"]["parameter"] == "version"


def test_a_bad_csv_imports_nothing_and_names_the_row(client):
    bad = "query,docid,rating\nusb hub,123,2\nusb hub,456,seven\n"
    response = client.post("/workbench/api/judgments.csv", headers=BEARER, data=bad, content_type="text/csv")
    assert response.status_code == 400
    assert "row 2" in response.get_json()["error"]["message"]
    assert client.get("/workbench/api/judgments", headers=BEARER).get_json()["total"] == 0
    missing = client.post("/workbench/api/judgments.csv", headers=BEARER, data="q,doc\nx,y\n", content_type="text/csv")
    assert missing.status_code == 400 and "missing column" in missing.get_json()["error"]["message"]


def test_evaluation_on_the_page_is_search_evaluate(client, app, engine, judgments):
    assert client.post("/workbench/api/evaluate", headers=BEARER,
                       json={"configurations": [HYBRID]}).get_json()["error"]["parameter"] == "judgments"
    queries = ("wireless mouse", "hdmi cable", "backpack", "usb hub")
    # Half of each query's judgments, so that the top 10s hold products nobody judged.
    subset = {q: dict(list(judgments[q].items())[::2]) for q in queries}
    upload = "query,docid,rating\n" + "".join(f"{q},{p},{int(g)}\n" for q, grades in subset.items()
                                              for p, g in grades.items())
    client.post("/workbench/api/judgments.csv", headers=BEARER, data=upload, content_type="text/csv")
    body = client.post("/workbench/api/evaluate", headers=BEARER, json={"configurations": [
        {"name": "A", **HYBRID}, {"name": "B", **KEYWORD}, "dense"]}).get_json()
    assert body["queries"] == 4 and [row["name"] for row in body["table"]] == ["A", "B", "dense"]
    expected = evaluate(replace(engine, rules=app.extensions["rule_store"].rules), subset, [
        Configuration("A", **HYBRID), Configuration("B", **KEYWORD), Configuration.parse("dense")])
    for row, result in zip(body["table"], expected):
        assert row["ndcg@10"] == pytest.approx(result.summary()["ndcg@10"])
        assert row["mrr"] == pytest.approx(result.summary()["mrr"])
        assert row["judged_ndcg@10"] == pytest.approx(result.summary()["judged_ndcg@10"])
        assert row["judged@10"] == pytest.approx(result.summary()["judged@10"]) and 0 < row["judged@10"] <= 1
    pool = unjudged_pool(expected, subset)
    assert body["unjudged"] and {(r["query"], r["product_id"]): r["found_by"] for r in body["unjudged"]} == {
        (q, pid): names for q, found in pool.items() for pid, names in found.items()}
    assert all(r["product_id"] not in subset[r["query"]] and r["title"] == engine.index.products.get(r["product_id"]).title
               for r in body["unjudged"])
    changes = query_changes(expected[0], expected[1])
    assert [r["query"] for r in body["per_query"]] == [c.query for c in changes]
    assert all(r["delta"] > 0 for r in body["better"]) and all(r["delta"] < 0 for r in body["worse"])
    assert len(body["better"]) + len(body["worse"]) == sum(1 for c in changes if c.delta != 0)


def test_evaluation_rejects_unknown_configurations(client):
    client.post("/workbench/api/judgments.csv", headers=BEARER, data="query,docid,rating\nx,y,1\n",
                content_type="text/csv")
    response = client.post("/workbench/api/evaluate", headers=BEARER, json={"configurations": ["hybrid-magic"]})
    assert response.status_code == 400 and response.get_json()["error"]["parameter"] == "configurations[0]"


def test_rules_can_be_edited_in_place(client):
    rule = client.post("/admin/rules", headers=BEARER, json={"query": "usb hub", "action": "bury", "brand": "Belkin"})
    rule_id = rule.get_json()["id"]
    edited = client.put(f"/admin/rules/{rule_id}", headers=BEARER,
                        json={"query": "usb hub", "action": "boost", "brand": "Belkin", "match": "contains"})
    assert edited.status_code == 200 and edited.get_json() == {**edited.get_json(), "id": rule_id, "action": "boost"}
    rules = client.get("/admin/rules", headers=BEARER).get_json()["rules"]
    assert [(r["id"], r["action"], r["match"]) for r in rules] == [(rule_id, "boost", "contains")]
    bad = client.put(f"/admin/rules/{rule_id}", headers=BEARER, json={"query": "usb hub", "action": "boost"})
    assert bad.status_code == 400 and client.get("/admin/rules", headers=BEARER).get_json()["rules"] == rules
    assert client.put("/admin/rules/999", headers=BEARER, json={"query": "x", "action": "bury", "brand": "HP"}).status_code == 404


def test_a_staged_version_is_compared_beside_the_serving_one(tmp_path, small_root, small_catalog, towers):
    """search-reindex full --no-switch stages a version; the workbench searches it without serving it."""
    from api import create_app
    from indexer import versions
    from indexer.build import build_version
    from indexer.search_index import SearchIndex
    from search_engine.engine import Engine
    from search_engine.settings import Settings
    from scripts.reindex import main as reindex

    serving = versions.current_version(small_root)
    staged = build_version(small_catalog[:40], towers.product, small_root, serve=False,
                           embedding_cache=tmp_path / "cache").name
    assert versions.current_version(small_root) == serving and staged in versions.list_versions(small_root)
    settings = Settings(index_root=str(small_root), events_path=str(tmp_path / "e.sqlite3"),
                        merchandising_path=str(tmp_path / "m.sqlite3"), judgments_path=str(tmp_path / "j.sqlite3"),
                        admin_token=TOKEN)
    engine = Engine(SearchIndex.open_current(small_root), towers)
    client = create_app({"SETTINGS": settings, "ENGINE": engine, "TESTING": True}).test_client()
    listed = client.get("/workbench/api/options", headers=BEARER).get_json()["versions"]
    assert [(v["version"], v["serving"], v["products"]) for v in listed] == [(staged, False, 40), (serving, True, 60)]
    body = client.post("/workbench/api/compare", headers=BEARER, json={
        "q": "wireless mouse", "k": 100, "a": HYBRID, "b": {**HYBRID, "version": staged}}).get_json()
    assert body["a"]["index_version"] == serving and body["b"]["index_version"] == staged
    staged_ids = {p.id for p in small_catalog[:40]}
    assert {h["id"] for h in body["b"]["results"]} <= staged_ids < {h["id"] for h in body["a"]["results"]} | staged_ids
    only_serving = small_catalog[50].id  # judged on the serving version: the staged one lacks it
    upload = f"query,docid,rating\nwireless mouse,{small_catalog[0].id},3\nwireless mouse,{only_serving},1\n"
    for version, unknown in ((None, []), (staged, [only_serving])):
        imported = client.post("/workbench/api/judgments.csv", headers=BEARER, data=upload, content_type="text/csv",
                               query_string={"version": version} if version else {}).get_json()
        assert imported["imported"] == 2 and imported["unknown_products"] == unknown
    assert reindex(["switch", staged, "--index", str(small_root)]) == 0
    assert versions.current_version(small_root) == staged


def test_search_evaluate_lists_better_and_worse_queries_for_two_configurations(
        slice_index_root, judgments, tmp_path, capsys, monkeypatch):
    from scripts.evaluate import main as search_evaluate

    monkeypatch.setenv("SEARCH_ENCODER_BACKEND", "torch")
    monkeypatch.setenv("SEARCH_MERCHANDISING_PATH", str(tmp_path / "m.sqlite3"))
    path = tmp_path / "judgments.csv"
    path.write_text("query,docid,rating\n" + "".join(
        f"{q},{p},{int(g)}\n" for q in ("wireless mouse", "usb hub", "backpack") for p, g in judgments[q].items()))
    assert search_evaluate(["--index", str(slice_index_root), "--judgments", str(path),
                            "--config", "hybrid-linear:0.4", "--config", "keyword"]) == 0
    out = capsys.readouterr().out
    assert "hybrid-linear:0.4" in out and "better with keyword against hybrid-linear:0.4:" in out
    assert "worse with keyword against hybrid-linear:0.4:" in out


def test_search_evaluate_writes_the_unjudged_top_10_to_grade_and_reads_it_back_graded(
        slice_index_root, judgments, tmp_path, capsys, monkeypatch):
    import csv

    from scripts.evaluate import main as search_evaluate
    from search_engine.judgments import load_judgments

    monkeypatch.setenv("SEARCH_ENCODER_BACKEND", "torch")
    monkeypatch.setenv("SEARCH_MERCHANDISING_PATH", str(tmp_path / "m.sqlite3"))
    path, pool = tmp_path / "judgments.csv", tmp_path / "to-judge.csv"
    # half of each query's judgments: the other half is what the top 10 finds unjudged
    kept = {q: dict(list(judgments[q].items())[::2]) for q in ("wireless mouse", "usb hub")}
    path.write_text("query,docid,rating\n" + "".join(f"{q},{p},{int(g)}\n" for q, grades in kept.items()
                                                     for p, g in grades.items()))
    assert search_evaluate(["--index", str(slice_index_root), "--judgments", str(path),
                            "--config", "keyword", "--config", "dense", "--unjudged", str(pool)]) == 0
    rows = list(csv.DictReader(pool.open()))
    assert f"wrote {len(rows)} unjudged products" in capsys.readouterr().out
    assert rows and {r["query"] for r in rows} <= set(kept)
    assert all(r["docid"] not in kept[r["query"]] and r["rating"] == "" and r["title"] for r in rows)
    assert {name for r in rows for name in r["found_by"].split()} <= {"keyword", "dense"}
    assert len({(r["query"], r["docid"]) for r in rows}) == len(rows)  # found by both: one row
    assert any(r["docid"] in judgments[r["query"]] for r in rows)  # a product the half left out came back
    with pytest.raises(ValueError, match="row 1: .* has no rating; grade it 0-3"):
        load_judgments(pool)
    graded = tmp_path / "graded.csv"
    with graded.open("w", newline="") as out:
        writer = csv.DictWriter(out, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows({**r, "rating": "2"} for r in rows)
    assert sum(map(len, load_judgments(graded).values())) == len(rows)


def test_a_version_built_with_another_tower_is_searched_with_that_tower(tmp_path, small_root, small_catalog, towers):
    """The comparison a fine-tuning run needs: the staged version's own tower embeds the query."""
    import torch

    from encoders.towers import TextEncoder
    from indexer import versions
    from indexer.build import build_version
    from indexer.search_index import SearchIndex
    from search_engine.engine import Engine
    from search_engine.version_engines import VersionEngines

    changed = tmp_path / "changed-tower"
    model = towers.product.model
    with torch.no_grad():  # a stand-in for a fine-tuned tower: other weights, same architecture
        first = next(model.parameters())
        original = first.clone()
        first.add_(0.01)
        try:
            model.save(str(changed))
        finally:  # the session's shared tower must come back exactly
            first.copy_(original)
    staged = build_version(small_catalog[:20], TextEncoder(str(changed)), small_root, serve=False,
                           embedding_cache=tmp_path / "cache").name
    serving = Engine(SearchIndex.open_current(small_root), towers)
    engines = VersionEngines(small_root, SearchIndex.open)
    other = engines.engine(serving, staged)
    assert other.index.version == staged and other.towers.product.fingerprint != towers.product.fingerprint
    assert other.towers.product.source == str(changed)
    assert engines.engine(serving, staged).towers is other.towers  # opened once, then reused
    assert engines.engine(serving, versions.current_version(small_root)) is serving
    from search_engine.types import Query

    assert {h.product.id for h in other.search(Query("wireless mouse", k=5)).hits} <= {p.id for p in small_catalog[:20]}
