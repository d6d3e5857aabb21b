"""Term-centric (BM25F) keyword scoring: the construction checked against the formula by
hand, its settings, the Elasticsearch query that means the same, and weight fitting."""
import json
import math

import pytest

from indexer.keyword.base import KeywordConfig, combined_text, parse_field_weights
from indexer.keyword.tantivy_index import TantivyKeywordIndex
from indexer.schema import Product

TOY = [Product("a", "Red lamp", "a lamp for desks"),
       Product("b", "Blue chair", "red cushion"),
       Product("c", "Green table", "oak")]
WEIGHTS = {"title": 2, "description": 1}  # the other fields weigh 0


def bm25f(query_terms, doc, docs, weights, k1=1.2, b=0.75):
    """BM25F from per-field term frequencies and lengths: tf and length are weighted sums
    over the fields; idf and the average length are over those combined documents."""
    def fields(p):
        return {"title": p.title.lower().split(), "description": p.description.lower().replace("desks", "desk").split()}

    def tf(p, term):
        return sum(w * fields(p)[f].count(term) for f, w in weights.items())

    def length(p):
        return sum(w * len(fields(p)[f]) for f, w in weights.items())

    average = sum(length(p) for p in docs) / len(docs)
    score = 0.0
    for term in query_terms:
        n = sum(1 for p in docs if tf(p, term) > 0)
        idf = math.log(1 + (len(docs) - n + 0.5) / (n + 0.5))
        f = tf(doc, term)
        score += idf * f * (k1 + 1) / (f + k1 * (1 - b + b * length(doc) / average)) if f else 0.0
    return score


def test_the_weighted_combined_field_scores_exactly_bm25f():
    index = TantivyKeywordIndex.create(None, KeywordConfig(scoring="term-centric", field_weights=WEIGHTS))
    index.add(range(len(TOY)), TOY)
    hits = dict(index.searcher().search("red lamp", 10))
    assert set(hits) == {0, 1}
    for doc in (0, 1):
        assert hits[doc] == pytest.approx(bm25f(["red", "lamp"], TOY[doc], TOY, WEIGHTS), rel=1e-5)
    # By hand for "a": red tf 2 (title twice), lamp tf 3, length 8, average 19/3.
    norm = 1.2 * (1 - 0.75 + 0.75 * 8 / (19 / 3))
    by_hand = math.log(1.6) * 2 * 2.2 / (2 + norm) + math.log(8 / 3) * 3 * 2.2 / (3 + norm)
    assert hits[0] == pytest.approx(by_hand, rel=1e-5)


def test_a_word_rare_in_one_field_is_not_over_rewarded_term_centric():
    """Both products hold both query words once. Field-centric scoring gives "charger" in the
    brand field, where it is rare, a high idf of its own and puts the cable first; term-centric
    scores it with the statistics of the whole product text, where "charger" is common, and
    prefers the charger (the shorter text)."""
    products = [Product("title", "Charger 65 W", "", brand="Lenovo"),
                Product("brand", "USB-C cable", "", brand="Lenovo Charger")] + \
               [Product(f"f{i}", f"charger model {i}", "charger for laptops") for i in range(20)]
    ranked = {}
    for scoring in ("term-centric", "field-centric"):
        index = TantivyKeywordIndex.create(None, KeywordConfig(scoring=scoring))
        index.add(range(len(products)), products)
        ranked[scoring] = [products[d].id for d, _ in index.searcher().search("lenovo charger", 2)]
    assert ranked["term-centric"] == ["title", "brand"]
    assert ranked["field-centric"] == ["brand", "title"]


def test_weights_are_whole_numbers_naming_known_fields():
    assert parse_field_weights("title=3, brand=0") == {"title": 3, "model": 1, "brand": 0, "category": 1,
                                                         "description": 1, "attributes": 1}
    assert parse_field_weights("title=2", base={"title": 1, "model": 3}) == {"title": 2, "model": 3}
    assert combined_text({"title": "t", "brand": "b", "model": "m"}, {"title": 2, "brand": 1}) == "t\nt\nb"
    with pytest.raises(ValueError, match="field_weights: 'title=x' is not FIELD=WHOLE_NUMBER"):
        parse_field_weights("title=x")
    with pytest.raises(ValueError, match="unknown field.*colour"):
        parse_field_weights("colour=2")
    with pytest.raises(ValueError, match="at least one above 0"):
        KeywordConfig(field_weights={"title": 0})
    with pytest.raises(ValueError, match="scoring: expected one of"):
        KeywordConfig(scoring="fieldwise")


