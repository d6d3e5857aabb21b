"""Query suggestions: the prefix index, the catalog's phrases, the query log, ranking, typos,
merchants' rules and the API, on hand-made data and on the real Icecat slice."""
from __future__ import annotations

import random
import threading
from dataclasses import replace

import pytest

from indexer.schema import Product
from indexer.suggestions import catalog_phrases, phrase_key, phrase_words
from search_engine.event_store import EventStore
from search_engine.suggest.live import LiveSuggestions
from search_engine.suggest.popularity import QueryLog, QueryScoring
from search_engine.suggest.prefix_index import SCAN_LIMIT, PrefixIndex
from search_engine.suggest.rules import SuggestionRule, SuggestionRuleStore
from search_engine.types import Event

T = 1788220800.0
AUTH = {"Authorization": "Bearer test-token"}


def test_the_best_of_a_prefix_are_found_for_narrow_and_wide_prefixes_alike():
    rng = random.Random(3)
    words = {"".join(rng.choice("abc ") for _ in range(rng.randint(1, 9))).strip() or "a" for _ in range(20000)}
    scores = {w: float(rng.randint(0, 30)) for w in words}  # many ties: settled by key, everywhere
    index = PrefixIndex(scores)
    assert sum(w.startswith("a") for w in words) > SCAN_LIMIT  # some prefixes are ranked ahead
    for prefix in ("", "a", "ab", "abc", "b", "c a", "cc", "abca", "zz"):
        expected = sorted((w for w in words if w.startswith(prefix)), key=lambda w: (-scores[w], w))[:12]
        assert [k for k, _ in index.top(prefix, 12)] == expected, prefix
    assert index.score("zz") == 0.0 and index.has_prefix("ab") and not index.has_prefix("zz")


def test_catalog_phrases_are_brands_types_title_runs_and_described_types():
    titles = ["Logitech M185 Wireless Mouse Grey", "Logitech M705 Wireless Mouse for notebook",
              "HP X3000 wireless mouse", "Logitech K120 keyboard with cable"]
    products = [Product(str(i), title, brand=title.split()[0], category="Mice" if "Mouse" in title or "mouse" in title
                        else "Keyboards") for i, title in enumerate(titles)]
    phrases = catalog_phrases(products + [None])
    assert phrases.products["logitech"] == 3 and phrases.products["hp"] == 1  # every brand, however few hold it
    assert phrases.products["keyboards"] == 1 and phrases.products["mice"] == 3  # and every category
    assert phrases.products["wireless mouse"] == 3  # a title run held by three products
    assert phrases.products["wireless mice"] == 3  # a title word before the product's type
    assert "logitech m185" not in phrases.products  # held by one product only
    assert not any(p.endswith(" for") or p.startswith("with ") for p in phrases.products)  # no run cut at a connecting word


def test_a_phrase_written_with_and_without_accents_is_one_phrase_shown_as_the_catalog_mostly_writes_it():
    titles = ["Bosch Kühlschrank weiß", "Liebherr Kühlschrank weiß", "Gorenje Kuhlschrank weiß", "Smeg Crème"]
    products = [Product(str(i), title, brand=title.split()[0], category="Kühlschränke") for i, title in
                enumerate(titles)]
    phrases = catalog_phrases(products)
    assert phrases.products["kuhlschrank weiss"] == 3 and "kühlschrank weiß" not in phrases.products
    assert phrases.written["kuhlschrank weiss"] == "kühlschrank weiß"  # two of three write it so
    assert phrases.written["kuhlschranke"] == "kühlschränke" and phrases.products["kuhlschranke"] == 4
    assert "bosch" not in phrases.written  # written as its key: nothing to remember
    mostly_plain = catalog_phrases(products + [Product(str(i), "Kuhlschrank weiss") for i in range(4, 6)])
    assert "kuhlschrank weiss" not in mostly_plain.written  # three products write it plainly, two with accents
    assert phrase_key("İpek Ürün") == "ipek urun" and phrase_words("İpek") == "ipek"  # a dotted capital I is an i


def _event(user, kind, query=None, search_id=None, t=0.0, product="p1"):
    return Event(user, f"s-{user}", T + t, kind, product_id=None if kind == "search" else product, query=query,
                 search_id=search_id)


