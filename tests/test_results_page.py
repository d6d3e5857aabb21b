"""The results page over the matched set: exact totals, paging, sorting, facets and attribute
filters, on the real Icecat slice through the engine and the API."""
from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pytest

from indexer.attributes import AttributeConfig, check_attributes, numeric_value
from indexer.filters import Filters
from indexer.schema import Product
from search_engine.facets import auto_bounds, range_facet, round_down, value_facet
from search_engine.results_page import filters_for_value
from search_engine.types import MODES, FacetRequest, Query

QUERIES = ("wireless mouse", "hdmi cable", "usb hub")
VALUE_FACETS = ("brand", "category", "attr.product_colour", "attr.connectivity_technology")


def every_page(engine, query: Query, k: int = 7) -> list:
    """All hits of a query, page by page."""
    hits, offset = [], 0
    while True:
        page = engine.search(replace(query, k=k, offset=offset))
        hits += page.hits
        offset += k
        if offset >= page.total:
            return hits


@pytest.mark.parametrize("mode", MODES)
def test_paging_returns_the_matched_set_exactly_once(engine, mode):
    for text in QUERIES:
        query = Query(text, mode=mode)
        total = engine.search(query).total
        assert 0 < total < engine.index.product_count
        ids = [h.product.id for h in every_page(engine, query)]
        assert len(ids) == total and len(set(ids)) == total
        assert ids == [h.product.id for h in engine.search(replace(query, k=100)).hits][:total]


@pytest.mark.parametrize("mode", MODES)
def test_each_facet_value_counts_what_filtering_by_it_returns(engine, mode):
    for text in QUERIES:
        query = Query(text, mode=mode, facets=FacetRequest(VALUE_FACETS, size=100))
        result = engine.search(query)
        assert {f.name for f in result.facets} == set(VALUE_FACETS)
        for facet in result.facets:
            assert facet.other_values == 0
            for value, count in facet.values:
                filtered = Query(text, mode=mode, filters=filters_for_value(query.filters, facet.name, value))
                assert engine.search(filtered).total == count, (text, facet.name, value)


@pytest.mark.parametrize("mode", MODES)
def test_a_facet_ignores_its_own_selection_and_obeys_the_others(engine, mode):
    text = "hdmi cable"
    everything = engine.search(Query(text, mode=mode, facets=FacetRequest(("brand",), size=100))).facets[0]
    (chosen, chosen_count), (other, other_count) = everything.values[:2]
    selected = Query(text, mode=mode, filters=Filters(brands=(chosen,), price_max=1000),
                     facets=FacetRequest(("brand", "price"), size=100))
    result = engine.search(selected)
    brands = dict(result.facets[0].values)
    assert other in brands  # the brands the shopper could add still show, with their counts
    for value, count in brands.items():
        assert engine.search(replace(selected, filters=Filters(brands=(value,), price_max=1000))).total == count
    assert result.total == brands[chosen] <= chosen_count
    price = result.facets[1]  # price counts the selected brand, whatever its own range
    assert sum(b[2] for b in price.buckets) + price.missing == engine.search(
        replace(selected, filters=Filters(brands=(chosen,)))).total


def test_price_histogram_counts_every_matched_product_once(engine):
    query = Query("usb hub", facets=FacetRequest(("price",), price_buckets=(0, 20, 50)))
    result = engine.search(query)
    prices = [h.product.price for h in every_page(engine, query)]
    facet = result.facets[0]
    assert facet.buckets[0][:2] == (0, 20) and facet.buckets[-1][:2] == (50, None)
    assert [b[2] for b in facet.buckets] == [
        sum(1 for p in prices if p is not None and low <= p and (high is None or p < high))
        for low, high, _ in facet.buckets]
    assert facet.missing == sum(p is None for p in prices)
    assert facet.min == min(p for p in prices if p is not None)