def test_elasticsearch_scores_term_centric_with_combined_fields():
    from indexer.filters import Filters
    from indexer.keyword.elasticsearch_index import ElasticsearchConfig, index_body, search_body

    body = search_body("Lenovo charger", 10, Filters(), KeywordConfig(field_weights={"title": 2, "model": 1}))
    match = body["query"]["bool"]["must"][0]["combined_fields"]
    assert match == {"query": "lenovo charger", "fields": ["title^2", "model.english^1"], "operator": "or"}
    mapping = index_body(ElasticsearchConfig(url="http://x"))["mappings"]["properties"]["model"]
    assert mapping["fields"]["english"]["analyzer"] == "product_english"  # combined_fields needs one analyzer


def test_a_version_built_before_term_centric_scoring_opens_field_centric_and_takes_updates(tmp_path, monkeypatch):
    import tantivy

    from indexer.keyword import tantivy_index
    from indexer.keyword.factory import open_keyword_index

    def schema_without_combined(attributes):  # the schema versions were built with before the combined field
        builder = tantivy.SchemaBuilder()
        builder.add_integer_field("doc", stored=True, indexed=True, fast=True)
        for name in ("title", "model", "brand", "category", "description", "attributes"):
            builder.add_text_field(name, tokenizer_name="default" if name == "model" else "en_stem")
        for name, tokenizer in (("title_plain", "default"), ("brand_plain", "default"), ("brand_key", "raw"),
                                ("category_key", "raw")):
            builder.add_text_field(name, tokenizer_name=tokenizer)
        builder.add_float_field("price", indexed=True, fast=True)
        return builder.build()

    with monkeypatch.context() as patched:
        patched.setattr(tantivy_index, "_schema", schema_without_combined)
        old = TantivyKeywordIndex.create(tmp_path / "keyword", KeywordConfig(scoring="field-centric"))
        old.add(range(len(TOY)), TOY)
    manifest = {"version": "v-old", "vector_index": {"kind": "flat"},
                "keyword": {"backend": "tantivy", "boosts": {"title": 3.0}, "fuzzy_below": 10,
                            "fuzzy_min_term_length": 4}}
    reopened = open_keyword_index(tmp_path, manifest)
    assert reopened.config.scoring == "field-centric" and reopened.config.attribute_max_chars == 0
    assert reopened.config.fold_accents is False  # its text was indexed as written
    assert [d for d, _ in reopened.searcher().search("lamp", 3)] == [0]
    reopened.update([0], [3], [Product("a", "Red desk lamp", "")])  # an incremental update to it
    assert [d for d, _ in reopened.searcher().search("lamp", 3)] == [3]


