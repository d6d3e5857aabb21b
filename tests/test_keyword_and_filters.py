"""The keyword leg and the shared filter semantics, on hand-made products.

These are the keyword backends' contract: every test runs against tantivy, and against a
live Elasticsearch cluster when ELASTICSEARCH_URL is set (skipped otherwise).
"""
import os
import uuid

import pytest

from indexer.attributes import AttributeConfig
from indexer.filters import Filters
from indexer.keyword.tantivy_index import TantivyKeywordIndex
from indexer.product_store import ProductStore
from indexer.schema import Product

PRODUCTS = [
    Product("a", "Logitech M185 Wireless Mouse", "Compact cordless mouse", "Logitech", "mouse", 19.99,
            {"model": "M185", "product_colour": "Grey"}),
    Product("b", "Logitech K120 Keyboard", "Wired USB keyboard", "Logitech", "keyboard", 12.0, {"model": "K120"}),
    Product("c", "HP X3000 Wireless Mouse", "Mouse with nano receiver", "HP", "mouse", 29.5, {"model": "X3000"}),
    Product("d", "Brother TN-2110 toner cartridge Black", "Toner for HL-2140", "Brother", "toner cartridge", 45.0,
            {"model": "TN-2110"}),
    Product("e", "Generic wireless mouse", "No-name mouse", "NoName", "Mouse", None, {}),
    Product("f", "Speaker set with subwoofer", "Desk speakers", "Creative", "speakers", 60.0, {}),
]

ATTRIBUTES = AttributeConfig(facets=("product_colour",))


@pytest.fixture(scope="module", params=["tantivy", "elasticsearch"])
def keyword(request, tmp_path_factory):
    if request.param == "tantivy":
        index = TantivyKeywordIndex.create(tmp_path_factory.mktemp("kw") / "keyword", attributes=ATTRIBUTES)
        index.add(range(len(PRODUCTS)), PRODUCTS)
        yield index
        return
    url = os.environ.get("ELASTICSEARCH_URL")
    if not url:
        pytest.skip("ELASTICSEARCH_URL is not set: no live Elasticsearch cluster to run the contract against "
                    "(docker compose -f docker-compose.elasticsearch.yml up -d, then "
                    "ELASTICSEARCH_URL=http://localhost:9200)")
    from indexer.keyword import KeywordConfig
    from indexer.keyword.elasticsearch_index import ElasticsearchConfig, ElasticsearchKeywordIndex, connect

    config = ElasticsearchConfig(url=url, api_key=os.environ.get("ELASTICSEARCH_API_KEY"))
    client = connect(config)
    index = ElasticsearchKeywordIndex.create(client, f"test-products-{uuid.uuid4().hex[:8]}", config,
                                             KeywordConfig(), ATTRIBUTES)
    index.add(range(len(PRODUCTS)), PRODUCTS)
    yield index
    client.indices.delete(index=index.name, ignore_unavailable=True)


def ids(hits):
    return [PRODUCTS[doc].id for doc, _ in hits]


def test_bm25_ranks_matching_products_and_stems(keyword):
    hits = keyword.searcher().search("wireless mice", 10)  # "mice" does not stem to mouse, "wireless" matches
    assert set(ids(hits)) >= {"a", "c", "e"}
    assert "b" not in ids(hits)
    assert ids(keyword.searcher().search("keyboards", 10))[0] == "b"  # stemming: keyboards -> keyboard


def test_model_code_query_finds_the_product(keyword):
    assert ids(keyword.searcher().search("brother tn-2110 toner", 10))[0] == "d"


def test_query_syntax_in_user_text_is_harmless(keyword):
    assert ids(keyword.searcher().search('mouse AND "logitech" OR title:(', 10))  # no parse error
    assert keyword.searcher().search("   ", 10) == [] and keyword.searcher().search("!!!", 10) == []


def test_the_matched_set_holds_every_query_word_or_else_its_typo(keyword):
    docs, scores = keyword.searcher().matches("wireless mouse")
    assert [PRODUCTS[d].id for d in docs] == ["a", "c", "e"] and len(scores) == 3 and all(scores > 0)
    assert [PRODUCTS[d].id for d in keyword.searcher().matches("logitec mouse")[0]] == ["a"]  # few exact: typos
    assert len(keyword.searcher().matches("mouse toner")[0]) == 0


def test_facet_attributes_filter_the_keyword_leg(keyword):
    grey = Filters(attributes=(("product_colour", ("GREY", "pink")),))
    assert ids(keyword.searcher().search("mouse", 10, grey)) == ["a"]


def test_typo_falls_back_to_fuzzy_matching(keyword):
    assert keyword.searcher().search("logitec", 10) != []
    assert set(ids(keyword.searcher().search("logitec", 10))) == {"a", "b"}
    assert set(ids(keyword.searcher().search("logitexh", 10))) == {"a", "b"}  # two edits in a long word
    assert ids(keyword.searcher().search("subwofer", 10)) == ["f"]


def test_fuzzy_hits_rank_below_exact_hits(keyword):
    hits = keyword.searcher().search("speaker subwofer", 10)
    assert ids(hits)[0] == "f"


FILTER_CASES = [
    Filters(brands=("logitech",)),
    Filters(brands=("HP", "NoName")),
    Filters(categories=("MOUSE",)),
    Filters(price_min=15, price_max=30),
    Filters(price_max=19.99),
    Filters(price_min=20),
    Filters(brands=("Logitech",), categories=("mouse",), price_max=100),
]


@pytest.mark.parametrize("filters", FILTER_CASES)
def test_both_legs_apply_filters_identically(keyword, filters):
    """The keyword leg's matches under a filter are exactly the store's allowed set among matches."""
    store = ProductStore.of(PRODUCTS)
    allowed = set(store.allowed_docs(filters).tolist())
    unfiltered = {doc for doc, _ in keyword.searcher().search("mouse keyboard toner speaker wireless", 10)}
    filtered = {doc for doc, _ in keyword.searcher().search("mouse keyboard toner speaker wireless", 10, filters)}
    assert filtered == unfiltered & allowed


def test_filter_semantics_by_hand():
    store = ProductStore.of(PRODUCTS)
    docs = lambda f: [PRODUCTS[d].id for d in store.allowed_docs(f)]  # noqa: E731
    assert docs(Filters(brands=(" logitech ",))) == ["a", "b"]
    assert docs(Filters(categories=("mouse",))) == ["a", "c", "e"]  # case-insensitive
    assert docs(Filters(price_min=19.99, price_max=29.5)) == ["a", "c"]  # inclusive
    assert "e" not in docs(Filters(price_min=0))  # no price never passes a price filter
    assert docs(Filters()) == list("abcdef")


def test_update_deletes_and_adds_in_one_step(keyword):
    renamed = Product("b", "Logitech K120 Zorbix edition", "", "Logitech", "keyboard", 12.0, {})
    keyword.update([1], [len(PRODUCTS)], [renamed])
    try:
        assert [doc for doc, _ in keyword.searcher().search("zorbix", 10)] == [len(PRODUCTS)]
        assert 1 not in [doc for doc, _ in keyword.searcher().search("keyboard", 10)]
        assert keyword.num_docs() == len(PRODUCTS)
    finally:  # the module's other tests share this index
        keyword.update([len(PRODUCTS)], [1], [PRODUCTS[1]])


def test_invalid_filters_are_named():
    with pytest.raises(ValueError, match="price_min .* is above price_max"):
        Filters(price_min=10, price_max=5)
    with pytest.raises(ValueError, match="price_max must not be negative"):
        Filters(price_max=-1)