def test_the_query_log_counts_searches_shoppers_and_what_they_led_to():
    log = QueryLog()
    log.add([_event("a", "search", "USB  Hub", "s1"), _event("a", "click", search_id="s1"),
             _event("b", "search", "usb hub", "s2"), _event("b", "purchase", query="usb hub"),
             _event("c", "search", "usb hub", "s3"),
             _event("a", "search", "usb cable", "s4"), _event("a", "search", "usb cable", "s5")])
    hub, cable = log.counts["usb hub"], log.counts["usb cable"]
    assert (hub.searches, len(hub.shoppers), hub.clicks, hub.purchases) == (3, 3, 1, 1)
    ranked = log.ranked(QueryScoring(click_weight=1, purchase_weight=3, min_shoppers=2))
    assert ranked.index.score("usb hub") == 3 + 1 + 3 and ranked.shown_as["usb hub"] == "usb hub"
    assert cable.searches == 2 and ranked.index.score("usb cable") == 0  # one shopper cannot put it in
    with pytest.raises(ValueError, match="click_weight"):
        QueryScoring(click_weight=-1)
    with pytest.raises(ValueError, match="min_shoppers"):
        QueryScoring(min_shoppers=0)


@pytest.fixture
def suggestions(tmp_path):
    """Suggestions over an event store of their own, refreshed by hand."""
    store = EventStore(tmp_path / "events.sqlite3")
    live = LiveSuggestions(store, SuggestionRuleStore(tmp_path / "rules.sqlite3"), follow=False)
    yield live
    store.close()


def texts(result) -> list[str]:
    return [s.key for s in result.suggestions]


def test_completions_tolerate_typos_and_rank_fewer_typos_first(engine, suggestions):
    wirel = suggestions.suggest(engine, "wirel", 5)
    assert texts(wirel)[0] == "wireless" and all(s.typos == 0 for s in wirel.suggestions)
    respelt = suggestions.suggest(engine, "wireles mou", 5).suggestions
    assert respelt[0].key.startswith("wireless mouse") and respelt[0].typos == 1  # a finished word respelt
    mistyped = suggestions.suggest(engine, "wireless mpuse", 5).suggestions
    assert mistyped and mistyped[0].key.startswith("wireless mouse") and mistyped[0].typos == 1  # the prefix too
    assert texts(suggestions.suggest(engine, "hdmi ", 5))[0].startswith("hdmi")  # a finished word: its phrases
    assert suggestions.suggest(engine, "qxzvk", 5).suggestions == []


def test_completions_come_with_the_products_and_categories_they_lead_to(engine, suggestions):
    result = suggestions.suggest(engine, "hdmi cab", 5, product_count=3, category_count=2)
    assert result.leads_to == result.suggestions[0].text
    assert len(result.products) == 3 and all("hdmi" in p.title.lower() for p in result.products)
    assert result.categories and result.categories[0][1] >= result.categories[-1][1] > 0


def test_what_shoppers_search_and_buy_outranks_what_the_catalog_merely_holds(engine, suggestions):
    before = texts(suggestions.suggest(engine, "usb", 5))
    assert "usb hub" != before[0]
    searches = [_event(user, "search", "USB hub", f"{user}-{i}", t=i) for user in ("a", "b") for i in range(4)]
    suggestions.events.add(searches + [_event("a", "purchase", search_id="a-0", t=9)])
    suggestions.events.add([_event("solo", "search", "usb qqqq", f"solo-{i}", t=i) for i in range(50)])
    assert suggestions.refresh() == 59
    after = suggestions.suggest(engine, "usb", 5).suggestions
    assert after[0].key == "usb hub" and after[0].text == "usb hub" and after[0].searches_score == 8 + 3
    # a popular query no product holds is not offered, and one shopper cannot put one in
    suggestions.events.add([_event(user, "search", "usb unicornphone", f"{user}-u{i}") for user in "abc"
                            for i in range(9)])
    suggestions.refresh()
    assert "usb unicornphone" not in texts(suggestions.suggest(engine, "usb", 20))
    assert "usb qqqq" not in texts(suggestions.suggest(engine, "usb", 20))


def test_merchants_block_and_pin_suggestions(engine, suggestions):
    natural = texts(suggestions.suggest(engine, "wire", 5))
    suggestions.rules.add(SuggestionRule("wireless", "block"))
    suggestions.rules.add(SuggestionRule("mouse", "block", match="contains"))
    pinned = suggestions.rules.add(SuggestionRule("Wireless Keyboard", "pin"))
    shown = suggestions.suggest(engine, "wire", 5).suggestions
    assert shown[0].key == "wireless keyboard" and shown[0].pinned
    assert "wireless" in natural and "wireless" not in texts(suggestions.suggest(engine, "wire", 20))
    assert not any("mouse" in s.key.split() for s in suggestions.suggest(engine, "wireless", 20).suggestions)
    assert suggestions.rules.delete(pinned.id)
    assert not suggestions.suggest(engine, "wire", 5).suggestions[0].pinned
    with pytest.raises(ValueError, match="match"):
        SuggestionRule("wireless", "pin", match="contains")


