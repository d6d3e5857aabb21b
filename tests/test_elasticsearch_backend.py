"""The Elasticsearch backend: the request bodies we send (unit tests, no cluster needed), the
errors a user sees, and, with ELASTICSEARCH_URL set, a full build served from a live cluster.
The shared keyword contract runs in test_keyword_and_filters.py against both backends."""
import os

import pytest

from indexer.attributes import AttributeConfig
from indexer.filters import Filters
from indexer.keyword import KeywordConfig
from indexer.keyword.elasticsearch_index import (
    ElasticsearchConfig, ElasticsearchError, bulk_actions, connect, filter_clauses, fuzzy_body, index_body,
    knn_body, match_query, search_body)
from indexer.schema import Product

PRODUCT = Product("p1", "Brother TN-2110 toner cartridge", "Black toner", "Brother", "Toner Cartridge", 45.0,
                  {"model": "TN-2110", "product_colour": "Black", "ean": "123"})


def test_mapping_uses_english_stemming_and_exact_filter_keys():
    body = index_body(ElasticsearchConfig(url="http://x"))
    analyzer = body["settings"]["analysis"]["analyzer"]["product_english"]
    assert analyzer["filter"] == ["lowercase", "english_possessive", "english_stemmer"]
    properties = body["mappings"]["properties"]
    assert properties["title"]["analyzer"] == "product_english"
    assert properties["model"]["analyzer"] == "standard"  # codes are not stemmed
    assert properties["brand_key"] == {"type": "keyword"} and properties["category_key"] == {"type": "keyword"}
    assert "vector" not in properties and body["mappings"]["dynamic"] == "strict"


def test_synonyms_widen_the_query_itself_and_vectors_map_to_dense_vector():
    """Synonyms are the engine's query-time expansion (as tantivy's), not an analyzer: no reindex."""
    from indexer.keyword.synonyms import SynonymRule, Synonyms

    config = KeywordConfig()
    synonyms = Synonyms([SynonymRule("laptop => notebook"), SynonymRule("tv, television")])
    query = match_query("Laptop bag", config, synonyms=synonyms)
    laptop, bag = query["bool"]["must"]
    assert [c["combined_fields"]["query"] for c in laptop["bool"]["should"]] == ["laptop", "notebook"]
    assert laptop["bool"]["minimum_should_match"] == 1 and bag["combined_fields"]["query"] == "bag"
    assert match_query("notebook", config, synonyms=synonyms) == match_query("notebook", config)  # one-way
    assert search_body("tv", 5, None, config, synonyms)["query"]["bool"]["must"][0]["combined_fields"]["query"] \
        == "tv television"
    body = index_body(ElasticsearchConfig(url="http://x"), dimension=384)
    assert "product_synonyms" not in body["settings"]["analysis"]["filter"]
    assert body["mappings"]["properties"]["vector"] == {"type": "dense_vector", "dims": 384, "index": True,
                                                        "similarity": "dot_product"}


def test_bulk_actions_delete_first_and_use_doc_numbers_as_ids():
    actions = list(bulk_actions("products-v1", [4], [7], [PRODUCT], vectors=[[0.5, 0.5]]))
    assert actions[0] == {"_op_type": "delete", "_index": "products-v1", "_id": "4"}
    indexed = actions[1]
    assert (indexed["_op_type"], indexed["_id"]) == ("index", "7")
    source = indexed["_source"]
    assert source["doc"] == 7 and source["product_id"] == "p1"
    assert source["brand_key"] == "brother" and source["category_key"] == "toner cartridge"
    assert source["model"] == "TN-2110" and source["price"] == 45.0 and source["vector"] == [0.5, 0.5]
    assert "123" not in source["attributes"]  # EANs are not searchable text


def test_attributes_are_indexed_and_filtered_as_tantivy_does():
    attributes = AttributeConfig(facets=("product_colour",), numeric=("weight",))
    properties = index_body(ElasticsearchConfig(url="http://x"), attributes=attributes)["mappings"]["properties"]
    assert properties["attr_key"] == {"type": "keyword"}
    assert properties["number"]["properties"] == {"weight": {"type": "double"}}
    product = Product("p2", "Cable", attributes={"product_colour": " Dark  Grey", "weight": "12.5"})
    (action,) = bulk_actions("products-v1", [], [3], [product], attributes=attributes)
    assert action["_source"]["attr_key"] == ["product_colour=dark grey"]
    assert action["_source"]["number"] == {"weight": 12.5}
    filters = Filters(attributes=(("product_colour", ("Black", "White")),), ranges=(("weight", None, 100.0),))
    assert filter_clauses(filters) == [{"terms": {"attr_key": ["product_colour=black", "product_colour=white"]}},
                                       {"range": {"number.weight": {"lte": 100.0}}}]


