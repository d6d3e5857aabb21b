"""Spelling correction, relaxation and the typo generator, on hand-made words and on the real
Icecat slice through the engine and the API."""
from __future__ import annotations

import random

import pytest

from indexer.schema import Product
from indexer.spelling import SpellingDictionary, typo_limit, within_edits
from search_engine.spelling import correct, relaxed
from search_engine.types import Query
from search_engine.typos import EDITS, misspell, misspelled_judgments

WORDS = {"wireless": 40, "mouse": 30, "mice": 1, "hdmi": 20, "cable": 50, "label": 60, "printer": 25,
         "toner": 12, "usb": 70, "hub": 15}
DICTIONARY = SpellingDictionary(WORDS)
EMPTY = SpellingDictionary({})  # a catalog that writes no word with accents


def test_neighbours_are_known_words_within_the_typo_distance_most_held_first():
    assert [n.word for n in DICTIONARY.neighbours("wireles", typo_limit("wireles"))] == ["wireless"]
    # "cable" by a swap of neighbours (one edit), "label" by one substitution: the more widely held first
    assert [n.word for n in DICTIONARY.neighbours("cabel", 1)] == ["label", "cable"]
    assert [n.word for n in DICTIONARY.neighbours("hbu", typo_limit("hbu"))] == ["hub"]
    assert DICTIONARY.neighbours("mice", 1) == []  # held by one product only: never a target
    assert typo_limit("aa") == 0 and typo_limit("toner") == 1 and typo_limit("wireless") == 2


def test_a_neighbour_one_edit_away_comes_before_a_commoner_one_two_edits_away():
    words = SpellingDictionary({"keyboard": 40, "keyboards": 3})
    assert [(n.word, n.edits) for n in words.neighbours("keybords", 2)] == [("keyboards", 1), ("keyboard", 2)]
    count = matching_counter({"keyboard": set(range(40)), "keyboards": set(range(3))})
    # one letter left out, not two edits into the word more products hold
    assert correct("keybords", words, count, enough=10).text == "keyboards"


def test_run_together_words_split_and_may_carry_a_typo():
    assert DICTIONARY.splits("wirelessmouse") == [("wireless", "mouse")]
    assert DICTIONARY.splits("usbhbu") == [] and DICTIONARY.splits("usbhbu", typos=True) == [("usb", "hub")]


def matching_counter(products: dict[str, set[str]]):
    """Products holding every word, from a word -> products table."""
    def count(text: str) -> int:
        sets = [products.get(w, set()) for w in text.split()]
        return len(set.intersection(*sets)) if sets else 0
    return count


HOLDERS = {"hdmi": set(range(20)), "cable": set(range(10, 60)), "label": set(range(100, 160)),
           "wireless": set(range(200, 240)), "mouse": set(range(220, 250)), "usb": set(range(300, 370)),
           "hub": set(range(360, 375))}


def test_correction_uses_the_other_words_as_context():
    count = matching_counter(HOLDERS)
    fixed = correct("HDMI cabel", DICTIONARY, count, enough=10)
    assert fixed.text == "hdmi cable" and fixed.matching == 10 and fixed.original_matching == 0
    assert correct("wirelessmouse", DICTIONARY, count, enough=10).text == "wireless mouse"
    assert correct("wireless mo use", SpellingDictionary({**WORDS, "mo": 3, "use": 9}), count, 10).text == \
        "wireless mouse"
    respelt, resplit = correct("wireles mouse", DICTIONARY, count, 10), correct("wirelessm ouse", DICTIONARY, count, 10)
    assert (respelt.text, respelt.reshaped) == ("wireless mouse", False)
    assert (resplit.text, resplit.reshaped) == ("wireless mouse", True)  # as many words, boundaries moved
    assert correct("hdmi cable", DICTIONARY, count, enough=10) is None  # 10 products hold it as typed
    assert correct("qqqq zzzz", DICTIONARY, count, enough=10) is None  # nothing better to offer
    codes = SpellingDictionary({**WORDS, "pg": 5, "40": 5})
    assert correct("canon pg540", codes, count, enough=10) is None  # a code is never corrected into another


