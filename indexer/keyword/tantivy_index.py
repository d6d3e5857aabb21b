"""BM25 keyword search with tantivy, embedded in the process (no server)."""
from __future__ import annotations

import shutil
from pathlib import Path
from typing import Sequence

import numpy as np
import tantivy

from indexer.attributes import AttributeConfig, facet_term, facet_terms, numeric_value
from indexer.filters import Filters, filter_key
from indexer.keyword.base import (TEXT_FIELDS, KeywordConfig, append_fuzzy_hits, combined_text, product_texts,
                                  query_terms)
from indexer.keyword.synonyms import NO_SYNONYMS, Slot, Synonyms, every_word, single_words
from indexer.schema import Product

# Fuzzy matching compares the shopper's misspelt word with indexed words, so it runs on
# unstemmed copies: "subwofer" is one edit from "subwoofer", two from its stem "subwoof".
FUZZY_FIELDS = ("title_plain", "brand_plain", "model")
WRITER_HEAP = 128_000_000
# An incremental update writes a few documents: a small single-threaded writer commits them
# as fast and does not leave a 128 MB arena behind in a serving process each time.
SMALL_BATCH, SMALL_WRITER_HEAP = 1_000, 16_000_000


def _schema(attributes: AttributeConfig) -> "tantivy.Schema":
    builder = tantivy.SchemaBuilder()
    # Integer, not unsigned: unsigned ids fail on Python ints in tantivy 0.27.
    builder.add_integer_field("doc", stored=True, indexed=True, fast=True)
    for name in TEXT_FIELDS:
        # Model codes keep their exact spelling; everything else is stemmed English.
        builder.add_text_field(name, tokenizer_name="default" if name == "model" else "en_stem")
    # Term-centric scoring's one field: every text field, each its weight times.
    builder.add_text_field("combined", tokenizer_name="en_stem")
    builder.add_text_field("title_plain", tokenizer_name="default")
    builder.add_text_field("brand_plain", tokenizer_name="default")
    builder.add_text_field("brand_key", tokenizer_name="raw")
    builder.add_text_field("category_key", tokenizer_name="raw")
    builder.add_float_field("price", indexed=True, fast=True)
    # Facet attributes as "name=value" keys (filter_key'd); numeric ones as a number field each.
    builder.add_text_field("attr_key", tokenizer_name="raw")
    for name in attributes.numeric:
        builder.add_float_field(_number_field(name), indexed=True, fast=True)
    return builder.build()


def _number_field(name: str) -> str:
    return f"number_{name}"