def test_the_matched_set_query_needs_every_word_or_its_typo():
    config = KeywordConfig()
    exact = match_query("wireless mouse", config)["bool"]["must"]
    assert [m["combined_fields"]["query"] for m in exact] == ["wireless", "mouse"]
    with_typos = match_query("wireles mouse", config, typo_prone=["wireles"])["bool"]["must"]
    assert with_typos[0]["bool"]["minimum_should_match"] == 1
    assert {"fuzzy": {"title_plain": {"value": "wireles", "fuzziness": 1, "transpositions": True}}} in \
        with_typos[0]["bool"]["should"]
    assert "combined_fields" in with_typos[1]  # a word the catalog holds often enough: exact only


def test_search_body_mirrors_tantivy_boosts_and_filters():
    config = KeywordConfig(scoring="field-centric")
    body = search_body('Brother "TN-2110" AND toner', 10, Filters(brands=("Brother",), price_max=50), config)
    match = body["query"]["bool"]["must"][0]["multi_match"]
    assert match["query"] == "brother tn 2110 and toner"  # the same words tantivy gets
    assert match["type"] == "most_fields"
    assert match["fields"] == ["title^3", "model^2", "brand^2", "category^2", "description^1", "attributes^1"]
    assert body["query"]["bool"]["filter"] == [{"terms": {"brand_key": ["brother"]}},
                                               {"range": {"price": {"lte": 50}}}]
    assert body["size"] == 10 and search_body("!!!", 10, None, config) is None


def test_filter_clauses_mean_what_the_local_filters_mean():
    clauses = filter_clauses(Filters(brands=("HP", " Canon "), categories=("Mouse",), price_min=5, price_max=9))
    assert clauses == [{"terms": {"brand_key": ["hp", "canon"]}}, {"terms": {"category_key": ["mouse"]}},
                       {"range": {"price": {"gte": 5, "lte": 9}}}]
    assert filter_clauses(Filters()) == [] and filter_clauses(None) == []


def test_fuzzy_and_knn_bodies():
    fuzzy = fuzzy_body("logitec keyboards x", 10, None, KeywordConfig())
    clauses = fuzzy["query"]["bool"]["should"]
    assert {"fuzzy": {"title_plain": {"value": "logitec", "fuzziness": 1, "transpositions": True}}} in clauses
    assert {"fuzzy": {"brand_plain": {"value": "keyboards", "fuzziness": 2, "transpositions": True}}} in clauses
    assert not any("x" == next(iter(c["fuzzy"].values()))["value"] for c in clauses)  # short terms stay exact
    knn = knn_body([0.1, 0.2], 5, Filters(categories=("mouse",)))["knn"]
    assert knn["k"] == 5 and knn["num_candidates"] == 100
    assert knn["filter"] == [{"terms": {"category_key": ["mouse"]}}]
    assert "filter" not in knn_body([0.1], 5, None)["knn"]


def test_unreachable_cluster_is_a_clear_error():
    with pytest.raises(ElasticsearchError, match="cannot reach Elasticsearch at http://127.0.0.1:9"):
        connect(ElasticsearchConfig(url="http://127.0.0.1:9", request_timeout_s=2))


def test_missing_connection_for_the_backend_is_named(tmp_path):
    from indexer.keyword.factory import create_keyword_index

    with pytest.raises(ValueError, match="SEARCH_ELASTICSEARCH_URL"):
        create_keyword_index(tmp_path, "v1", KeywordConfig(backend="elasticsearch"), AttributeConfig())


@pytest.mark.elasticsearch
@pytest.mark.slow
@pytest.mark.parametrize("vectors", ["flat", "elasticsearch"])
def test_full_build_served_from_a_live_cluster(tmp_path, small_catalog, towers, vectors):
    url = os.environ.get("ELASTICSEARCH_URL")
    if not url:
        pytest.skip("ELASTICSEARCH_URL is not set: no live Elasticsearch cluster")
    from indexer.build import IndexConfig, build_version
    from indexer.search_index import SearchIndex
    from indexer.vectors import VectorIndexConfig
    from search_engine.engine import Engine
    from search_engine.types import Query

    es = ElasticsearchConfig(url=url, api_key=os.environ.get("ELASTICSEARCH_API_KEY"),
                             index_prefix=f"test-{vectors}")
    config = IndexConfig(vector=VectorIndexConfig(kind=vectors), keyword=KeywordConfig(backend="elasticsearch"))
    root = tmp_path / "index"
    build_version(small_catalog, towers.product, root, config, elasticsearch=es)
    engine = Engine(SearchIndex.open_current(root, elasticsearch=es), towers)
    target = small_catalog[0]
    for mode in ("keyword", "dense", "hybrid"):
        assert target.id in [h.product.id for h in engine.search(Query(target.title, k=5, mode=mode)).hits]
    client = connect(es)
    assert list(client.indices.get_alias(name=es.index_prefix)) == [f"{es.index_prefix}-{engine.index.version}"]