def test_a_word_split_in_two_joins_even_when_one_half_is_misspelt():
    words = SpellingDictionary({"smart": 50, "watch": 12, "smartwatch": 12, "home": 40, "ip": 30, "iphone": 20})
    count = matching_counter({"smart": set(range(50)), "watch": set(range(100, 112)),
                              "smartwatch": set(range(200, 212)), "home": set(range(300, 340)),
                              "ip": set(range(330, 360)), "iphone": set(range(400, 420))})
    # "smart watch" is one edit away but nothing holds both words: the join with the typo fixed
    fixed = correct("smart wtch", words, count, enough=10)
    assert (fixed.text, fixed.edits, fixed.reshaped) == ("smartwatch", 2, True)
    # As many edits either way ("ip home" respelt, "iphone" joined): the reading more products hold
    assert correct("ip hone", words, count, enough=10).text == "iphone"


def test_of_as_many_edits_the_reading_titles_hold_word_for_word_wins():
    """"bxox one": "box one" and "xbox one" are both one edit away, and more products hold
    "box" and "one" somewhere; titles say "Xbox One" side by side. A neighbour past the
    most widely held few still counts ("power ban": bank is the 6th commonest word one
    edit from "ban")."""
    words = SpellingDictionary({"box": 60, "xbox": 4, "one": 90, "power": 50, "lan": 40, "band": 30, "fan": 25,
                                "bar": 20, "bag": 15, "bank": 5})
    holders = {"box": set(range(60)), "xbox": {100, 101, 102, 103}, "one": set(range(30)) | {100, 101, 102, 103},
               "power": set(range(200, 250)), "lan": set(range(230, 270)), "band": set(range(300, 330)),
               "fan": set(range(240, 265)), "bar": set(range(400, 420)), "bag": set(range(500, 515)),
               "bank": set(range(245, 250))}
    count = matching_counter(holders)
    titles = {"xbox one": 4, "power bank": 5, "power fan": 1}.get
    assert count("box one") == 30 and count("xbox one") == 4
    assert correct("bxox one", words, count, enough=10).text == "box one"  # the words alone
    assert correct("bxox one", words, count, enough=10, count_in_titles=lambda t: titles(t, 0)).text == "xbox one"
    assert correct("power ban", words, count, enough=10, count_in_titles=lambda t: titles(t, 0)).text == "power bank"
    # One word typed has no order to read: the word more products hold ("lase": laser, which
    # attribute values mostly hold, not case, which more titles say).
    single = SpellingDictionary({"laser": 100, "case": 40})
    count = matching_counter({"laser": set(range(100)), "case": set(range(200, 240))})
    assert correct("lase", single, count, enough=10, count_in_titles={"case": 30, "laser": 5}.get).text == "laser"


def test_three_misspelt_words_each_with_many_neighbours_are_all_corrected():
    """Each typo has 25 known words one edit away. Readings that keep a typo as typed can
    never be a correction, so they do not take the room the corrected ones need."""
    letters = "abcdefghijklmnopqrstuvwxyz"
    words = SpellingDictionary({f"{stem}{c}": (50 if c == "b" else 10) for stem in ("xa", "yb", "zc")
                                for c in letters if c != "q"})
    holders = {word: set(range(100 * i, 100 * i + 10)) for i, word in enumerate(words.products_per_word)}
    holders.update({"xab": set(range(5)), "ybb": set(range(5)), "zcb": set(range(5))})
    assert correct("xaq ybq zcq", words, matching_counter(holders), enough=10).text == "xab ybb zcb"


def test_a_word_both_split_and_respelt_needs_two_products_holding_the_reading():
    """"micowave" is one edit from "microwave", which one product holds: too few to be a
    correction target. Split and respelt, "mimo wave" is two edits, and one Wi-Fi product
    holds both words: not a correction either (relaxation reads it). Two products would do."""
    words = SpellingDictionary({"microwave": 1, "mimo": 20, "wave": 10, "mico": 0})
    count = matching_counter({"microwave": {1}, "mimo": set(range(10, 30)), "wave": {29, 40, 41}})
    assert count("mimo wave") == 1 and correct("micowave", words, count, enough=10) is None
    count = matching_counter({"microwave": {1}, "mimo": set(range(10, 30)), "wave": {28, 29, 40}})
    assert correct("micowave", words, count, enough=10).text == "mimo wave"


