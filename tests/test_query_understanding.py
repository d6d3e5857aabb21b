"""Query understanding on real Icecat products: each signal it recognises, category
inference for products without a category, and one shared vocabulary under concurrency."""
from __future__ import annotations

import threading
from dataclasses import replace

import numpy as np
import pytest

from search_engine.types import Candidate, Query
from search_engine.understanding import version_vocabulary
from search_engine.understanding.analysis import analyze
from search_engine.understanding.features import RANKER_FEATURES, feature_matrix
from search_engine.understanding.vocabulary import build_vocabulary


@pytest.fixture(scope="module")
def vocabulary(engine):
    return engine.vocabulary.get()


def understood(engine, text):
    return analyze(text, engine.query_vectors(text), engine.vocabulary.get())


def features_of(engine, text, product_ids):
    store = engine.index.snapshot().products
    docs = [store.doc_of(i) for i in product_ids]
    hits = engine.search(Query(text, k=100)).hits
    by_doc = {h.candidate.doc: h.candidate for h in hits}
    candidates = [by_doc.get(d, Candidate(doc=d)) for d in docs]
    rows = feature_matrix(understood(engine, text), engine.vocabulary.get(), docs,
                          [store.product(d) for d in docs], candidates)
    return {name: rows[:, i] for i, name in enumerate(RANKER_FEATURES)}


def test_what_counts_as_a_model_code_and_the_kind_of_query(engine):
    from search_engine.understanding.vocabulary import is_code

    assert [t for t in ("tn2110", "2060", "ps4x", "a4", "128", "usb", "1080p") if is_code(t)] == [
        "tn2110", "2060", "ps4x", "1080p"]
    assert understood(engine, "brother tn-2110 toner").kind == "code"
    assert understood(engine, "brother toner").kind == "brand"
    assert understood(engine, "wireless mouse").kind == "descriptive"


def test_a_products_cached_word_set_is_what_computing_it_gives(engine):
    from search_engine.understanding.features import text_terms

    store = engine.index.snapshot().products
    vocabulary = engine.vocabulary.get()
    for doc in list(store.live_docs())[:20]:
        product = store.product(int(doc))
        first = vocabulary.text_terms(int(doc), product, text_terms)
        assert first == text_terms(product) and vocabulary.text_terms(int(doc), product, text_terms) is first


def test_brand_and_model_code_are_recognised_and_matched(engine):
    analysis = understood(engine, "brother tn-2110 toner")
    assert analysis.brands == ("Brother",)
    assert analysis.codes == ("tn2110",)
    store = engine.index.snapshot().products
    other_brother_toner = next(p.id for p in store.live_products()
                               if p.brand == "Brother" and "TN-2110" not in p.title and p.category == "toner cartridge")
    hp = next(p.id for p in store.live_products() if p.brand == "HP")
    features = features_of(engine, "brother tn-2110 toner", ["1365844", other_brother_toner, hp])
    assert features["code_match"].tolist() == [1.0, 0.0, 0.0]
    assert features["brand_named"].tolist() == [1.0, 1.0, 0.0]


def test_a_query_without_a_brand_or_code_leaves_those_features_missing(engine):
    features = features_of(engine, "wireless mouse", ["1365844"])
    assert np.isnan(features["brand_named"][0]) and np.isnan(features["code_match"][0])


def test_product_type_is_named_or_found_by_similarity(engine):
    assert "mouse" in understood(engine, "wireless mouse").types
    # The catalog says "notebook"; nobody wrote that "laptop" means it.
    laptop = understood(engine, "laptop")
    assert laptop.types == () and laptop.similar_types[0][0] == "notebook"
    store = engine.index.snapshot().products
    mouse = next(p.id for p in store.live_products() if p.category == "mouse")
    notebook_case = next(p.id for p in store.live_products() if p.category == "notebook case")
    features = features_of(engine, "wireless mouse", [mouse, notebook_case])
    assert features["type_named"].tolist() == [1.0, 0.0]
    assert features["type_similarity"][0] > features["type_similarity"][1]


def test_attribute_values_are_recognised_and_matched(engine):
    analysis = understood(engine, "black wireless mouse")
    values = {" ".join(v): names for v, names in analysis.attributes}
    assert "product_colour" in values["black"]
    store = engine.index.snapshot().products
    black = next(p.id for p in store.live_products() if p.attributes.get("product_colour") == "Black")
    white = next(p.id for p in store.live_products() if p.attributes.get("product_colour") == "White")
    features = features_of(engine, "black", [black, white])
    assert features["attribute_match"].tolist() == [1.0, 0.0]