def test_accents_are_folded_in_the_text_and_the_query_alike():
    """Shoppers type "creme" for "Crème" and "strasse" for "Straße": a version that folds
    accents (the default) matches both spellings both ways; one built without keeps each
    word as written, as versions built before folding do."""
    products = [Product("a", "Crème brûlée torch"), Product("b", "Kühlschrank weiß", brand="Bosché"),
                Product("c", "Street map", "Straße")]
    cases = {"creme": {0}, "Crème": {0}, "brulee torch": {0}, "kuhlschrank": {1}, "Kühlschrank": {1},
             "weiss": {1}, "bosche": {1}, "strasse": {2}, "STRASSE": {2}}
    folded = TantivyKeywordIndex.create(None, KeywordConfig())
    kept = TantivyKeywordIndex.create(None, KeywordConfig(fold_accents=False, fuzzy_below=0))
    for index in (folded, kept):
        index.add(range(len(products)), products)
    for query, found in cases.items():
        assert {doc for doc, _ in folded.searcher().search(query, 5)} == found, query
        assert {int(d) for d in folded.searcher().matches(query)[0]} == found, query
    assert {doc for doc, _ in kept.searcher().search("Crème", 5)} == {0}
    assert kept.searcher().search("brulee", 5) == [] and kept.searcher().search("strasse", 5) == []
    # A letter typed as a base letter and a combining accent is the accented letter.
    assert {doc for doc, _ in folded.searcher().search("Ku\u0308hlschrank", 5)} == {1}
    assert {doc for doc, _ in kept.searcher().search("Ku\u0308hlschrank", 5)} == {1}
    from indexer.filters import filter_key

    assert filter_key("Bosche\u0301") == filter_key("Bosché") == "bosché"
    # A typo of the plain spelling still finds the accented word (fuzzy terms are folded too).
    assert {doc for doc, _ in folded.searcher().search("kuhlschrnk", 5)} == {1}
    with pytest.raises(ValueError, match="fold_accents"):
        KeywordConfig(fold_accents="yes")
    # Letters that fold to capitals or brackets ("ᴏʀ" to "OR", "⑴" to "(1)") are words, not
    # query syntax, in both scorings; a capital from folding still matches the lower-case index.
    for scoring in ("term-centric", "field-centric"):
        odd = TantivyKeywordIndex.create(None, KeywordConfig(scoring=scoring))
        odd.add([0, 1], [Product("a", "Lamp or cable"), Product("b", "(1) gadget gear")])
        searcher = odd.searcher()
        assert [d for d, _ in searcher.search("lamp ᴏʀ", 5)] == [0] and searcher.count("ᴀɴᴅ") == 0
        assert {int(d) for d in searcher.matches("⑴⑵ ɢᴀᴅɢᴇᴛ")[0]} == {1}
        assert [d for d, _ in searcher.search("ǧear", 5)] == [1]  # tantivy folds ǧ to "G"

    from indexer.keyword.elasticsearch_index import bulk_actions, fuzzy_body, search_body  # the same on Elasticsearch

    (action,) = bulk_actions("products-v1", [], [0], [products[1]], fold_accents=True)
    assert action["_source"]["title"] == action["_source"]["title_plain"] == "Kuhlschrank weiss"
    assert action["_source"]["brand_plain"] == "Bosche" and action["_source"]["brand_key"] == "bosché"
    body = search_body("Crème brûlée", 5, None, KeywordConfig())
    assert body["query"]["bool"]["must"][0]["combined_fields"]["query"] == "creme brulee"
    assert search_body("Crème", 5, None, KeywordConfig(fold_accents=False))["query"]["bool"]["must"][0][
        "combined_fields"]["query"] == "crème"
    fuzzy_terms = {c["fuzzy"]["title_plain"]["value"] for c in fuzzy_body("kühlschrnk", 5, None, KeywordConfig())[
        "query"]["bool"]["should"] if "title_plain" in c["fuzzy"]}
    assert fuzzy_terms == {"kuhlschrnk"}


def test_long_attribute_values_stay_out_of_the_keyword_text_up_to_the_limit():
    blurb = "Bundled: " + "office suite, photo editor, " * 5 + "lamp manager"  # well over 60 characters
    products = [Product("blurb", "Desk organiser", attributes={"bundled_software": blurb}),
                Product("short", "Desk organiser", attributes={"light": "lamp"})]
    for limit, found in ((60, {1}), (0, {0, 1})):
        index = TantivyKeywordIndex.create(None, KeywordConfig(attribute_max_chars=limit))
        index.add([0, 1], products)
        assert {doc for doc, _ in index.searcher().search("lamp", 5)} == found
    with pytest.raises(ValueError, match="attribute_max_chars"):
        KeywordConfig(attribute_max_chars=-1)
    from indexer.keyword.elasticsearch_index import bulk_actions  # the same text on Elasticsearch

    (action,) = bulk_actions("products-v1", [], [0], [products[0]], attribute_max_chars=60)
    assert action["_source"]["attributes"] == ""
    (action,) = bulk_actions("products-v1", [], [0], [products[0]])
    assert "lamp manager" in action["_source"]["attributes"]


def test_fitting_finds_the_field_the_judgments_reward():
    """Judged relevant: products whose *title* names the query; the description of others
    mentions it more often. Fitting must not lower the title below the description."""
    from search_engine.fusion_tuning import Leg
    from search_engine.keyword_tuning import fit_keyword_config, hybrid_score

    products = []
    judgments = {}
    for i, word in enumerate(["lamp", "chair", "table", "shelf", "sofa", "desk"]):
        products.append(Product(f"t{i}", f"{word} deluxe", "sturdy"))
        products.append(Product(f"d{i}", "deluxe item", f"{word} {word} {word} accessory"))
        judgments[word] = {f"t{i}": 3.0}
    products += [Product(f"x{i}", f"filler {i}", "plain") for i in range(30)]
    doc_ids = [p.id for p in products]
    dense = {q: Leg((), frozenset()) for q in judgments}  # no dense leg: the keyword leg alone decides
    config, score = fit_keyword_config(products, dense, judgments, doc_ids, list(judgments), dense_weight=0.0)
    assert score == pytest.approx(1.0)
    assert config.field_weights["title"] > config.field_weights["description"]
    # A query with no product graded above 0 has no nDCG: it neither pulls a score to 0 nor
    # can anything be fitted on queries like it alone.
    judgments["lamp"] = {"t0": 0.0}
    assert hybrid_score(config, products, dense, judgments, doc_ids, ["lamp", "sofa"], 0.0) == pytest.approx(1.0)
    assert hybrid_score(config, products, dense, judgments, doc_ids, ["lamp"], 0.0) is None
    with pytest.raises(ValueError, match="no query has a product graded above 0"):
        fit_keyword_config(products, dense, judgments, doc_ids, ["lamp"], dense_weight=0.0)