def test_the_keyword_index_counts_titles_holding_words_side_by_side(tmp_path, towers):
    from indexer.build import build_version
    from indexer.search_index import SearchIndex
    from search_engine.engine import Engine

    products = [Product(f"x{i}", f"Xbox One wireless controller {i}", brand="Acme") for i in range(3)]
    products += [Product(f"b{i}", f"Storage box with one lid, model {i}", brand="Boxco") for i in range(20)]
    build_version(products, towers.product, tmp_path)
    engine = Engine(SearchIndex.open_current(tmp_path), towers)
    keyword = engine.index.snapshot().keyword
    assert [keyword.count_in_titles(t) for t in ("xbox one", "XBOX ONE wireless controllers", "one xbox", "box one")] == \
        [3, 3, 0, 0]
    assert keyword.count("box one") == 20 and keyword.count_in_titles("storage box") == 20
    result = engine.search(Query("bxox one", mode="keyword"))
    # (a word so few products hold also matches its typos, "box": the Xbox One products come first)
    assert result.corrected_query == "xbox one" and {h.product.id for h in result.hits[:3]} == {"x0", "x1", "x2"}


def test_relaxation_drops_the_fewest_words_and_the_most_common_first():
    count = matching_counter(HOLDERS)

    def kept_and_dropped(text, **options):
        relaxation = relaxed(text, DICTIONARY, count, **options)
        return relaxation.kept, relaxation.dropped, relaxation.corrected

    assert kept_and_dropped("wireless mouse printer") == ("wireless mouse", ("printer",), None)
    # usb (70 products) says less than hub (15): it goes, and the word nothing matches with it
    assert kept_and_dropped("usb hub xyzzy") == ("usb hub", ("xyzzy",), None)
    # a word no product holds is read as its neighbour first, and the response says so
    assert kept_and_dropped("usb wireles hub") == ("usb hub", ("wireless",), "usb wireless hub")
    assert kept_and_dropped("usb wireless xyzzy") == ("wireless", ("usb", "xyzzy"), None)
    # with a dense leg to rank by the whole query, the broadest match is kept instead
    assert kept_and_dropped("usb wireless xyzzy", keep_specific=False) == ("usb", ("wireless", "xyzzy"), None)
    assert relaxed("xyzzy qqqq", DICTIONARY, count) is None


def test_relaxation_of_a_long_query_stays_cheap():
    calls = []
    count = matching_counter(HOLDERS)

    def counting(text):
        calls.append(text)
        return count(text)

    relaxation = relaxed("mouse " + " ".join(f"zq{i}x" for i in range(30)), DICTIONARY, counting)
    assert relaxation.kept == "mouse" and len(calls) < 100  # words nothing matches are dropped up front


def test_the_typo_generator_is_seeded_and_makes_one_edit_per_chosen_word():
    judgments = {q: {"p": 3.0} for q in ("wireless mouse", "hdmi cable", "usb hub", "tv")}
    first, again = misspelled_judgments(judgments, 7), misspelled_judgments(judgments, 7)
    assert first == again and {q for q, _ in first.values()} == set(judgments)
    assert all(typo != query for typo, (query, _) in first.items())
    rng = random.Random(3)
    kinds = set()
    for _ in range(300):
        typo = misspell("wireless mouse", rng)
        words = typo.split()
        # Spaces moved or not, at most one edit in each of the (at most two) words it chose.
        assert typo != "wireless mouse" and within_edits("".join(words), "wirelessmouse", 2)
        kinds.add({3: "split", 1: "merge"}.get(len(words), "in-word"))
    assert kinds == {"split", "merge", "in-word"} and len(EDITS) == 6
    assert all(" -" not in misspell("tn-2110 toner", random.Random(s)) for s in range(50))  # no split beside a hyphen