def test_a_phrase_whose_products_are_deleted_is_no_longer_offered(small_root, small_catalog, towers, tmp_path):
    from indexer.incremental import apply_updates
    from indexer.search_index import SearchIndex
    from search_engine.engine import Engine

    engine = Engine(SearchIndex.open_current(small_root), towers)
    live = LiveSuggestions(None, SuggestionRuleStore(tmp_path / "rules.sqlite3"), follow=False)
    brand = next(p.brand for p in small_catalog if p.brand and " " not in p.brand)
    assert brand.lower() in texts(live.suggest(engine, brand[:3].lower(), 20))
    apply_updates(engine.index, towers.product, deletes=[p.id for p in small_catalog if p.brand == brand])
    assert brand.lower() not in texts(live.suggest(engine, brand[:3].lower(), 20))


def test_typed_without_accents_a_prefix_completes_what_the_catalog_writes_with_them(tmp_path, towers):
    """A shopper types "kuhl" for "Kühlschrank": the completions are the catalog's, shown as
    it writes them, each phrase once; searches typed without the accents count for the same
    phrase; a version that keeps accents in its keyword leg still finds what is offered."""
    from indexer.build import IndexConfig, build_version
    from indexer.keyword.base import KeywordConfig
    from indexer.search_index import SearchIndex
    from search_engine.engine import Engine

    titles = ["Bosch Kühlschrank weiß", "Liebherr Kühlschrank weiß A++", "Gorenje Kühlschrank weiß",
              "Miele Kuhlschrank Thermometer", "Bosch Crème brûlée Brenner", "Rösle Crème brûlée Brenner",
              "Kela Crème brûlée Brenner"]
    products = [Product(str(i), title, brand=title.split()[0], category="Haushalt") for i, title in
                enumerate(titles)]
    for fold in (True, False):
        root = tmp_path / f"fold-{fold}"
        build_version(products, towers.product, root, IndexConfig(keyword=KeywordConfig(fold_accents=fold)),
                      embedding_cache=tmp_path / "cache")
        engine = Engine(SearchIndex.open_current(root), towers)
        store = EventStore(tmp_path / f"events-{fold}.sqlite3")
        live = LiveSuggestions(store, SuggestionRuleStore(tmp_path / f"rules-{fold}.sqlite3"), follow=False)
        for typed in ("kuhl", "kühl", "KÜHLS"):
            shown = live.suggest(engine, typed, 10).suggestions
            assert shown[0].text == "kühlschrank" and "kühlschrank weiß" in [s.text for s in shown], (fold, typed)
            assert len({s.key for s in shown}) == len(shown)  # one phrase however it is written
        result = live.suggest(engine, "creme br", 5, product_count=3)
        assert result.suggestions[0].text == "crème brûlée" and result.leads_to == "crème brûlée"
        assert {p.id for p in result.products} == {"4", "5", "6"}
        store.add([_event(user, "search", "creme brulee brenner", f"{user}{i}", t=i) for user in "ab"
                   for i in range(3)] + [_event("c", "search", "Crème Brûlée Brenner", "c0")])
        live.refresh()
        first = live.suggest(engine, "cre", 5).suggestions[0]
        assert (first.text, first.searches_score) == ("crème brûlée brenner", 7)  # the catalog's accents shown
        # Shoppers' own spellings: shown as the catalog writes the phrase, else as typed where
        # this version finds it, else as its key ("kuhlschrank thermometer" holds no accent)
        store.add([_event(user, "search", query, f"{user}{query}") for user in "abc"
                   for query in ("kühlschrank weiss", "kühlschrank thermometer")])
        live.refresh()
        assert [s.text for s in live.suggest(engine, "kühlschrank w", 5).suggestions] == ["kühlschrank weiß"]
        assert [s.text for s in live.suggest(engine, "kuhlschrank t", 5).suggestions] == [
            "kühlschrank thermometer" if fold else "kuhlschrank thermometer"]
        # Merchants block words as written and shown: "brulee" is not "brûlée"
        block = live.rules.add(SuggestionRule("brulee", "block", match="contains"))
        assert "crème brûlée" in [s.text for s in live.suggest(engine, "creme br", 5).suggestions]
        live.rules.replace(block.id, SuggestionRule("brûlée", "block", match="contains"))
        assert live.suggest(engine, "creme br", 5).suggestions == []
        store.close()