def test_explain_shows_what_was_understood(client):
    body = client.get("/search", query_string={"q": "brother tn-2110 toner", "explain": "true"}).get_json()
    understood_json = body["explain"]["understood"]
    assert understood_json["brands"] == ["Brother"] and understood_json["codes"] == ["tn2110"]
    assert understood_json["similar_types"][0]["type"] == "toner cartridge"


def test_a_product_without_a_category_gets_its_neighbours_category(slice_products, towers):
    products = list(slice_products)
    toner = next(i for i, p in enumerate(products) if p.id == "1365844")
    assert products[toner].category == "toner cartridge"
    products[toner] = replace(products[toner], category="")
    vectors = towers.product.encode([f"{p.title} {p.description}" for p in products])
    vocabulary = build_vocabulary(products, vectors, towers.query.encode, attribute_max_chars=0)
    assert vocabulary.types[vocabulary.doc_types[toner]] == "toner cartridge"
    assert vocabulary.inference_accuracy is not None and vocabulary.inference_accuracy > 0.5


def test_a_brands_first_word_names_it_only_where_titles_use_it_for_that_brand(icecat_products):
    from search_engine.understanding.vocabulary import brand_aliases, normalize, words

    type_words = {normalize(w) for p in icecat_products if p.category for w in words(p.category)}
    aliases = brand_aliases(icecat_products, type_words)
    assert aliases[("kingston",)] == aliases[("kingston", "technology")] == "Kingston Technology"
    # Most titles saying "cooler" are other brands' CPU coolers: only "cooler master" names it.
    assert ("cooler",) not in aliases and aliases[("cooler", "master")] == "Cooler Master"
    assert aliases[("dell",)] == "DELL"  # the commonest brand keeps a shared word ("Dell Wyse")


def test_brands_types_and_values_are_recognised_typed_with_or_without_accents(towers):
    from indexer.schema import Product

    products = [Product(str(i), f"Nestlé Kühlschrank {i}", brand="Nestlé", category="Kühlschränke",
                        attributes={"colour": "Weiß"}) for i in range(5)]
    products.append(Product("5", "Dr. Oetker Crème brûlée", brand="Dr. Oetker", category="Desserts"))
    products.append(Product("6", "Nestle Kuhlschrank", brand="Nestle", category="Kühlschränke"))  # written plainly
    vocabulary = build_vocabulary(products, towers.product.encode([p.title for p in products]), towers.query.encode,
                                  attribute_max_chars=0)
    for text in ("nestle kuhlschranke weiss", "Nestlé Kühlschränke weiß", "NESTLÉ KÜHLSCHRÄNKE WEISS"):
        analysis = analyze(text, towers.query.encode([text])[0], vocabulary)
        assert analysis.brands == ("Nestlé",) and analysis.types == ("Kühlschränke",), text
        assert analysis.attributes == ((("weiss",), ("colour",)),), text
    rows = feature_matrix(analyze("nestle weiss", towers.query.encode(["nestle weiss"])[0], vocabulary),
                          vocabulary, [0, 5, 6], [products[i] for i in (0, 5, 6)], [Candidate(doc=d) for d in (0, 5, 6)])
    features = {name: rows[:, i] for i, name in enumerate(RANKER_FEATURES)}
    assert features["brand_named"].tolist() == [1.0, 0.0, 1.0]  # either spelling is the brand named
    assert features["attribute_match"].tolist() == [1.0, 0.0, 0.0]
    assert features["title_coverage"].tolist() == [0.5, 0.0, 0.5]  # "nestle" is a title word of the first