def test_the_dictionary_is_built_from_what_the_keyword_leg_searches():
    built = SpellingDictionary.build([Product("1", "Wireless Mouse", "Optical", "Logitech"),
                                      Product("2", "Wireless Keyboard", brand="Logitech"), None])
    assert built.products("wireless") == 2 and built.products("logitech") == 2 and built.products("optical") == 1
    # Where the keyword leg folds accents, a word typed without them is known, not a typo.
    cafes = [Product("1", "Café Gaia coffee maker"), Product("2", "Café Gourmet")]
    assert SpellingDictionary.build(cafes, fold_accents=True).products("cafe") == 2
    assert SpellingDictionary.build(cafes, fold_accents=True).products("café") == 2
    assert SpellingDictionary.build(cafes).products("cafe") == 0


def test_a_word_is_real_by_its_stem_and_a_target_by_its_spelling():
    """The keyword leg matches "books" in every product saying "book" or "books": it is a real
    word ("bo oks" joins into it), though one product writes it so. A correction target must
    be written so by 2 products: a one-off spelling ("adapte", "managment") is never offered,
    and a word written once may still be a typo ("cars" of "card") as well as kept as typed."""
    products = [Product("1", "Book stand"), Product("2", "Children's book"), Product("3", "Books box"),
                Product("4", "USB adapter"), Product("5", "HDMI adapter"), Product("6", "Power adapter"),
                Product("7", "Adapte au voyage"), Product("8", "Graphics card"), Product("9", "Graphics card pro"),
                Product("10", "Toy car"), Product("11", "Car charger"), Product("12", "Cars poster")]
    dictionary = SpellingDictionary.build(products)
    assert (dictionary.products("books"), dictionary.spelt("books")) == (3, 1)
    assert dictionary.products("adapte") == dictionary.products("adapter") == 4
    assert [n.word for n in dictionary.neighbours("adaptre", 1)] == ["adapter"]
    holders = {"book": {1, 2, 3}, "books": {1, 2, 3}, "bo": set(), "oks": set(), "graphics": {8, 9},
               "card": {8, 9}, "cars": {10, 11, 12}, "car": {10, 11, 12}}
    count = matching_counter(holders)
    assert correct("bo oks", dictionary, count, enough=10).text == "books"
    assert count("graphics cars") == 0 and correct("graphics cars", dictionary, count, enough=10).text == "graphics card"


def test_a_correction_is_written_as_the_catalog_writes_its_words():
    """Where accents are folded, a typo is corrected through the folded word ("mullr" is one
    edit from "muller"), and the correction shown is the catalog's spelling, "müller"."""
    from indexer.keyword.base import fold_accents, query_terms
    from search_engine.spelling import correct

    products = [Product(str(i), f"Müller Kühlschrank {colour}", "Weiß") for i, colour in enumerate(["A", "B", "C"])]
    products += [Product("9", "Cafe noir"), Product("10", "Cafe au lait")]
    dictionary = SpellingDictionary.build(products, fold_accents=True)
    held = [set(query_terms(fold_accents(f"{p.title} {p.description}"))) for p in products]

    def count_matching(text):
        words = set(query_terms(fold_accents(text)))
        return sum(1 for found in held if words <= found)

    assert correct("mullr kuhlschrnk", dictionary, count_matching, enough=10).text == "müller kühlschrank"
    assert correct("weis", dictionary, count_matching, enough=10).text == "weiß"
    assert dictionary.as_written("cafe muller") == "cafe müller"  # "cafe" is written so in the catalog


@pytest.mark.parametrize("typed,meant", [("wireles mouse", "wireless mouse"), ("hdmi cabel", "hdmi cable"),
                                         ("usbhub", "usb hub"), ("bakcpack", "backpack")])
def test_a_misspelt_query_gets_the_corrected_results_and_says_so(engine, typed, meant):
    result, clean = engine.search(Query(typed)), engine.search(Query(meant))
    assert result.corrected_query == meant and result.query.text == typed
    assert [h.product.id for h in result.hits] == [h.product.id for h in clean.hits] and result.total == clean.total


