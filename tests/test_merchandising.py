"""Merchandising rules: pins, boosts and buries applied after ranking, stored, edited over HTTP."""
import numpy as np
import pytest

from indexer.filters import Filters
from indexer.product_store import ProductStore
from indexer.schema import Product
from search_engine.merchandising import Rule, active_rules, apply_rules

PRODUCTS = [Product("a", "A", brand="HP", category="toner", price=50.0),
            Product("b", "B", brand="Canon", category="toner", price=30.0),
            Product("c", "C", brand="HP", category="printer", price=200.0),
            Product("d", "D", brand="Brother", category="toner", price=20.0),
            Product("e", "E", brand="Canon", category="printer", price=150.0)]
DOC_OF = {p.id: doc for doc, p in enumerate(PRODUCTS)}


def ranked(query, rules, docs=(0, 1, 2, 3), filters=Filters()):
    store = ProductStore.of(PRODUCTS)
    order, notes = apply_rules(np.array(docs), active_rules(query, rules),
                               lambda rule, some: store.passing(some, rule.selects()), DOC_OF.get,
                               lambda doc: store.passes(doc, filters))
    return [PRODUCTS[d].id for d in order], notes


def test_rules_match_exactly_or_by_whole_words():
    assert Rule("HP  Toner", "bury", brand="HP").matches("hp toner")
    assert not Rule("hp toner", "bury", brand="HP").matches("hp toner black")
    contains = Rule("toner", "bury", match="contains", brand="HP")
    assert contains.matches("HP toner black") and not contains.matches("tonerx")


def test_boost_bury_and_pin_by_hand():
    boost = Rule("toner", "boost", brand="Canon", id=1)
    bury = Rule("toner", "bury", category="printer", id=2)
    pin = Rule("toner", "pin", product_id="d", position=1, id=3)
    assert ranked("toner", [boost])[0] == ["b", "a", "c", "d"]
    assert ranked("toner", [bury])[0] == ["a", "b", "d", "c"]
    order, notes = ranked("toner", [boost, bury, pin])
    assert order == ["d", "b", "a", "c"]  # boosts, then buries, then pins
    assert notes(DOC_OF["d"]) == [pin.describe()] and notes(DOC_OF["b"]) == [boost.describe()]
    assert notes(DOC_OF["c"]) == [bury.describe()] and "bury category 'printer'" in bury.describe()
    assert notes(DOC_OF["a"]) == []
    assert ranked("printer", [boost, bury, pin])[0] == ["a", "b", "c", "d"]  # no rule matches


def test_pins_bring_in_products_but_never_break_filters():
    pin_e = Rule("toner", "pin", product_id="e", position=2, id=1)
    assert ranked("toner", [pin_e], docs=(0, 1))[0] == ["a", "e", "b"]
    cheap = Filters(price_max=100)
    assert ranked("toner", [pin_e], docs=(0, 1), filters=cheap)[0] == ["a", "b"]
    far = Rule("toner", "pin", product_id="b", position=50, id=2)
    assert ranked("toner", [far])[0] == ["a", "c", "d", "b"]  # past the end: last
    gone = Rule("toner", "pin", product_id="zzz", position=1, id=3)
    assert ranked("toner", [gone])[0] == ["a", "b", "c", "d"]


@pytest.mark.parametrize("fields, field", [
    ({"query": " ", "action": "bury", "brand": "HP"}, "query"),
    ({"query": "x", "action": "hide", "brand": "HP"}, "action"),
    ({"query": "x", "action": "bury", "match": "regex", "brand": "HP"}, "match"),
    ({"query": "x", "action": "pin", "position": 1}, "product_id"),
    ({"query": "x", "action": "pin", "product_id": "a", "position": 0}, "position"),
    ({"query": "x", "action": "boost"}, "brand"),
])
def test_bad_rules_name_the_field(fields, field):
    with pytest.raises(ValueError, match=f"^{field}:"):
        Rule(**fields)


def test_rule_store_sees_edits_from_another_process_connection(tmp_path):
    from search_engine.merchandising_store import RuleStore

    serving, editing = RuleStore(tmp_path / "rules.sqlite3"), RuleStore(tmp_path / "rules.sqlite3")
    assert serving.rules() == []
    added = editing.add(Rule("toner", "boost", brand="HP"))
    assert added.id is not None and serving.rules() == [added]
    assert editing.delete(added.id) and not editing.delete(added.id)
    assert serving.rules() == []


@pytest.mark.slow
def test_merchants_pin_over_http_and_see_it_in_explain(client, engine):
    from search_engine.types import Query

    auth = {"Authorization": "Bearer test-token"}
    plain = [h.product.id for h in engine.search(Query("hdmi cable", k=10)).hits]
    target = plain[7]
    bad = client.post("/admin/rules", json={"query": "hdmi cable", "action": "pin", "product_id": target}, headers=auth)
    assert bad.status_code == 400 and bad.get_json()["error"]["parameter"] == "position"
    assert client.post("/admin/rules", json={"query": "hdmi cable", "action": "pin", "product_id": "nope",
                                             "position": 1}, headers=auth).get_json()["error"]["parameter"] == "product_id"
    assert client.post("/admin/rules", json={"query": "x", "action": "bury", "brand": "HP", "colour": "red"},
                       headers=auth).get_json()["error"]["parameter"] == "colour"
    for field in ("query", "brand"):  # no longer than a query: a megabyte of rule is no rule
        long = client.post("/admin/rules", json={"query": "x", "action": "bury", "brand": "HP", field: " a" * 251},
                           headers=auth)
        assert long.status_code == 400 and long.get_json()["error"]["parameter"] == field
        assert "at most 500 characters, got 501" in long.get_json()["error"]["message"]
    created = client.post("/admin/rules", json={"query": "HDMI cable", "action": "pin", "product_id": target,
                                                "position": 1}, headers=auth)
    assert created.status_code == 201
    rule = created.get_json()
    body = client.get("/search?q=hdmi+cable&k=10&explain=true").get_json()
    assert body["results"][0]["id"] == target
    assert body["results"][0]["explain"]["merchandising"] == [Rule(**rule).describe()]
    assert [r["id"] for r in body["results"][1:]] == [p for p in plain if p != target][:9]
    assert client.get("/admin/rules", headers=auth).get_json()["rules"] == [rule]
    assert client.get("/admin/rules").status_code == 401
    assert client.delete(f"/admin/rules/{rule['id']}", headers=auth).status_code == 200
    assert client.delete(f"/admin/rules/{rule['id']}", headers=auth).status_code == 404
    assert [r["id"] for r in client.get("/search?q=hdmi+cable&k=10").get_json()["results"]] == plain
