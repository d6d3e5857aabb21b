"""Snapshots: a view never changes once published; the next one shares storage and costs
the change. The pieces, by hand, and the whole dense leg against brute force."""

import numpy as np
import pytest

from indexer.append_only import AppendOnlyArray, LiveDocs
from indexer.attributes import AttributeConfig
from indexer.filters import Filters
from indexer.product_store import ProductStore
from indexer.schema import Product
from indexer.vectors import VectorIndex, VectorIndexConfig
from indexer.vectors.segments import VectorTable
from tests.races import race


def test_append_only_array_views_never_change_when_it_grows():
    column = AppendOnlyArray(np.arange(3), headroom=2)
    before = column.head()
    column.append([3, 4])  # fills the headroom
    middle = column.head()
    column.append(np.arange(5, 40))  # moves to a bigger buffer
    assert before.tolist() == [0, 1, 2] and middle.tolist() == [0, 1, 2, 3, 4]
    assert column.head().tolist() == list(range(40))
    with pytest.raises(ValueError):
        before[0] = 9  # snapshots are read-only


def test_live_docs_copy_only_the_chunks_they_change():
    live = LiveDocs.all_live(3 * LiveDocs.CHUNK)
    after = live.without([5, LiveDocs.CHUNK * 2 + 1, 5, 10 ** 9])  # duplicates and out of range: ignored
    assert 5 in live and 5 not in after and (LiveDocs.CHUNK * 2 + 1) not in after
    assert len(live) == 3 * LiveDocs.CHUNK and len(after) == 3 * LiveDocs.CHUNK - 2
    assert after._chunks[1] is live._chunks[1]  # untouched chunk shared, not copied
    grown = after.grown(3 * LiveDocs.CHUNK + 10)
    assert 3 * LiveDocs.CHUNK + 9 in grown and 3 * LiveDocs.CHUNK + 10 not in grown
    assert grown.mask().sum() == len(grown) == 3 * LiveDocs.CHUNK + 8


PRODUCTS = [Product("a", "A", brand="Logitech", category="mouse", price=10.0),
            Product("b", "B", brand="HP", category="mouse", price=20.0),
            Product("c", "C", brand="logitech", category="keyboard", price=None)]


def test_a_product_view_is_unchanged_by_the_changes_after_it():
    first = ProductStore.of(PRODUCTS)
    replaced_a = Product("a", "A2", brand="Canon", category="printer", price=99.0)
    second = first.with_changes([replaced_a, Product("d", "D", brand="Logitech", price=5.0)], [0, 2])
    logitech = Filters(brands=("LOGITECH",))
    assert first.get("a").title == "A" and first.get("c") is not None and first.get("d") is None
    assert first.allowed_docs(logitech).tolist() == [0, 2] and len(first) == 3
    assert second.get("a").title == "A2" and second.get("c") is None and second.get("d").title == "D"
    assert second.allowed_docs(logitech).tolist() == [4] and len(second) == 3
    assert second.allowed_docs(Filters(brands=("canon",), price_min=50)).tolist() == [3]
    assert second.brands() == [("Canon", 1), ("HP", 1), ("Logitech", 1)]
    assert [p.id if p else None for p in second.by_doc()] == [None, "b", None, "a", "d"]
    assert [p.id for p in first.by_doc()] == ["a", "b", "c"]
    with pytest.raises(RuntimeError, match="only the newest view"):
        first.with_changes([Product("e", "E")], [])


def test_a_multi_valued_attribute_counts_and_filters_each_value():
    """A list value is several facet values: the product counts under each and passes a
    filter on any; repeats (as filters compare values) count once; an object is no value."""
    config = AttributeConfig(facets=("connectivity",))
    single = ProductStore.of([Product(str(i), "t", attributes={"connectivity": f"v{i % 3}"} if i != 4 else {})
                              for i in range(6)], config)
    codes, names = single.value_codes("attr.connectivity", np.arange(6))
    assert [names[code] for code in codes] == ["v0", "v1", "v2", "v0", "", "v2"]
    assert single.allowed_docs(Filters(attributes=(("connectivity", ("v2",)),))).tolist() == [2, 5]
    store = ProductStore.of([
        Product("a", "A", attributes={"connectivity": ["Bluetooth", "USB", "usb"]}),
        Product("b", "B", attributes={"connectivity": "USB"}),
        Product("c", "C", attributes={"connectivity": {"wired": True}}),
        Product("d", "D", attributes={"connectivity": ["Wi-Fi", 5]}),
        Product("e", "E")], config)
    codes, names = store.value_codes("attr.connectivity", np.arange(5))
    assert sorted(names[code] for code in codes) == ["5", "Bluetooth", "USB", "USB", "Wi-Fi"]
    assert store.allowed_docs(Filters(attributes=(("connectivity", ("usb",)),))).tolist() == [0, 1]
    assert store.allowed_docs(Filters(attributes=(("connectivity", ("bluetooth", "wi-fi")),))).tolist() == [0, 3]
    later = store.with_changes([Product("f", "F", attributes={"connectivity": ["NFC", "USB"]})], [1])
    assert later.allowed_docs(Filters(attributes=(("connectivity", ("usb",)),))).tolist() == [0, 5]
    assert store.allowed_docs(Filters(attributes=(("connectivity", ("nfc",)),))).tolist() == []