def test_concurrent_first_searches_build_one_vocabulary(engine, monkeypatch):
    builds = []
    real = version_vocabulary.build_vocabulary

    def counted(*args, **kwargs):
        builds.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(version_vocabulary, "build_vocabulary", counted)
    fresh = replace(engine, vocabulary=None)  # a new version's engine: nothing built yet
    seen, errors = [], []

    def search():
        try:
            result = fresh.search(Query("brother toner", explain=True))
            seen.append(result.understood["brands"])
        except Exception as exc:  # noqa: BLE001 - the assertion below reports it
            errors.append(exc)

    threads = [threading.Thread(target=search) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors and len(builds) == 1 and seen == [["Brother"]] * 8


def test_a_list_attribute_value_is_text_and_a_value_the_ranker_sees():
    """A JSONL catalog's ["Bluetooth", "USB"]: its words are the product's text (as the keyword
    leg searches them) and each item is an attribute value a query can name."""
    from indexer.schema import Product
    from search_engine.understanding.features import _has_value, text_terms

    remote = Product("r", "Remote", attributes={"connectivity": ["Bluetooth", "USB"], "ean": ["4006381333931"]})
    assert text_terms(remote) == {"remote", "bluetooth", "usb"}
    assert _has_value(remote, ("usb",), ("connectivity",)) and not _has_value(remote, ("usb",), ("colour",))


def test_per_field_bm25_by_hand_on_a_toy_corpus():
    """Each field's BM25 with its own statistics (Lucene's idf, k1 1.2, b 0.75), over the
    most the query's words that the field holds anywhere could score; computed here by hand."""
    import math

    from indexer.keyword.base import TEXT_FIELDS
    from indexer.schema import Product
    from search_engine.understanding.field_bm25 import FieldStatistics, query_stems

    products = [Product("p1", "Red wireless mouse", "A mouse", "Acme"), Product("p2", "Wired mice", brand="Beta"),
                Product("p3", "Wireless keyboard", brand="Acme"), None]  # a dead doc counts for nothing
    statistics = FieldStatistics.build(products, attribute_max_chars=0)
    stems = query_stems("Wireless MOUSE")  # the stemmer's words: "wireless", "mous"
    scores = statistics.scores(stems, [0, 1, 2], products[:3])
    title, description = TEXT_FIELDS.index("title"), TEXT_FIELDS.index("description")

    idf = {df: math.log(1 + (3 - df + 0.5) / (df + 0.5)) for df in (1, 2)}
    mean_title = (3 + 2 + 2) / 3

    def norm(length, mean):
        return 1.2 * (1 - 0.75 + 0.75 * length / mean)

    # Titles: "wireless" in 2 of 3, "mouse" in 1 ("mice" is not "mouse" to a stemmer); p1 holds both once
    best_title = (idf[2] + idf[1]) * 2.2
    assert scores[0, title] == pytest.approx((idf[2] + idf[1]) * 2.2 / (1 + norm(3, mean_title)) / best_title,
                                             rel=1e-5)
    assert scores[1, title] == 0.0
    assert scores[2, title] == pytest.approx(idf[2] * 2.2 / (1 + norm(2, mean_title)) / best_title, rel=1e-5)
    # Descriptions: only p1 has one ("a mouse": 2 words, mean 2/3); no description says
    # "wireless", so it counts neither way (a typo does not lower every field)
    assert scores[0, description] == pytest.approx(idf[1] * 2.2 / (1 + norm(2, 2 / 3)) / (idf[1] * 2.2), rel=1e-5)
    assert scores[:, TEXT_FIELDS.index("brand")].tolist() == [0.0, 0.0, 0.0]  # no brand holds either word
    assert np.isnan(statistics.scores((), [0], products[:1])).all()  # no words: the feature does not apply
    # A product added after the build (a live update's new doc) is counted from its text
    added = statistics.scores(stems, [7, 0], [products[0], products[0]])
    assert added[0].tolist() == added[1].tolist() == scores[0].tolist()


def test_the_ranker_reads_where_the_query_words_are(engine):
    """Per-field BM25 features on real products, with the version's attribute limit."""
    from indexer.keyword.factory import keyword_config

    vocabulary = engine.vocabulary.get()
    assert vocabulary.field_statistics.get().attribute_max_chars == keyword_config(
        engine.index.manifest).attribute_max_chars
    store = engine.index.snapshot().products
    toner = next(p for p in store.live_products() if "tn-2110" in p.title.lower())
    mouse = next(p for p in store.live_products() if p.brand == "Logitech" and "mouse" in p.title.lower())
    features = features_of(engine, "brother toner", [toner.id, mouse.id])
    assert features["title_bm25"][0] > 0 and features["brand_bm25"][0] > 0  # "Brother TN-2110 toner ..."
    assert features["title_bm25"][1] == features["brand_bm25"][1] == 0  # a Logitech mouse holds neither word
