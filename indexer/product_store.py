"""The products of one index version, addressed by a dense integer doc number shared by
every index (vectors, keyword) of that version.

Updates never change a doc: an upserted product gets the next doc number and its previous
doc dies, so every index can apply the same change independently. A `ProductStore` is one
immutable view (a snapshot): the docs below its size, which of them are live, and the
filter columns over them. `with_changes` returns the next view; views share the append-only
`ProductTable` underneath, so a change costs its own size, not the catalog's.
"""
from __future__ import annotations

import gzip
import json
from pathlib import Path
from typing import Iterable, NamedTuple, Sequence

import numpy as np

from indexer.append_only import AppendOnlyArray, LiveDocs
from indexer.attributes import AttributeConfig, facet_values, numeric_value
from indexer.filters import Filters, filter_key
from indexer.schema import Product

PRODUCTS_FILE = "products.jsonl.gz"


class Vocabulary:
    """Filter keys (lower-cased brands or categories) as small integer codes; append-only."""

    def __init__(self):
        self.codes: dict[str, int] = {}
        self.names: list[str] = []  # the first spelling seen of each key, for display

    def code(self, value: str) -> int:
        """The code of a value, adding it if new (the writer's lock held)."""
        key = filter_key(value or "")
        code = self.codes.get(key)
        if code is None:
            self.names.append(value or "")
            code = self.codes[key] = len(self.names) - 1
        return code

    def lookup(self, keys: Iterable[str]) -> list[int]:
        """Codes of already normalised keys; unknown keys have none (nothing can match them)."""
        return [self.codes[key] for key in keys if key in self.codes]


class FlatSets(NamedTuple):
    """Every set's values in one array, set s's at flat[starts[s]:starts[s + 1]], and whether
    every set holds at most one (then only_value[s] is its value, 0 for none)."""
    starts: np.ndarray
    flat: np.ndarray
    only_value: np.ndarray
    single_valued: bool

    def values_of(self, set_codes: np.ndarray) -> np.ndarray:
        """The value codes of each of these sets, one after another (value 0, "no value", may
        stand for an empty set)."""
        if self.single_valued:  # the common case, several times faster
            return self.only_value[set_codes]
        lengths = self.starts[set_codes + 1] - self.starts[set_codes]
        ends = np.cumsum(lengths)
        offsets = np.arange(int(ends[-1]) if len(ends) else 0) - np.repeat(ends - lengths, lengths)
        return self.flat[np.repeat(self.starts[set_codes], lengths) + offsets]

    def holding(self, set_codes: np.ndarray, wanted: np.ndarray) -> np.ndarray:
        """For each of these sets, whether it holds any of the wanted value codes."""
        if self.single_valued:
            return np.isin(self.only_value[set_codes], wanted)
        found = np.concatenate([[0], np.cumsum(np.isin(self.values_of(set_codes), wanted))])
        lengths = self.starts[set_codes + 1] - self.starts[set_codes]
        ends = np.cumsum(lengths)
        return found[ends] > found[ends - lengths]


class ValueSets:
    """The sets of values products hold in one multi-valued attribute (a product "Bluetooth"
    and "USB"), as small integer set codes over a Vocabulary's value codes; append-only, set 0
    is "no value". A product's column holds its set's code, so the column stays one int32 per
    doc, and most sets hold one value."""

    def __init__(self):
        self.values = Vocabulary()
        self.values.code("")  # value 0, "no value": what an empty set reads as where one value is read
        self.codes: dict[tuple[int, ...], int] = {(): 0}
        self.members: list[tuple[int, ...]] = [()]
        # The published sets: replaced whole when a set is added, so a reader sees an old or a
        # new one, each complete.
        self.flat = FlatSets(np.zeros(1, dtype=np.int64), np.zeros(0, dtype=np.int32), np.zeros(0, dtype=np.int32), True)

    def code(self, values: Sequence[str]) -> int:
        """The set code of these values (the writer's lock held)."""
        members = tuple(sorted({self.values.code(value) for value in values}))
        code = self.codes.get(members)
        if code is None:
            self.members.append(members)
            code = self.codes[members] = len(self.members) - 1
        return code

    def publish(self) -> None:
        """Make sets added since the last call readable (the writer, after code): the new
        sets' arrays are appended to copies of the old (numpy copies, Python work only for
        the new sets)."""
        old = self.flat
        new = self.members[len(old.starts) - 1:]
        if not new:
            return
        starts = np.concatenate([old.starts, old.starts[-1] + np.cumsum([len(m) for m in new])])
        added = np.fromiter((v for m in new for v in m), dtype=np.int32, count=int(starts[-1] - old.starts[-1]))
        only_value = np.array([m[0] if len(m) == 1 else 0 for m in new], dtype=np.int32)
        self.flat = FlatSets(starts, np.concatenate([old.flat, added]), np.concatenate([old.only_value, only_value]),
                             old.single_valued and all(len(m) <= 1 for m in new))

    def holds(self, set_codes: np.ndarray, keys: Iterable[str]) -> np.ndarray:
        """For each of these sets, whether it holds any of these normalised keys: a cost that
        grows with the sets asked about, not with the attribute's values."""
        wanted = np.array([code for code in self.values.lookup(keys) if code], dtype=np.int32)  # never "no value"
        return self.flat.holding(set_codes, wanted)

    def expand(self, set_codes: np.ndarray) -> np.ndarray:
        """The value codes of each of these sets, one after another: a doc counted under each
        value it holds (value 0, "no value", may stand for an empty set)."""
        return self.flat.values_of(set_codes)