class TantivyKeywordIndex:
    """One version's tantivy index on disk. One writer at a time (the version's write lock);
    `searcher()` gives a point-in-time view that later commits do not change."""

    def __init__(self, index: "tantivy.Index", config: KeywordConfig, attributes: AttributeConfig):
        self.index = index
        self.config = config
        self.attributes = attributes
        self.schema = index.schema
        self.fields = [f for f in TEXT_FIELDS if config.boosts.get(f, 0) > 0]

    @classmethod
    def create(cls, directory: Path | None, config: KeywordConfig | None = None,
               attributes: AttributeConfig = AttributeConfig()) -> "TantivyKeywordIndex":
        """A new index in `directory` (None: in memory, for fitting settings)."""
        config = config or KeywordConfig()
        if directory is None:
            return cls(tantivy.Index(_schema(attributes)), config, attributes)
        directory = Path(directory)
        if directory.exists():
            shutil.rmtree(directory)
        directory.mkdir(parents=True)
        return cls(tantivy.Index(_schema(attributes), path=str(directory)), config, attributes)

    @classmethod
    def open(cls, directory: Path, config: KeywordConfig, attributes: AttributeConfig) -> "TantivyKeywordIndex":
        """config, attributes: the ones it was built with (its manifest's; indexer.keyword.factory)."""
        return cls(tantivy.Index.open(str(directory)), config, attributes)

    def add(self, docs: Sequence[int], products: Sequence[Product], vectors=None) -> None:
        self.update([], docs, products, vectors)

    def update(self, remove_docs: Sequence[int], add_docs: Sequence[int], products: Sequence[Product],
               vectors=None) -> None:
        """Delete and add documents in one commit. Idempotent: a doc is deleted before it is
        added. Vectors are not kept here (FAISS holds them)."""
        small = len(add_docs) <= SMALL_BATCH
        writer = self.index.writer(heap_size=SMALL_WRITER_HEAP if small else WRITER_HEAP, num_threads=1 if small else 0)
        for doc in list(remove_docs) + list(add_docs):
            writer.delete_documents_by_term("doc", int(doc))
        for doc, product in zip(add_docs, products):
            writer.add_document(self._document(doc, product, self.config, self.attributes))
        writer.commit()
        writer.wait_merging_threads()

    def searcher(self) -> "TantivySearcher":
        """What is committed now, this process's commits and other processes' alike."""
        self.index.reload()
        return TantivySearcher(self, self.index.searcher())

    def num_docs(self) -> int:
        return self.searcher().num_docs

    def manifest(self) -> dict:
        return {}

    def mark_serving(self) -> None:
        """Nothing to point: the version's folder is the index."""

    def drop(self) -> None:
        """Nothing outside the version's folder, which pruning removes."""

    @staticmethod
    def _document(doc: int, product: Product, config: KeywordConfig, attributes: AttributeConfig
                  ) -> "tantivy.Document":
        texts = {name: config.keyword_form(text)
                 for name, text in product_texts(product, config.attribute_max_chars).items()}
        fields = {
            "doc": [int(doc)],
            **{name: [text] for name, text in texts.items()},
            "combined": [combined_text(texts, config.field_weights) if config.scoring == "term-centric" else ""],
            "title_plain": [texts["title"]],
            "brand_plain": [texts["brand"]],
            "brand_key": [filter_key(product.brand)],
            "category_key": [filter_key(product.category)],
        }
        if product.price is not None:
            fields["price"] = [float(product.price)]
        if attributes.facets:  # versions built before attributes have no attr_key field
            fields["attr_key"] = [term for name in attributes.facets
                                  for term in facet_terms(name, product.attributes.get(name), attributes.split_lists)]
        for name in attributes.numeric:
            number = numeric_value(product.attributes.get(name))
            if number is not None:
                fields[_number_field(name)] = [number]
        return tantivy.Document(**fields)