def test_the_shopper_can_insist_on_the_words_as_typed(client):
    corrected = client.get("/search", query_string={"q": "wireles mouse", "highlight": "true"}).get_json()
    assert corrected["corrected_query"] == "wireless mouse" and corrected["query"] == "wireles mouse"
    assert "<em>" in corrected["results"][0]["highlight"]["title"]
    typed = client.get("/search", query_string={"q": "wireles mouse", "correct": "false"}).get_json()
    assert typed["corrected_query"] is None and typed["relaxed"] == []
    assert client.get("/search?q=mouse&correct=maybe").get_json()["error"]["parameter"] == "correct"


def test_when_no_product_holds_every_word_some_words_are_dropped_and_named(engine):
    result = engine.search(Query("wireless mouse zqxwv", mode="keyword"))
    assert result.match == "matched" and result.relaxed == ("zqxwv",)
    assert result.total == engine.search(Query("wireless mouse", mode="keyword")).total
    assert engine.search(Query("wireless mouse zqxwv", mode="keyword", correct_spelling=False)).match == "nearest"
    hybrid = engine.search(Query("wireles mice"))  # no product holds "wireless" and "mice" together
    assert hybrid.relaxed and "mouse" in hybrid.hits[0].product.title.lower()


def test_a_better_spelling_is_offered_when_some_products_hold_the_words_as_typed(tmp_path, towers):
    from indexer.build import build_version
    from indexer.search_index import SearchIndex
    from search_engine.engine import Engine

    products = [Product(str(i), f"Wireless mouse model {i}", brand="Acme") for i in range(12)]
    products.append(Product("typo", "Wirless mouse", brand="Acme"))  # the catalog's own typo
    build_version(products, towers.product, tmp_path)
    engine = Engine(SearchIndex.open_current(tmp_path), towers)
    result = engine.search(Query("wirless mouse", mode="keyword"))
    assert result.did_you_mean == "wireless mouse" and result.corrected_query is None
    assert "typo" in [h.product.id for h in result.hits]  # the results are for the words as typed
    assert engine.search(Query("wireless mouse", mode="keyword")).did_you_mean is None


def test_dense_mode_has_nothing_to_relax(engine):
    result = engine.search(Query("qzxv wqzj mouse", mode="dense"))
    assert result.relaxed == () and result.corrected_query is None


def test_a_query_one_edit_from_a_popular_one_is_read_as_it_even_as_a_real_word():
    from search_engine.spelling import correct_from_queries
    from search_engine.suggest.popularity import QueryLog, QueryScoring
    from search_engine.types import Event

    log = QueryLog()
    log.add([Event(user, user, 0.0, "search", query=query) for user in ("a", "b")
             for query in ("usb hub", "usb hub", "usb cable", "wireless mouse")])
    popular = log.ranked(QueryScoring(min_shoppers=2))
    assert [q for q, _ in popular.neighbours("usb hug")] == ["usb hub"]
    assert [q for q, _ in popular.neighbours("usbhub")] == ["usb hub"]  # a missing space is one edit
    assert popular.neighbours("usb hub") == [] and popular.neighbours("usb hug hug") == []
    holders = {**HOLDERS, "hug": {300}}  # "hug" is a real word: one product holds "usb hug"
    count = matching_counter(holders)
    fixed = correct_from_queries("USB hug", popular, EMPTY, count, enough=10)
    assert (fixed.text, fixed.original_matching, fixed.reshaped, fixed.searched) == ("usb hub", 1, False, True)
    assert correct("usb hug", SpellingDictionary({**WORDS, "hug": 3}), count, enough=10) is None  # words alone cannot
    assert correct_from_queries("usb hub", popular, EMPTY, count, enough=10) is None  # nothing to correct
    assert correct_from_queries("usbhub", popular, EMPTY, count, enough=10).reshaped
    log.add([Event(user, user, 0.0, "search", query="usb hug") for user in ("c", "d")])
    # shoppers search it as typed: not a typo
    assert correct_from_queries("usb hug", log.ranked(QueryScoring()), EMPTY, count, enough=10) is None