class ProductTable:
    """Every product a version has held, in doc order, with its filter columns; one writer
    appends (under the index's publish lock), readers read below their view's size."""

    def __init__(self, products: Sequence[Product], attributes: AttributeConfig = AttributeConfig()):
        self.products: list[Product] = []
        self.attributes = attributes
        self.brands = Vocabulary()
        self.categories = Vocabulary()
        self.price = AppendOnlyArray(np.zeros(0, dtype=np.float64))
        self.brand = AppendOnlyArray(np.zeros(0, dtype=np.int32))
        self.category = AppendOnlyArray(np.zeros(0, dtype=np.int32))
        # Facet attributes: the value sets products hold, and a set code column each.
        self.attribute_values = {name: ValueSets() for name in attributes.facets}
        self.attribute_codes = {name: AppendOnlyArray(np.zeros(0, dtype=np.int32)) for name in attributes.facets}
        self.attribute_numbers = {name: AppendOnlyArray(np.zeros(0, dtype=np.float64)) for name in attributes.numeric}
        self.docs_of: dict[str, list[int]] = {}  # every doc an id has had, ascending
        self.append(products)

    def columns(self) -> list[AppendOnlyArray]:
        return [self.price, self.brand, self.category, *self.attribute_codes.values(),
                *self.attribute_numbers.values()]

    def __len__(self) -> int:
        return len(self.products)

    def rewind(self, size: int) -> None:
        """Forget docs from `size` on: ones no published view holds (a failed write's)."""
        for product in self.products[size:]:
            docs = self.docs_of[product.id]
            while docs and docs[-1] >= size:
                docs.pop()
        del self.products[size:]
        for column in self.columns():
            column.rewind(size)

    def append(self, products: Sequence[Product]) -> None:
        start = len(self.products)
        self.price.append(np.array([np.nan if p.price is None else p.price for p in products], dtype=np.float64))
        self.brand.append(np.array([self.brands.code(p.brand) for p in products], dtype=np.int32))
        self.category.append(np.array([self.categories.code(p.category) for p in products], dtype=np.int32))
        for name, column in self.attribute_codes.items():
            sets = self.attribute_values[name]
            codes = [sets.code(facet_values(p.attributes.get(name), self.attributes.split_lists)) for p in products]
            column.append(np.array(codes, dtype=np.int32))
            sets.publish()
        for name, column in self.attribute_numbers.items():
            numbers = [numeric_value(p.attributes.get(name)) for p in products]
            column.append(np.array([np.nan if v is None else v for v in numbers], dtype=np.float64))
        for doc, product in enumerate(products, start):
            self.docs_of.setdefault(product.id, []).append(doc)
        self.products.extend(products)  # last: a doc is readable only once its columns are