def test_odd_inputs_get_an_answer_or_a_400_never_a_failure(client):
    long_words = "x" * 41 + " " + "y" * 41
    assert client.get("/suggest", query_string={"q": long_words}).get_json()["suggestions"] == []
    assert client.get("/search", query_string={"q": long_words}).status_code == 200
    assert client.get("/suggest", query_string={"q": "e\u0301"}).status_code == 200
    assert client.get("/suggest", query_string={"q": "?!-"}).get_json()["suggestions"] == []
    click = {"user_id": "u", "session_id": "s", "timestamp": T, "type": "click", "product_id": "p", "shown": 0}
    response = client.post("/events", json={"events": [click]})
    assert response.status_code == 400 and response.get_json()["error"]["details"][0]["field"] == "shown"


def test_the_api_suggests_and_names_bad_parameters(client):
    body = client.get("/suggest?q=wirel&k=3").get_json()
    assert body["suggestions"][0]["text"] == "wireless" and len(body["suggestions"]) <= 3
    assert body["leads_to"] == "wireless" and len(body["products"]) == 3 and body["categories"]
    assert client.get("/suggest?q=wirel&products=0&categories=0").get_json()["products"] == []
    for query, parameter in (("", "q"), ("q=", "q"), ("q=%20%20", "q"), ("q=" + "a" * 1000, "q"),
                             ("q=wi&k=0", "k"), ("q=wi&k=x", "k"), ("q=wi&products=99", "products")):
        response = client.get("/suggest?" + query)
        assert response.status_code == 400 and response.get_json()["error"]["parameter"] == parameter, query


def test_merchants_manage_suggestion_rules_through_the_admin_api(client):
    assert client.post("/admin/suggestions/rules", json={"text": "wireless", "action": "block"}).status_code == 401
    made = client.post("/admin/suggestions/rules", json={"text": "wireless", "action": "block"}, headers=AUTH)
    assert made.status_code == 201
    assert "wireless" not in [s["text"] for s in client.get("/suggest?q=wirel").get_json()["suggestions"]]
    rule_id = made.get_json()["id"]
    assert client.get("/admin/suggestions/rules", headers=AUTH).get_json()["rules"][0]["text"] == "wireless"
    assert client.put(f"/admin/suggestions/rules/{rule_id}", json={"text": "wireless mouse", "action": "pin"},
                      headers=AUTH).get_json()["action"] == "pin"
    assert client.get("/suggest?q=wi").get_json()["suggestions"][0]["text"] == "wireless mouse"
    for body, parameter in (({"text": "x", "action": "hide"}, "action"), ({"action": "block"}, "text"),
                            ({"text": "x", "action": "block", "colour": 1}, "colour"),
                            ({"text": "x", "action": "pin", "match": "contains"}, "match"), ([], "text"),
                            ({"text": ["wireless"], "action": "block"}, "text"),
                            ({"text": "\ud800x", "action": "block"}, "text"),
                            ({"text": "tv " + "x" * 41, "action": "block", "match": "contains"}, "text")):
        response = client.post("/admin/suggestions/rules", json=body, headers=AUTH)
        assert response.status_code == 400 and response.get_json()["error"]["parameter"] == parameter, body
    assert client.delete(f"/admin/suggestions/rules/{rule_id}", headers=AUTH).status_code == 200
    assert client.delete(f"/admin/suggestions/rules/{rule_id}", headers=AUTH).status_code == 404
    pin = {"text": "crème fraîche", "action": "pin"}
    first = client.post("/admin/suggestions/rules", json=pin, headers=AUTH).get_json()["id"]
    again = client.post("/admin/suggestions/rules", json=pin, headers=AUTH)  # the same rule twice: refused
    assert again.status_code == 409 and f"(id {first})" in again.get_json()["error"]["message"]
    other = client.post("/admin/suggestions/rules", json={"text": "crème", "action": "pin"}, headers=AUTH)
    copied = client.put(f"/admin/suggestions/rules/{other.get_json()['id']}", json=pin, headers=AUTH)
    assert copied.status_code == 409  # nor by editing another rule into it
    assert client.put(f"/admin/suggestions/rules/{first}", json=pin, headers=AUTH).status_code == 200  # itself
    assert len(client.get("/admin/suggestions/rules", headers=AUTH).get_json()["rules"]) == 2