def test_words_the_catalog_knows_are_never_respelt_even_when_no_product_holds_them_together():
    """"red laptop": no product is both, but a shopper typed two real words; reading "red" as
    "led" (one edit, and led laptop lights exist) would replace their results with other
    products. Relaxation answers it instead. (A real-word typo such as "sub hub" is settled
    by the shop's search history: correct_from_queries.)"""
    words = SpellingDictionary({"red": 50, "led": 60, "laptop": 40, "sub": 5, "usb": 70, "hub": 15})
    holders = {"red": set(range(50)), "led": set(range(100, 160)), "laptop": set(range(150, 190)),
               "sub": set(range(900, 905)), "usb": set(range(300, 370)), "hub": set(range(360, 375))}
    count = matching_counter(holders)
    assert count("red laptop") == 0 and count("led laptop") == 10
    # Not even when titles hold the other reading word for word and it is far commoner
    # (tried: "con cable" became "com cable", "jvc cable" "pvc cable"; docs/relevance.md).
    in_titles = {"led laptop": 5, "usb hub": 9}.get
    for typed in ("red laptop", "sub hub"):
        assert correct(typed, words, count, enough=10) is None
        assert correct(typed, words, count, enough=10, count_in_titles=lambda text: in_titles(text, 0)) is None


def test_the_search_history_is_read_with_accents_folded():
    """Shoppers searched "Kühlschrank weiß" and "kuhlschrank weiss": one query. Typed either
    way it is not corrected; one edit from it, it is corrected to how shoppers mostly typed
    it, with the accents the catalog writes where they left them out."""
    from search_engine.spelling import correct_from_queries
    from search_engine.suggest.popularity import QueryLog, QueryScoring
    from search_engine.types import Event

    log = QueryLog()
    log.add([Event(user, user, 0.0, "search", query=query) for user, query in
             (("a", "kuhlschrank weiss"), ("b", "kuhlschrank weiss"), ("c", "Kühlschrank weiß"))])
    popular = log.ranked(QueryScoring(min_shoppers=3))
    assert popular.searched("KUHLSCHRANK WEISS") == popular.searched("kühlschrank weiß") == 3
    count = matching_counter({"kühlschrank": {1, 2}, "weiß": {1, 2, 3}, "kuhlschrank": {1, 2}, "weiss": {1, 2, 3}})
    for typed in ("kuhlschrank weiss", "Kühlschrank Weiß"):
        assert correct_from_queries(typed, popular, EMPTY, count, enough=10) is None
    assert correct_from_queries("kuhlschrank weis", popular, EMPTY, count, enough=10).text == "kuhlschrank weiss"
    catalog = SpellingDictionary.build([Product(str(i), "Kühlschrank weiß") for i in range(3)], fold_accents=True)
    fixed = correct_from_queries("kuhlschrank weis", popular, catalog, count, enough=10)
    assert (fixed.text, fixed.matching, fixed.searched) == ("kühlschrank weiß", 2, True)


def test_among_the_catalogs_readings_the_one_shoppers_searched_wins():
    words = SpellingDictionary({"cable": 50, "label": 60, "hdmi": 20})
    count = matching_counter({"hdmi": set(range(20)), "cable": set(range(10, 60)), "label": set(range(0, 60))})
    assert correct("hdmi cabel", words, count, enough=10).text == "hdmi label"  # more products hold it
    searched = {"hdmi cable": 12.0}.get
    assert correct("hdmi cabel", words, count, enough=10, searched=lambda q: searched(q, 0.0)).text == "hdmi cable"