class ProductStore:
    """One immutable view: docs below `size`, of which those in `live` are products."""

    def __init__(self, table: ProductTable, size: int, live: LiveDocs):
        self.table = table
        self.size = size
        self.live = live

    @classmethod
    def of(cls, products: Sequence[Product], attributes: AttributeConfig = AttributeConfig()) -> "ProductStore":
        """A fresh store: doc i is products[i], all live."""
        return cls(ProductTable(products, attributes), len(products), LiveDocs.all_live(len(products)))

    @property
    def attributes(self) -> AttributeConfig:
        return self.table.attributes

    def __len__(self) -> int:
        """Live products."""
        return len(self.live)

    @property
    def next_doc(self) -> int:
        return self.size

    def product(self, doc: int) -> Product:
        if not 0 <= doc < self.size:
            raise IndexError(f"doc {doc} is not in this view (size {self.size})")
        return self.table.products[doc]

    def doc_of(self, product_id: str) -> int | None:
        """The live doc of a product id in this view, or None."""
        for doc in reversed(tuple(self.table.docs_of.get(product_id, ()))):  # a copy: a rewind may pop
            if doc < self.size:
                return doc if doc in self.live else None
        return None

    def get(self, product_id: str) -> Product | None:
        doc = self.doc_of(product_id)
        return None if doc is None else self.table.products[doc]

    def alive(self, doc: int) -> bool:
        return doc in self.live

    def allowed_docs(self, filters: Filters) -> np.ndarray:
        """Live doc numbers that pass the filters, ascending (the dense leg's view of Filters)."""
        return np.flatnonzero(self._passing(filters, slice(0, self.size)))

    def passes(self, doc: int, filters: Filters) -> bool:
        """Whether one live doc passes the filters, by the same rules as allowed_docs."""
        return self.alive(doc) and bool(self._passing(filters, slice(doc, doc + 1))[0])

    def passing(self, docs: np.ndarray, filters: Filters) -> np.ndarray:
        """For each of these docs (below size), whether it is live and passes the filters:
        the same rules as allowed_docs, at a cost that grows with len(docs), not the catalog."""
        return self._passing(filters, np.asarray(docs, dtype=np.int64))

    def _passing(self, filters: Filters, rows: slice | np.ndarray) -> np.ndarray:
        mask = self.live.mask()[rows].copy()
        table = self.table
        if filters.brands:
            mask &= np.isin(table.brand.head(self.size)[rows], table.brands.lookup(filters.brands))
        if filters.categories:
            mask &= np.isin(table.category.head(self.size)[rows], table.categories.lookup(filters.categories))
        for name, values in filters.attributes:
            mask &= table.attribute_values[name].holds(table.attribute_codes[name].head(self.size)[rows], values)
        ranges = [(table.price, filters.price_min, filters.price_max)] + [
            (table.attribute_numbers[name], low, high) for name, low, high in filters.ranges]
        with np.errstate(invalid="ignore"):  # NaN (no value) compares False, so it never passes a range
            for column, low, high in ranges:
                if low is None and high is None:
                    continue
                values = column.head(self.size)[rows]
                if low is not None:
                    mask &= values >= low
                if high is not None:
                    mask &= values <= high
        return mask

    def value_codes(self, facet: str, docs: np.ndarray) -> tuple[np.ndarray, list[str]]:
        """The codes of a value facet ("brand", "category" or "attr.<name>") at these docs, a
        doc's every value of a multi-valued attribute, and each code's display name ("": no value)."""
        table = self.table
        if facet == "brand":
            column, vocabulary = table.brand, table.brands
        elif facet == "category":
            column, vocabulary = table.category, table.categories
        else:
            name = facet.removeprefix("attr.")
            sets = table.attribute_values[name]
            return sets.expand(table.attribute_codes[name].head(self.size)[docs]), sets.values.names
        return column.head(self.size)[docs], vocabulary.names

    def numbers(self, field: str, docs: np.ndarray) -> np.ndarray:
        """"price" or "attr.<numeric name>" at these docs; NaN where a product has none."""
        column = self.table.price if field == "price" else self.table.attribute_numbers[field.removeprefix("attr.")]
        return column.head(self.size)[docs]

    def with_changes(self, added: Sequence[Product], removed: Iterable[int]) -> "ProductStore":
        """The next view: `added` under the next doc numbers, `removed` docs dead. The
        writer's call (one at a time); this view stays as it was."""
        if len(self.table) != self.size:
            raise RuntimeError(f"only the newest view takes changes: the table holds {len(self.table)} docs, "
                               f"this view {self.size}")
        self.table.append(added)
        size = self.size + len(added)
        return ProductStore(self.table, size, self.live.grown(size).without(removed))

    def live_docs(self) -> np.ndarray:
        return np.flatnonzero(self.live.mask())

    def live_products(self) -> list[Product]:
        return [self.table.products[doc] for doc in self.live_docs()]

    def by_doc(self) -> list[Product | None]:
        """Every doc of this view in order, None for a dead one (lists indexed by doc number)."""
        live = self.live.mask()
        return [self.table.products[doc] if live[doc] else None for doc in range(self.size)]

    def brands(self) -> list[tuple[str, int]]:
        """Brands of live products with their counts, most common first."""
        codes = self.table.brand.head(self.size)[self.live.mask()]
        counts = np.bincount(codes, minlength=len(self.table.brands.names))
        named = [(self.table.brands.names[code], int(n)) for code, n in enumerate(counts) if n and
                 self.table.brands.names[code]]
        return sorted(named, key=lambda bc: (-bc[1], bc[0]))

    def save(self, directory: Path) -> None:
        """Every doc in order (a dead one as null), so doc numbers survive a reload."""
        with gzip.open(Path(directory) / PRODUCTS_FILE, "wt", encoding="utf-8") as out:
            for doc in range(self.size):
                product = self.table.products[doc] if doc in self.live else None
                out.write(json.dumps(product.to_dict() if product else None, ensure_ascii=False) + "\n")

    @classmethod
    def load(cls, directory: Path, attributes: AttributeConfig = AttributeConfig()) -> "ProductStore":
        with gzip.open(Path(directory) / PRODUCTS_FILE, "rt", encoding="utf-8") as lines:
            rows = [json.loads(line) for line in lines]
        dead = [doc for doc, row in enumerate(rows) if row is None]
        # A dead doc keeps its number with an empty placeholder that no view shows.
        products = [Product.from_dict(row) if row is not None else Product(id="", title="") for row in rows]
        store = cls.of(products, attributes)
        return ProductStore(store.table, store.size, store.live.without(dead)) if dead else store
