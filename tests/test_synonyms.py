"""Managed synonyms: the rule format, query expansion, and their effect on real searches
through the engine and the API, with no reindex."""
from __future__ import annotations

import threading
from dataclasses import replace

import pytest

from indexer.keyword.synonyms import SynonymFormatError, SynonymRule, Synonyms, rules_from_lines
from search_engine.synonym_store import SynonymStore
from search_engine.types import Query

AUTH = {"Authorization": "Bearer test-token"}


def test_rules_are_read_in_the_solr_format_and_bad_lines_name_the_problem():
    equivalent, one_way = SynonymRule(" TV,  television "), SynonymRule("laptop, lap top => notebook")
    assert (equivalent.kind, equivalent.text, equivalent.inputs) == ("equivalent", "TV,  television",
                                                                     (("tv",), ("television",)))
    assert one_way.kind == "one-way" and one_way.inputs == (("laptop",), ("lap", "top")) and \
        one_way.outputs == (("notebook",),)
    for line, problem in (("", "a synonym rule is a line"), ("laptop -> notebook", "unknown synonym format"),
                          ("a => b => c", "more than one"), ("tv", "unknown synonym format"),
                          ("tv,, television", "empty phrase"), ("a b c d e f, g", "at most 5 words"),
                          ("laptop bag => " + "x" * 41 + " bag", "longer than any word")):
        with pytest.raises(SynonymFormatError, match=problem) as caught:
            SynonymRule(line)
        assert str(caught.value).startswith("text: ")
    with pytest.raises(SynonymFormatError, match=r"synonyms.txt, line 3: text: unknown synonym format"):
        rules_from_lines(["# a comment", "tv, television", "laptop -> notebook"], "synonyms.txt")


def test_expansion_matches_stems_prefers_the_longest_phrase_and_keeps_one_way_rules_one_way():
    synonyms = Synonyms([SynonymRule("laptop => notebook"), SynonymRule("smart watch, smartwatch"),
                         SynonymRule("watch, timepiece"), SynonymRule("laptop, portable computer")])
    laptops, bag = synonyms.expand(["laptops", "bag"])
    assert laptops.typed == ("laptops",) and bag.alternatives == (("bag",),)
    # both rules naming "laptop" add theirs, once each
    assert laptops.alternatives == (("laptops",), ("notebook",), ("portable", "computer"))
    smart, = synonyms.expand(["smart", "watches"])
    assert smart.alternatives == (("smart", "watches"), ("smartwatch",))  # the longer phrase wins over "watch"
    assert synonyms.expand(["notebook"])[0].alternatives == (("notebook",),)  # one-way: not the other way
    assert [r.text for r in synonyms.applied(["laptop", "watch"])] == [
        "laptop => notebook", "laptop, portable computer", "watch, timepiece"]
    assert not Synonyms() and Synonyms().expand(["a"])[0].alternatives == (("a",),)
    # A rule names a word with or without its accents, as the keyword leg matches it.
    accented = Synonyms([SynonymRule("télé, television")])
    assert accented.expand(["tele"])[0].alternatives == (("tele",), ("television",))


@pytest.fixture
def store(tmp_path):
    return SynonymStore(tmp_path / "merchants.sqlite3")


def _total(engine, text, mode="keyword"):
    return engine.search(Query(text, mode=mode, correct_spelling=False)).total


def test_rules_change_the_matched_set_of_real_searches_at_once(engine, store):
    engine = replace(engine, synonyms=store.synonyms)
    backpacks = _total(engine, "backpack")
    assert backpacks > 5 and engine.search(Query("knapsack", mode="keyword", correct_spelling=False)).match == \
        "nearest"
    store.add(SynonymRule("knapsack => backpack"))
    assert _total(engine, "knapsack") == backpacks  # one-way: knapsack finds backpacks ...
    assert _total(engine, "backpack") == backpacks  # ... and backpack is read as before
    result = engine.search(Query("knapsack", mode="hybrid", explain=True))
    assert result.synonyms == ("knapsack => backpack",) and result.match == "matched"
    assert all("backpack" in (h.product.title + h.product.category).lower() for h in result.hits[:5])
    hdmi = _total(engine, "hdmi cable")
    rule = store.add(SynonymRule("cable, cord"))
    assert _total(engine, "hdmi cord") == hdmi  # equivalent: either word finds the other's products
    store.delete(rule.id)
    assert engine.search(Query("hdmi cord", mode="keyword", correct_spelling=False)).match == "nearest"