def test_a_setting_is_scored_on_the_page_served_which_holds_only_the_matched_set():
    """The keyword leg ranks "red chair" first for "red lamp" (it holds one word), but the
    page serves only products holding every word or at least the dense floor similar: the
    lamp is first there, and that is what a setting is scored on."""
    from search_engine.fusion_tuning import Leg, served_ndcg

    doc_ids = ["red-chair", "red-lamp", "lamp-shade"]
    grades = {"red-lamp": 3.0, "red-chair": 0.0}
    keyword = Leg(((0, 5.0), (1, 4.0)), frozenset({1}))
    assert served_ndcg(Leg((), frozenset()), keyword, grades, doc_ids, 0.0) == pytest.approx(1.0)
    unmatched = Leg(keyword.ranking, frozenset({0, 1}))  # as if both held every word
    assert served_ndcg(Leg((), frozenset()), unmatched, grades, doc_ids, 0.0) == pytest.approx(1 / math.log2(3))
    near = Leg(((2, 0.9), (0, 0.8)), frozenset({2}))  # the shade is near enough; the chair is not
    assert served_ndcg(near, keyword, {"lamp-shade": 3.0}, doc_ids, 0.5) == pytest.approx(1.0)


def test_fitting_turns_accent_folding_on_where_shoppers_type_without_accents():
    from search_engine.fusion_tuning import Leg
    from search_engine.keyword_tuning import fit_keyword_config

    words = ["crème", "café", "purée", "pâté", "soufflé", "fondue"]
    products = [Product(f"p{i}", f"{word} set", "kitchen") for i, word in enumerate(words)]
    products += [Product(f"x{i}", f"filler {i}", "kitchen") for i in range(20)]
    judgments = {"creme set": {"p0": 3.0}, "cafe set": {"p1": 3.0}, "puree set": {"p2": 3.0},
                 "pate set": {"p3": 3.0}, "souffle set": {"p4": 3.0}, "fondue set": {"p5": 3.0}}
    dense = {q: Leg((), frozenset()) for q in judgments}
    config, score = fit_keyword_config(products, dense, judgments, [p.id for p in products], list(judgments),
                                       dense_weight=0.0, base=KeywordConfig(fold_accents=False))
    assert config.fold_accents is True and score == pytest.approx(1.0)


@pytest.mark.slow
def test_a_rebuild_keeps_the_serving_versions_fitted_weights(tmp_path, small_catalog):
    from indexer import versions
    from indexer.loaders import write_jsonl
    from scripts.reindex import main as reindex

    catalog = tmp_path / "catalog.jsonl"
    write_jsonl(small_catalog[:30], catalog)
    root = str(tmp_path / "index")
    common = ["--catalog", str(catalog), "--index", root, "--embedding-cache", str(tmp_path / "cache")]
    assert reindex(["full", *common, "--field-weights", "title=2,attributes=0", "--attribute-max-chars", "30",
                    "--no-fold-accents"]) == 0
    assert reindex(["full", *common]) == 0  # a routine rebuild
    keyword = versions.read_manifest(versions.current_dir(root))["keyword"]
    assert keyword["scoring"] == "term-centric" and keyword["attribute_max_chars"] == 30
    assert keyword["fold_accents"] is False
    assert keyword["field_weights"] == {"title": 2, "model": 1, "brand": 1, "category": 1, "description": 1,
                                        "attributes": 0}
    assert reindex(["full", *common, "--keyword-scoring", "field-centric", "--field-weights", "title=3"]) == 2
    # A version built before accents were folded chose nothing: its rebuild folds them.
    manifest_path = versions.current_dir(root) / versions.MANIFEST_FILE
    manifest = json.loads(manifest_path.read_text())
    del manifest["keyword"]["fold_accents"]
    manifest_path.write_text(json.dumps(manifest))
    assert reindex(["full", *common]) == 0
    assert versions.read_manifest(versions.current_dir(root))["keyword"]["fold_accents"] is True