@pytest.mark.elasticsearch
@pytest.mark.slow
def test_switch_rollback_and_prune_keep_the_cluster_in_step(tmp_path, small_catalog, towers):
    """The alias follows the serving version through switch and rollback; pruning a version
    deletes its index; an update reaches the cluster before it is acknowledged."""
    url = os.environ.get("ELASTICSEARCH_URL")
    if not url:
        pytest.skip("ELASTICSEARCH_URL is not set: no live Elasticsearch cluster")
    from indexer import versions
    from indexer.build import IndexConfig, build_version
    from indexer.incremental import apply_updates
    from indexer.search_index import SearchIndex
    from indexer.switching import prune_versions, rollback, switch_to_version
    from search_engine.engine import Engine
    from search_engine.types import Query

    es = ElasticsearchConfig(url=url, api_key=os.environ.get("ELASTICSEARCH_API_KEY"), index_prefix="test-parity")
    config = IndexConfig(keyword=KeywordConfig(backend="elasticsearch"))
    root = tmp_path / "index"
    client = connect(es)

    def aliased():
        return list(client.indices.get_alias(name=es.index_prefix))

    first = build_version(small_catalog[:40], towers.product, root, config, elasticsearch=es, keep=5).name
    second = build_version(small_catalog[:50], towers.product, root, config, elasticsearch=es, keep=5).name
    assert aliased() == [f"test-parity-{second}"]
    index = SearchIndex.open_current(root, elasticsearch=es)
    new = Product("es-new", "Zorbix parity grinder", "", "Zorbix", "grinder", 10.0)
    apply_updates(index, towers.product, upserts=[new])
    assert [h.product.id for h in Engine(index, towers).search(Query("zorbix", mode="keyword")).hits] == ["es-new"]
    result = rollback(root, updates="drop", elasticsearch=es)
    assert result.to_version == first and result.updated == ["es-new"]
    assert aliased() == [f"test-parity-{first}"]
    switch_to_version(root, second, elasticsearch=es)
    assert aliased() == [f"test-parity-{second}"]
    assert prune_versions(root, keep=1, elasticsearch=es) == [first]
    assert not client.indices.exists(index=f"test-parity-{first}")
    assert first not in versions.list_versions(root)
    client.indices.delete(index=f"test-parity-{second}", ignore_unavailable=True)


@pytest.mark.elasticsearch
@pytest.mark.slow
def test_synonyms_match_the_same_products_on_both_backends(tmp_path, small_catalog, towers):
    """The same rules, the same matched sets and counts on tantivy and on a live cluster, and
    the same counts of titles holding words side by side."""
    url = os.environ.get("ELASTICSEARCH_URL")
    if not url:
        pytest.skip("ELASTICSEARCH_URL is not set: no live Elasticsearch cluster")
    from indexer.build import IndexConfig, build_version
    from indexer.keyword.synonyms import SynonymRule, Synonyms
    from indexer.search_index import SearchIndex

    es = ElasticsearchConfig(url=url, api_key=os.environ.get("ELASTICSEARCH_API_KEY"), index_prefix="test-synonyms")
    build_version(small_catalog, towers.product, tmp_path / "es", IndexConfig(keyword=KeywordConfig(
        backend="elasticsearch")), elasticsearch=es)
    build_version(small_catalog, towers.product, tmp_path / "tantivy")
    on_es = SearchIndex.open_current(tmp_path / "es", elasticsearch=es).snapshot().keyword
    on_tantivy = SearchIndex.open_current(tmp_path / "tantivy").snapshot().keyword
    synonyms = Synonyms([SynonymRule("knapsack => backpack"), SynonymRule("cable, cord"),
                         SynonymRule("usb hub, port replicator")])
    for text in ("knapsack", "hdmi cord", "usb hub", "backpack", "cable"):
        assert on_es.count(text, synonyms) == on_tantivy.count(text, synonyms), text
        assert list(on_es.matches(text, synonyms)[0]) == list(on_tantivy.matches(text, synonyms)[0]), text
    # Titles holding words side by side, which spelling correction reads: no synonyms there.
    for text in ("usb hub", "hub usb", "hdmi cable", "wireless mouse", "mouse"):
        assert on_es.count_in_titles(text) == on_tantivy.count_in_titles(text), text