@pytest.mark.parametrize("sort,descending", [("price_asc", False), ("price_desc", True)])
def test_sorting_orders_the_matched_set_across_pages_ties_in_relevance_order(engine, sort, descending):
    relevance = [h.product.id for h in every_page(engine, Query("hdmi cable"))]
    hits = every_page(engine, Query("hdmi cable", sort=sort), k=9)
    assert sorted(h.product.id for h in hits) == sorted(relevance)  # the same set, reordered
    priced = [h.product.price for h in hits if h.product.price is not None]
    assert priced == sorted(priced, reverse=descending)
    assert all(h.product.price is None for h in hits[len(priced):])  # no price: last
    position = {pid: i for i, pid in enumerate(relevance)}
    for a, b in zip(hits, hits[1:]):
        if a.product.price == b.product.price:
            assert position[a.product.id] < position[b.product.id]


def test_a_numeric_attribute_sorts_and_filters_by_range(engine):
    hits = every_page(engine, Query("cable", sort="attr.cable_length_desc", mode="keyword"), k=50)
    lengths = [float(h.product.attributes["cable_length"]) for h in hits if "cable_length" in h.product.attributes]
    assert len(lengths) > 5 and lengths == sorted(lengths, reverse=True)
    low, high = sorted(lengths)[len(lengths) // 4], sorted(lengths)[3 * len(lengths) // 4]
    for mode in MODES:
        ranged = every_page(engine, Query("cable", mode=mode, filters=Filters(ranges=(("cable_length", low, high),))))
        assert ranged and all(low <= float(h.product.attributes["cable_length"]) <= high for h in ranged)


def test_attribute_values_or_within_a_name_and_across_names(engine):
    colour = engine.search(Query("mouse", facets=FacetRequest(("attr.product_colour",)))).facets[0]
    (first, n1), (second, n2) = colour.values[:2]
    either = Filters(attributes=(("product_colour", (first, second)),))
    assert engine.search(Query("mouse", filters=either)).total == n1 + n2
    both = Filters(attributes=(("product_colour", (first,)), ("connectivity_technology", ("Wireless",))))
    hits = every_page(engine, Query("mouse", filters=both))
    assert hits and all(h.product.attributes["product_colour"].lower() == first.lower()
                        and h.product.attributes["connectivity_technology"] == "Wireless" for h in hits)


def test_the_keyword_leg_filters_attributes_as_the_product_columns_do(engine):
    snapshot = engine.index.snapshot()
    filters = Filters(attributes=(("product_colour", ("black", "white")),), ranges=(("weight", None, 100.0),))
    everything = snapshot.keyword.search("cable", 1000)
    expected = [doc for doc, _ in everything if snapshot.products.passes(doc, filters)]
    assert expected and [doc for doc, _ in snapshot.keyword.search("cable", 1000, filters)] == expected


def test_keyword_matches_hold_every_query_word(engine):
    snapshot = engine.index.snapshot()
    docs, _ = snapshot.keyword.matches("wireless mouse")
    texts = [" ".join([p.title, p.description, p.brand, p.category, *map(str, p.attributes.values())]).lower()
              for p in map(snapshot.products.product, docs)]
    assert len(docs) > 10 and all("wireless" in t and ("mouse" in t or "mice" in t) for t in texts)
    assert len(engine.search(Query("wireless mouse", mode="keyword")).hits) == min(10, len(docs))


def test_nothing_matched_gives_the_nearest_products_and_says_so(engine):
    result = engine.search(Query("wireles mice", correct_spelling=False))  # as typed: no relaxation
    assert result.match == "nearest" and result.total > 0
    assert "mouse" in result.hits[0].product.title.lower()
    assert engine.search(Query("wireless mouse")).match == "matched"
    assert engine.search(Query("qzxv wqzj")).match == "nearest"  # no word of it matches anything


def test_a_pinned_product_joins_the_matched_set(engine):
    from search_engine.merchandising import Rule

    outsider = next(p for p in engine.index.products.live_products() if "toner" in p.title.lower())
    rules = [Rule("wireless mouse", "pin", product_id=outsider.id, position=2)]
    pinned = replace(engine, rules=lambda: rules)
    before = engine.search(Query("wireless mouse", facets=FacetRequest(("brand",), size=100)))
    after = pinned.search(Query("wireless mouse", facets=FacetRequest(("brand",), size=100)))
    assert after.total == before.total + 1 and after.hits[1].product.id == outsider.id
    assert dict(after.facets[0].values)[outsider.brand] == dict(before.facets[0].values).get(outsider.brand, 0) + 1
    by_price = every_page(pinned, Query("wireless mouse", sort="price_asc"))
    assert outsider.id in [h.product.id for h in by_price]


@pytest.mark.parametrize("action", ["bury", "boost"])
def test_boosts_and_buries_move_products_across_every_page(engine, action):
    from search_engine.merchandising import Rule

    shallow = replace(engine, config=replace(engine.config, candidates=5))  # most of the set is below the ranked head
    brand = shallow.search(Query("hdmi cable", facets=FacetRequest(("brand",)))).facets[0].values[0][0]
    ruled = replace(shallow, rules=lambda: [Rule("hdmi cable", action, brand=brand)])
    hits = every_page(ruled, Query("hdmi cable"))
    chosen = [h.product.brand.lower() == brand.lower() for h in hits]
    assert 0 < sum(chosen) < len(chosen) and len(hits) > 10
    assert chosen == sorted(chosen, reverse=action == "boost")  # every one of them first (boost) or last (bury)
    assert all(h.candidate.merchandising for h, moved in zip(hits, chosen) if moved)


def test_price_buckets_count_half_open_ranges_and_what_lies_below(engine):
    query = Query("hdmi cable", facets=FacetRequest(("price",), price_buckets=(10, 20)))
    facet = engine.search(query).facets[0]
    prices = [h.product.price for h in every_page(engine, query) if h.product.price is not None]
    assert facet.below == sum(p < 10 for p in prices) > 0
    assert [b[2] for b in facet.buckets] == [sum(10 <= p < 20 for p in prices), sum(p >= 20 for p in prices)]
    # A price filter is inclusive at both ends: choosing [10, 20) is price_min=10 with price_max just under 20.
    assert engine.search(replace(query, filters=Filters(price_min=10, price_max=19.999))).total == facet.buckets[0][2]


def test_attribute_names_that_would_be_ambiguous_are_refused():
    for name in ("brand", "price", "category", "size_min", "weight_max", "model"):
        with pytest.raises(ValueError, match="facets: attribute names"):
            AttributeConfig(facets=(name,))


def test_a_version_without_attributes_serves_and_refuses_attribute_parameters(tmp_path, towers):
    import json

    from indexer.build import build_version
    from indexer.search_index import SearchIndex
    from search_engine.engine import Engine

    products = [Product(str(i), f"Wireless mouse {i}", brand="Acme", price=10.0 + i,
                        attributes={"product_colour": "Black"}) for i in range(12)]
    version = build_version(products, towers.product, tmp_path)
    manifest_path = version / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    del manifest["attributes"]  # as versions built before attributes were configurable
    manifest_path.write_text(json.dumps(manifest))
    engine = Engine(SearchIndex.open_current(tmp_path), towers)
    result = engine.search(Query("wireless mouse", facets=FacetRequest(("brand", "price"))))
    assert result.total == 12 and result.facets[0].values == [("Acme", 12)]
    for query in (Query("mouse", facets=FacetRequest(("attr.product_colour",))),
                  Query("mouse", filters=Filters(attributes=(("product_colour", ("black",)),))),
                  Query("mouse", sort="attr.weight_asc")):
        with pytest.raises(ValueError, match="attr"):
            engine.search(query)


def test_list_attribute_values_are_facet_values_and_searchable_text(tmp_path, towers):
    """A JSONL catalog's list values (["Bluetooth", "USB"]): each value is counted, filtered
    on by both legs alike, and its words are found by the keyword leg."""
    from indexer.build import IndexConfig, build_version
    from indexer.search_index import SearchIndex
    from search_engine.engine import Engine

    connectivity = [["Bluetooth", "USB"], ["USB"], "Bluetooth", ["Infrared"], None] * 3
    products = [Product(str(i), f"Remote control {i}", brand="Acme", price=10.0 + i,
                        attributes={"connectivity": value} if value else {})
                for i, value in enumerate(connectivity)]
    build_version(products, towers.product, tmp_path, IndexConfig(attributes=AttributeConfig(facets=("connectivity",))))
    engine = Engine(SearchIndex.open_current(tmp_path), towers)
    for mode in MODES:
        result = engine.search(Query("remote control", mode=mode, k=20,
                                     facets=FacetRequest(("attr.connectivity",), size=10)))
        assert result.facets[0].values == [("Bluetooth", 6), ("USB", 6), ("Infrared", 3)], mode
        usb = engine.search(Query("remote control", mode=mode, k=20,
                                  filters=Filters(attributes=(("connectivity", ("usb",)),))))
        assert sorted(int(h.product.id) for h in usb.hits) == [0, 1, 5, 6, 10, 11], mode
    infrared = engine.search(Query("infrared", mode="keyword", k=20))
    assert sorted(int(h.product.id) for h in infrared.hits) == [3, 8, 13]
    snapshot = engine.index.snapshot()
    usb = Filters(attributes=(("connectivity", ("usb",)),))
    assert sorted(doc for doc, _ in snapshot.keyword.search("remote control", 100, usb)) == [0, 1, 5, 6, 10, 11]


def test_a_version_built_before_lists_were_split_reads_a_list_as_one_value(tmp_path, towers):
    """Its keyword index holds one term for the whole list: its product columns read the list
    so too (from its manifest), so the two legs filter alike until it is rebuilt."""
    from indexer import versions
    from indexer.build import IndexConfig, build_version
    from indexer.search_index import SearchIndex

    products = [Product(str(i), f"Remote control {i}", attributes={"connectivity": ["Bluetooth", "USB"]})
                for i in range(3)] + [Product("3", "Remote control 3", attributes={"connectivity": "USB"})]
    old = AttributeConfig(facets=("connectivity",), split_lists=False)
    build_version(products, towers.product, tmp_path, IndexConfig(attributes=old))
    assert AttributeConfig.from_manifest({"attributes": {"facets": ["connectivity"]}}) == old  # no split_lists: old
    assert versions.read_manifest(versions.current_dir(tmp_path))["attributes"]["split_lists"] is False
    snapshot = SearchIndex.open_current(tmp_path).snapshot()
    for value, expected in (("usb", [3]), ("['bluetooth', 'usb']", [0, 1, 2])):
        filters = Filters(attributes=(("connectivity", (value,)),))
        assert snapshot.products.allowed_docs(filters).tolist() == expected
        assert sorted(doc for doc, _ in snapshot.keyword.search("remote control", 100, filters)) == expected


def test_the_api_returns_facets_total_and_sort(client):
    body = client.get("/search", query_string={
        "q": "hdmi cable", "facets": "brand,price,attr.product_colour,attr.cable_length", "facet_size": 3,
        "sort": "price_asc", "attr.product_colour": "Black", "k": 5}).get_json()
    assert body["sort"] == "price_asc" and body["match"] == "matched"
    assert body["filters"]["attr.product_colour"] == ["black"]
    facets = body["facets"]
    assert facets["brand"]["type"] == "values" and len(facets["brand"]["values"]) <= 3
    assert facets["price"]["type"] == "range" and facets["attr.cable_length"]["type"] == "range"
    assert sum(b["count"] for b in facets["price"]["buckets"]) + facets["price"]["missing"] == body["total"]
    colours = {v["value"].lower() for v in facets["attr.product_colour"]["values"]}
    assert "black" in colours and len(colours) > 1  # its own selection does not narrow it
    prices = [r["price"] for r in body["results"]]
    assert prices == sorted(prices)


@pytest.mark.parametrize("query,parameter,fragment", [
    ("q=mouse&facets=colour", "facets", "not a facet"),
    ("q=mouse&facets=attr.nothing", "facets", "not a facet"),
    ("q=mouse&sort=cheapest", "sort", "expected relevance"),
    ("q=mouse&sort=attr.product_colour_asc", "sort", "not a numeric attribute"),
    ("q=mouse&attr.nothing=1", "attr.nothing", "not a filterable attribute"),
    ("q=mouse&attr.weight_min=abc", "attr.weight_min", "number"),
    ("q=mouse&attr.weight_min=5&attr.weight_max=1", "attr.weight_min", "above"),
    ("q=mouse&attr.product_colour_min=1", "attr.product_colour_min", "not a numeric attribute"),
    ("q=mouse&price_buckets=10,5", "price_buckets", "ascending"),
    ("q=mouse&price_buckets=a", "price_buckets", "numbers"),
    ("q=mouse&facet_size=0", "facet_size", "between 1 and 100"),
    ("q=mouse&offset=9901", "offset", "between"),
])
def test_bad_facet_sort_and_attribute_parameters_get_a_400_naming_them(client, query, parameter, fragment):
    response = client.get(f"/search?{query}")
    assert response.status_code == 400
    error = response.get_json()["error"]
    assert error["parameter"] == parameter and fragment in error["message"]


def test_the_build_checks_the_attribute_configuration():
    products = [Product("a", "Cable", attributes={"weight": "12.5", "colour": "Black"}),
                Product("b", "Cable", attributes={"weight": "heavy"})]
    with pytest.raises(ValueError, match=r"row 2 \(product b\): attributes.weight 'heavy' is not a number"):
        check_attributes(products, AttributeConfig(facets=("colour",), numeric=("weight",)))
    with pytest.raises(ValueError, match="'size' is configured but no product has it"):
        check_attributes(products[:1], AttributeConfig(facets=("size",)))
    with pytest.raises(ValueError, match="facets: attribute names"):
        AttributeConfig(facets=("model",))
    with pytest.raises(ValueError, match=r"attributes.colour \['Black', \{'rgb': 0\}\] holds an object"):
        check_attributes([Product("c", "Cable", attributes={"colour": ["Black", {"rgb": 0}]})],
                         AttributeConfig(facets=("colour",)))
    # A comma locale's numbers are numbers ("1,5" kg), as its prices are.
    check_attributes([Product("d", "Cable", attributes={"weight": "1,5"})], AttributeConfig(numeric=("weight",)))
    assert numeric_value("1,5") == 1.5 and numeric_value(" 0,45 ") == 0.45 and numeric_value("heavy") is None
    # 1,250 is 1250 in English and 1.25 where the comma is the decimal mark: refused, never guessed.
    assert numeric_value("1,250") is None and numeric_value("0,450") is None


def test_an_update_with_a_non_numeric_value_is_refused_whole(client, engine):
    bad = {"id": "new-1", "title": "Cable", "attributes": {"weight": "heavy"}}
    response = client.post("/admin/products", json={"products": [bad]}, headers={"Authorization": "Bearer test-token"})
    assert response.status_code == 400 and "attributes.weight 'heavy'" in response.get_json()["error"]["message"]
    assert engine.index.products.get("new-1") is None


def test_value_facet_counts_top_values_and_skips_missing():
    facet = value_facet("brand", np.array([1, 1, 2, 0, 3, 3, 3]), ["", "HP", "Canon", "Dell"], 2)
    assert facet.values == [("Dell", 3), ("HP", 2)] and facet.other_values == 1


def test_range_facet_buckets_are_half_open_and_the_last_is_open():
    facet = range_facet("price", np.array([1.0, 2.0, 3.0, np.nan, 10.0, -1.0]), (0, 2, 5))
    assert facet.buckets == [(0, 2, 1), (2, 5, 2), (5, None, 1)]  # -1 is below the first bound
    assert (facet.min, facet.max, facet.missing) == (-1.0, 10.0, 1)


def test_automatic_price_bounds_are_round_quantiles():
    assert [round_down(v) for v in (0.37, 3, 74, 120, 260)] == [0.25, 2.5, 50, 100, 250]
    prices = np.array([3.0, 8, 12, 15, 19, 24, 30, 45, 80, 120, 400, 999])
    bounds = auto_bounds(prices)
    assert bounds[0] <= prices.min() and bounds == sorted(set(bounds)) and len(bounds) >= 3
    assert all(round_down(b) == b for b in bounds)
    facet = range_facet("price", prices)
    assert sum(b[2] for b in facet.buckets) == len(prices) and not math.isnan(facet.max)



def test_contains_agrees_with_isin():
    from search_engine.matching import contains

    rng = np.random.default_rng(3)
    for size in (0, 1, 50):
        haystack = np.unique(rng.integers(0, 100, size))
        needles = rng.integers(-5, 105, 40)
        assert (contains(haystack, needles) == np.isin(needles, haystack)).all()