def test_a_split_word_joins_a_code_run_into_a_word_splits_and_a_reading_never_repeats_a_word():
    words = SpellingDictionary({"tripod": 3, "tr": 40, "ipod": 80, "usb": 70, "hub": 15, "2110": 4, "toner": 12,
                                "brother": 30, "hd": 50, "cab": 9, "le": 20, "cable": 50, "hdmi": 20})
    holders = {"tripod": {1, 2, 3}, "tr": set(range(10, 50)), "ipod": set(range(100, 180)),
               "usb": set(range(300, 370)), "hub": set(range(360, 375)), "2110": {500, 501}, "toner": {500, 501, 502},
               "brother": {500, 501, 502}, "hd": set(range(800, 850)), "cab": {700}, "le": {701},
               "cable": set(range(610, 660)), "hdmi": set(range(600, 620))}
    count = matching_counter(holders)
    # "tr" and "ipod" are both real words, more widely held than "tripod": the join still wins
    assert correct("tr ipod", words, count, enough=10).text == "tripod"
    assert correct("brother 2110toner", words, count, enough=10).text == "brother 2110 toner"
    assert correct("usbuhb", words, count, enough=10).text == "usb hub"  # "usb usb" holds more, but repeats a word
    # One edit ("hd cab le") holds nothing: the fewest edits that make products match win
    assert correct("hdi cab le", words, count, enough=10).text == "hdmi cable"


def test_a_code_run_into_a_word_splits_even_when_one_product_holds_the_code():
    # A model code names one product: "tn-2110toner" is that toner; a word half still needs
    # two products ("tonr", one description's typo, is no half of a reading).
    words = SpellingDictionary({"tn": 40, "2110": 1, "toner": 12, "tonr": 1})
    count = matching_counter({"tn": set(range(40)), "2110": {7}, "toner": {7, 8, 9}, "tonr": {9}})
    assert correct("tn-2110toner", words, count, enough=10).text == "tn 2110 toner"
    assert words.splits("2110tonr") == [] and correct("tn-2110tonr", words, count, enough=10) is None


def test_corrections_keep_codes_respell_into_a_repeated_word_and_stop_one_level_past_the_fewest_edits():
    from search_engine.spelling import MAX_CORRECTED_WORDS, correct_from_queries
    from search_engine.suggest.popularity import QueryLog, QueryScoring
    from search_engine.types import Event

    log = QueryLog()
    log.add([Event(user, user, 0.0, "search", query="250gb ssd") for user in ("a", "b")])
    popular = log.ranked(QueryScoring())
    count = matching_counter({"250gb": set(range(30)), "750gb": {99}, "ssd": set(range(100))})
    assert popular.neighbours("750gb ssd") and \
        correct_from_queries("750gb ssd", popular, EMPTY, count, enough=10) is None
    words = SpellingDictionary({"hdmi": 20, "to": 90, "microwave": 1, "micro": 30, "wav": 5, "flat": 40})
    holders = {"hdmi": set(range(20)), "to": set(range(200)), "micro": set(range(300, 330)),
               "wav": set(range(320, 325)), "flat": set(range(310, 350)), "microwave": {400}}
    count = matching_counter(holders)
    assert correct("hdmi to hdmo", words, count, enough=10).text == "hdmi to hdmi"  # a respelling may repeat
    assert correct("flat microwave", words, count, enough=10) is None  # no "flat micro wav": relaxation's
    assert correct(" ".join(["wirelss"] * (MAX_CORRECTED_WORDS + 1)), DICTIONARY, count, enough=10) is None


def test_the_clean_queries_no_product_answers_are_seeded_pairs_of_title_words_held_apart(engine):
    """What `search-bench-suggest spelling` checks correction against: seeded pairs of the
    catalog's common title words that no product holds together ("wooden keyboard"), which a
    shopper may mean as typed (on this small slice, none is read as other words)."""
    from scripts.bench_suggest import unheld_pairs

    snapshot = engine.index.snapshot()
    pairs = unheld_pairs(snapshot, 300, seed=5)
    assert len(pairs) > 50 and pairs == unheld_pairs(snapshot, 300, seed=5) != unheld_pairs(snapshot, 300, seed=6)
    titles = " ".join(product.title.lower() for product in snapshot.products.live_products())
    for pair in pairs:
        first, second = pair.split(" ")
        assert first != second and first in titles and second in titles and snapshot.keyword.count(pair) == 0
        assert correct(pair, engine.spelling.get(), snapshot.keyword.count, engine.spelling_enough,
                       count_in_titles=snapshot.keyword.count_in_titles) is None, pair