def test_the_synonyms_file_is_read_at_start_and_a_bad_one_is_refused(tmp_path):
    path = tmp_path / "synonyms.txt"
    path.write_text("# shop words\ntv, television\n\nlaptop => notebook\n")
    opened = SynonymStore.open(tmp_path / "m.sqlite3", path)
    assert [r.text for r in opened.synonyms().rules] == ["tv, television", "laptop => notebook"]
    opened.add(SynonymRule("cord, cable"))
    assert [r.text for r in opened.synonyms().rules][-1] == "cord, cable"
    path.write_text("tv, television\nlaptop -> notebook\n")
    with pytest.raises(SynonymFormatError, match="line 2"):
        SynonymStore.open(tmp_path / "m.sqlite3", path)


def test_merchants_manage_synonyms_through_the_admin_api_without_a_reindex(client):
    version = client.get("/health").get_json()["index_version"]
    before = client.get("/search?q=knapsack&mode=keyword&correct=false").get_json()
    assert before["match"] == "nearest"
    assert client.post("/admin/synonyms", json={"text": "knapsack => backpack"}).status_code == 401
    made = client.post("/admin/synonyms", json={"text": "knapsack => backpack"}, headers=AUTH)
    assert made.status_code == 201 and made.get_json()["kind"] == "one-way"
    after = client.get("/search?q=knapsack&mode=keyword&correct=false&explain=true").get_json()
    assert after["match"] == "matched" and after["explain"]["synonyms"] == ["knapsack => backpack"]
    assert after["index_version"] == version
    rule_id = made.get_json()["id"]
    assert client.get("/admin/synonyms", headers=AUTH).get_json()["rules"] == [
        {"id": rule_id, "text": "knapsack => backpack", "kind": "one-way", "source": "api"}]
    edited = client.put(f"/admin/synonyms/{rule_id}", json={"text": "knapsack, backpack"}, headers=AUTH)
    assert edited.get_json()["kind"] == "equivalent"
    for body in ({"text": "knapsack -> backpack"}, {"text": ""}, {}, {"text": "a", "kind": "x"}):
        response = client.post("/admin/synonyms", json=body, headers=AUTH)
        assert response.status_code == 400 and response.get_json()["error"]["parameter"] in ("text", "kind"), body
    assert "unknown synonym format" in client.post("/admin/synonyms", json={"text": "a -> b"},
                                                   headers=AUTH).get_json()["error"]["message"]
    assert client.delete(f"/admin/synonyms/{rule_id}", headers=AUTH).status_code == 200
    assert client.delete(f"/admin/synonyms/{rule_id}", headers=AUTH).status_code == 404
    assert client.get("/search?q=knapsack&mode=keyword&correct=false").get_json()["match"] == "nearest"


def test_searches_see_one_whole_set_of_rules_while_merchants_edit_them(engine, store):
    """Readers search while a writer adds and deletes rules: every search reads the rules
    before or after an edit, never a mix, and none fails."""
    engine = replace(engine, synonyms=store.synonyms)
    plain, widened = _total(engine, "knapsack usb"), None
    rule = store.add(SynonymRule("knapsack => backpack"))
    widened = _total(engine, "knapsack usb")
    store.delete(rule.id)
    allowed = {plain, widened}
    problems: list[str] = []
    stop = threading.Event()

    def read():
        while not stop.is_set():
            try:
                total = _total(engine, "knapsack usb")
                if total not in allowed:
                    problems.append(f"total {total} is neither {plain} nor {widened}")
            except Exception as exc:  # noqa: BLE001 - every failure is the finding
                problems.append(repr(exc))

    readers = [threading.Thread(target=read) for _ in range(3)]
    for thread in readers:
        thread.start()
    for i in range(40):
        added = store.add(SynonymRule("knapsack => backpack"))
        store.add(SynonymRule(f"filler{i}, other{i}"))
        store.delete(added.id)
    stop.set()
    for thread in readers:
        thread.join()
    assert problems == [] and plain != widened
    # Once the edits stop, every search reads the rules as stored: none is left behind.
    assert store.synonyms().rules == tuple(store.rules()) and _total(engine, "knapsack usb") == plain
    store.add(SynonymRule("knapsack => backpack"))
    assert _total(engine, "knapsack usb") == widened


def test_an_edit_elsewhere_in_the_merchants_file_keeps_the_same_synonyms(store):
    from search_engine.suggest.rules import SuggestionRule, SuggestionRuleStore

    store.add(SynonymRule("tv, television"))
    before = store.synonyms()
    SuggestionRuleStore(store.path).add(SuggestionRule("tv", "block"))  # another table, another connection
    assert store.synonyms() is before  # what searches and suggestions remember stays valid
    assert store.delete(2 ** 70) is False and store.replace(2 ** 70, SynonymRule("a, b")) is None