class TantivySearcher:
    """A point-in-time tantivy searcher with the engine's query semantics; read-only."""

    def __init__(self, index: TantivyKeywordIndex, searcher: "tantivy.Searcher"):
        self.index = index
        self.searcher = searcher
        self.num_docs = searcher.num_docs

    def _filter_clauses(self, filters: Filters) -> list:
        schema, Occur = self.index.schema, tantivy.Occur
        clauses = []
        if filters.brands:
            clauses.append((Occur.Must, tantivy.Query.term_set_query(schema, "brand_key", list(filters.brands))))
        if filters.categories:
            clauses.append((Occur.Must, tantivy.Query.term_set_query(schema, "category_key", list(filters.categories))))
        if filters.has_price_range:
            clauses.append((Occur.Must, tantivy.Query.range_query(
                schema, "price", tantivy.FieldType.Float, filters.price_min, filters.price_max)))
        for name, values in filters.attributes:
            clauses.append((Occur.Must, tantivy.Query.term_set_query(
                schema, "attr_key", [facet_term(name, value) for value in values])))
        for name, low, high in filters.ranges:
            clauses.append((Occur.Must, tantivy.Query.range_query(
                schema, _number_field(name), tantivy.FieldType.Float, low, high)))
        return clauses

    def _run(self, text_query, filters: Filters | None, k: int) -> list[tuple[int, float]]:
        clauses = [(tantivy.Occur.Must, text_query)] + (self._filter_clauses(filters) if filters else [])
        query = tantivy.Query.boolean_query(clauses) if len(clauses) > 1 else text_query
        hits = self.searcher.search(query, limit=k, count=False).hits
        docs = self.searcher.fast_field_values("doc", [address for _, address in hits])
        return [(int(doc), float(score)) for (score, _), doc in zip(hits, docs)]

    def search(self, text: str, k: int, filters: Filters | None = None,
               synonyms: Synonyms = NO_SYNONYMS) -> list[tuple[int, float]]:
        terms = query_terms(text)
        if not terms or k <= 0:
            return []
        config = self.index.config
        hits = self._run(self._text_query(" ".join(every_word(synonyms.expand(terms)))), filters, k)
        if len(hits) >= min(k, config.fuzzy_below):
            return hits
        return append_fuzzy_hits(hits, self._fuzzy_hits(terms, filters, k + len(hits)), k)

    def _fuzzy_hits(self, terms, filters, k) -> list[tuple[int, float]]:
        """Hits within one edit (two for terms of 8+ letters) of the query terms."""
        long_terms = [t for t in terms if len(t) >= self.index.config.fuzzy_min_term_length]
        if not long_terms:
            return []
        fuzzy = tantivy.Query.boolean_query([
            (tantivy.Occur.Should, query) for term in long_terms for query in self._fuzzy_queries(term)])
        return self._run(fuzzy, filters, k)

    def _fuzzy_queries(self, term: str) -> list:
        distance = 1 if len(term) < 8 else 2
        return [tantivy.Query.fuzzy_term_query(self.index.schema, field, word, distance=distance,
                                               transposition_cost_one=True)
                for word in self.index.config.query_words(term)  # term queries: no tokenizer folds them
                for field in FUZZY_FIELDS]

    def _text_query(self, text: str):
        config = self.index.config
        text = " ".join(config.query_words(text))
        if config.scoring == "term-centric":
            return self.index.index.parse_query(text, ["combined"])
        return self.index.index.parse_query(text, self.index.fields, field_boosts=config.boosts)

    def count(self, text: str, synonyms: Synonyms = NO_SYNONYMS) -> int:
        terms = query_terms(text)
        return self._count(self._every_slot(synonyms.expand(terms))) if terms else 0

    def count_in_titles(self, text: str) -> int:
        words = self.index.config.query_words(text)
        # Quoted, the parser reads a phrase through the title's own tokenizer (stemmed); the
        # words are letters and digits only (query_terms), so nothing in them is syntax.
        return self._count(self.index.index.parse_query(f'"{" ".join(words)}"', ["title"])) if words else 0

    def _every_slot(self, slots: list[Slot], typo_prone: frozenset[str] = frozenset()):
        """Every slot matched: its one word (or a typo of it, for a typo-prone word), or all
        the words of one of its alternatives."""
        Occur = tantivy.Occur
        clauses = []
        for slot in slots:
            if len(slot.alternatives) > 1:
                query = tantivy.Query.boolean_query([(Occur.Should, self._all_of(words)) for words in slot.alternatives])
            elif len(slot.typed) == 1 and slot.typed[0] in typo_prone:
                word = slot.typed[0]
                query = tantivy.Query.boolean_query([(Occur.Should, self._text_query(word))]
                                                    + [(Occur.Should, q) for q in self._fuzzy_queries(word)])
            else:
                query = self._all_of(slot.typed)
            clauses.append((Occur.Must, query))
        return tantivy.Query.boolean_query(clauses)

    def _all_of(self, words: tuple[str, ...]):
        if len(words) == 1:
            return self._text_query(words[0])
        return tantivy.Query.boolean_query([(tantivy.Occur.Must, self._text_query(w)) for w in words])

    def matches(self, text: str, synonyms: Synonyms = NO_SYNONYMS) -> tuple[np.ndarray, np.ndarray]:
        """Every doc holding all the query's words (as the keyword leg stems them, in any
        field; a word a synonym rule names, or one of its alternatives); when fewer than
        `fuzzy_below` do, a word that fewer than `fuzzy_below` products hold may also match
        within the typo distance in title, brand or model. Docs ascending, with their
        scores; no filters."""
        terms = query_terms(text)
        if not terms:
            return np.zeros(0, dtype=np.int64), np.zeros(0)
        config = self.index.config
        slots = synonyms.expand(terms)
        docs, scores = self._all(self._every_slot(slots))
        if len(docs) >= config.fuzzy_below:
            return docs, scores
        typo_prone = frozenset(t for t in single_words(slots) if len(t) >= config.fuzzy_min_term_length
                               and self._count(self._text_query(t)) < config.fuzzy_below)
        if not typo_prone:
            return docs, scores
        return self._all(self._every_slot(slots, typo_prone))

    def _count(self, query) -> int:
        return self.searcher.search(query, limit=1, count=True).count

    def _all(self, query) -> tuple[np.ndarray, np.ndarray]:
        count = self._count(query)
        if not count:
            return np.zeros(0, dtype=np.int64), np.zeros(0)
        hits = self.searcher.search(query, limit=count, count=False).hits
        docs = np.asarray(self.searcher.fast_field_values("doc", [address for _, address in hits]), dtype=np.int64)
        scores = np.asarray([score for score, _ in hits], dtype=np.float64)
        order = np.argsort(docs, kind="stable")
        return docs[order], scores[order]