def test_two_workers_adding_the_same_rule_at_once_store_it_once(app, engine):
    """Two server processes share the rule file: the duplicate check runs inside the write
    transaction, so of many concurrent adds of one rule exactly one is stored."""
    from api import create_app

    other = create_app({"SETTINGS": app.config["SETTINGS"], "ENGINE": engine, "TESTING": True})
    statuses: list[int] = []
    start = threading.Barrier(8)

    def add(worker):
        client = worker.test_client()
        start.wait()
        statuses.append(client.post("/admin/suggestions/rules", json={"text": "usb hub", "action": "pin"},
                                    headers=AUTH).status_code)

    threads = [threading.Thread(target=add, args=(worker,)) for worker in (app, other) * 4]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(statuses) == [201] + [409] * 7
    assert len(other.test_client().get("/admin/suggestions/rules", headers=AUTH).get_json()["rules"]) == 1


def test_the_server_follows_the_event_log_into_its_suggestions(client, app):
    searches = [{"user_id": user, "session_id": user, "timestamp": T + i, "type": "search", "query": "usb hub",
                 "search_id": f"{user}{i}"} for user in ("a", "b") for i in range(5)]
    assert client.post("/events", json={"events": searches}).status_code == 201
    app.extensions["suggestions"].refresh()
    first = client.get("/suggest?q=us").get_json()["suggestions"][0]
    assert first["text"] == "usb hub" and first["searches_score"] == 10


def test_suggestions_stay_whole_while_events_rules_and_the_catalog_change(small_root, small_catalog, towers,
                                                                           tmp_path):
    """Readers suggest while one thread feeds events and refreshes, one edits rules and one
    updates the catalog: no reader fails, a block is honoured from the moment it is stored,
    and every completion offered finds products in the snapshot it was checked against."""
    from indexer.incremental import apply_updates
    from indexer.search_index import SearchIndex
    from search_engine.engine import Engine

    engine = Engine(SearchIndex.open_current(small_root), towers)
    store = EventStore(tmp_path / "events.sqlite3")
    live = LiveSuggestions(store, SuggestionRuleStore(tmp_path / "rules.sqlite3"), follow=False)
    prefixes = sorted({p.title[:n].lower() for p in small_catalog[:20] for n in (1, 2, 4)})
    words = sorted({w for p in small_catalog for w in p.title.lower().split() if w.isalpha() and len(w) > 3})
    problems: list[str] = []
    blocked: list[str] = []
    stop = threading.Event()

    def read():
        while not stop.is_set():
            for prefix in prefixes:
                try:
                    must_not = list(blocked)  # blocks stored before this request began
                    result = live.suggest(engine, prefix, 5)
                    snapshot = engine.index.snapshot()
                    for s in result.suggestions:
                        if s.key in must_not:
                            problems.append(f"blocked {s.key!r} offered")
                        if snapshot.seq == result.seq and snapshot.keyword.count(s.text) == 0:
                            problems.append(f"{s.text!r} finds nothing in the snapshot it was offered from")
                except Exception as exc:  # noqa: BLE001 - every failure is the finding
                    problems.append(repr(exc))

    def feed():
        for i in range(30):
            store.add([_event(u, "search", f"{words[i % len(words)]} {words[(i * 7) % len(words)]}", f"{u}{i}", t=i)
                       for u in "abc"])
            live.refresh()

    def edit():
        for word in words[:15]:
            live.rules.add(SuggestionRule(word, "block"))
            blocked.append(word)

    def update():
        for i in range(6):
            changed = [replace(p, title=p.title + f" edition{i}") for p in small_catalog[i * 5:(i + 1) * 5]]
            apply_updates(engine.index, towers.product, upserts=changed, deletes=[small_catalog[40 + i].id])

    readers = [threading.Thread(target=read) for _ in range(3)]
    writers = [threading.Thread(target=f) for f in (feed, edit, update)]
    for thread in readers + writers:
        thread.start()
    for thread in writers:
        thread.join()
    stop.set()
    for thread in readers:
        thread.join()
    store.close()
    assert problems == []
    final = engine.index.snapshot()
    for prefix in prefixes:
        for s in live.suggest(engine, prefix, 5).suggestions:
            assert final.keyword.count(s.text) > 0 and s.key not in blocked


def test_spelling_correction_reads_the_same_search_history_as_the_suggestions(client, app):
    from api.engine_holder import live_engine

    searches = [{"user_id": user, "session_id": user, "timestamp": T + i, "type": "search", "query": "usb hub",
                 "search_id": f"{user}{i}"} for user in ("a", "b") for i in range(3)]
    assert client.post("/events", json={"events": searches}).status_code == 201
    app.extensions["suggestions"].refresh()
    with app.app_context():
        popular = live_engine().get().popular_queries()
    assert popular is app.extensions["suggestions"].popular and popular.neighbours("usb hug")[0][0] == "usb hub"