def test_multi_valued_filters_and_counts_hold_while_new_value_sets_are_added():
    """Readers filter and count views old and new while the writer appends products holding
    value sets never seen before (from one value each at first to several: the set table grows
    and changes layout underneath) and deletes some: every answer is its view's own."""
    import threading
    from collections import Counter

    config = AttributeConfig(facets=("tags",))
    views = [ProductStore.of([Product(f"p{i}", "t", attributes={"tags": f"w{i % 5}"}) for i in range(20)], config)]
    done = threading.Event()

    def write():
        rng = np.random.default_rng(1)
        for batch in range(300):
            added = [Product(f"n{batch}-{i}", "t", attributes={"tags": [f"w{j}" for j in rng.choice(
                40, size=rng.integers(0, 4), replace=False)] + ([f"n{batch}"] if batch % 3 else [])})
                for i in range(3)]
            removed = [int(rng.integers(views[-1].size))] if batch % 5 == 0 else []
            views.append(views[-1].with_changes(added, removed))
        done.set()

    def values_of(view, doc):
        tags = view.product(doc).attributes.get("tags") or []
        return {tag.lower() for tag in ([tags] if isinstance(tags, str) else tags)}

    def read(seed):
        rng = np.random.default_rng(seed)
        while not done.is_set():
            view = views[int(rng.integers(len(views)))]
            docs = view.live_docs()
            word = f"w{rng.integers(40)}" if rng.random() < 0.8 else f"n{rng.integers(300)}"
            held = [doc for doc in docs if word in values_of(view, doc)]
            assert view.allowed_docs(Filters(attributes=(("tags", (word,)),))).tolist() == held
            assert view.passing(np.array(held[:5], dtype=np.int64), Filters(attributes=(("tags", (word,)),))).all()
            codes, names = view.value_codes("attr.tags", docs)
            assert Counter(names[code].lower() for code in codes if names[code]) == Counter(
                value for doc in docs for value in values_of(view, doc))

    assert race(lambda seed: write() if seed == 0 else read(seed), threads=5) == []
    assert len(views) == 301


def unit(n, d=32, seed=0):
    x = np.random.default_rng(seed).standard_normal((n, d)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


@pytest.mark.parametrize("kind", ["flat", "hnsw"])
def test_the_dense_leg_over_base_and_delta_equals_brute_force_over_live_docs(kind):
    base_vectors = unit(400)
    products = ProductStore.of([Product(str(i), f"p{i}", brand="even" if i % 2 == 0 else "odd", price=float(i))
                                for i in range(400)])
    table = VectorTable(VectorIndex.build(base_vectors, VectorIndexConfig(kind=kind)))
    before = table.view(products)
    query = base_vectors[7] + 0.1 * unit(1, seed=9)[0]
    first_hits = before.search(query, 10)
    # Replace the 30 products nearest the query (their docs die in the base) and add 20 new ones.
    nearest = [doc for doc, _ in before.search(query, 30)]
    added = unit(50, seed=3)
    products = products.with_changes(
        [Product(str(d), f"p{d}-new", brand="even" if d % 2 == 0 else "odd", price=float(d)) for d in nearest] +
        [Product(f"n{i}", f"new{i}", brand="even", price=1.0) for i in range(20)], nearest)
    table.append(added)
    after = table.view(products)
    all_vectors = np.vstack([base_vectors, added])
    for filters in (None, Filters(brands=("even",)), Filters(price_max=100.0)):
        allowed = products.allowed_docs(filters or Filters())
        expected = allowed[np.argsort(-(all_vectors[allowed] @ query), kind="stable")][:10].tolist()
        assert [doc for doc, _ in after.search(query, 10, filters)] == expected
    assert before.search(query, 10) == first_hits  # the old snapshot answers as it did
    assert not set(nearest) & {doc for doc, _ in after.search(query, 50)}
    np.testing.assert_array_equal(after.vector(410), added[10])


def test_the_query_vector_cache_is_safe_under_concurrent_eviction():
    from search_engine.query_cache import QueryVectorCache

    class Encoder:
        def encode(self, texts):
            return np.array([[float(len(t)), float(sum(map(ord, t)))] for t in texts], dtype=np.float32)

    cache = QueryVectorCache(Encoder(), size=3)  # tiny: every call evicts

    def shop(seed):
        rng = np.random.default_rng(seed)
        for _ in range(5000):
            text = f"q{rng.integers(8)}"
            assert cache(text).tolist() == Encoder().encode([text])[0].tolist()

    assert race(shop) == [] and len(cache._vectors) <= 3  # the unlocked cache failed so
