"""What the catalog names, gathered once per index version for query understanding.

Everything here comes from the catalog's own products and vectors, nothing from a hand list:
  brands          each brand's words, and its first word alone when that word is distinctive
                  ("kingston" for "Kingston Technology"): not a word of any product type, and
                  the brand's own where titles use it (not "cooler" for Cooler Master, when
                  most titles saying "cooler" are other brands' CPU coolers)
  product types   the catalog's category names, with their vectors from the query tower, so a
                  query word the catalog never uses ("laptop") still finds the type it means
                  ("notebook") by similarity
  categories      each product's category, or for a product without one the majority category
                  of its nearest categorized neighbours in the product tower's space
  attribute values short text values shared by several products ("Black", "Bluetooth")

Words are compared with their accents folded (the keyword leg's folding), so "nestle"
names the brand "Nestlé" and "kuhlschrank" the type "Kühlschrank", however the version's
keyword leg holds them.

A server builds it when it opens a version, before serving it (factory.py, live.py). Products
added by live updates after that (an upserted product is a new doc) keep their own category,
with no inferred one, and new brands or values are not known until the next version. The
build holds the catalog's vectors in memory and votes each uncategorized product's category
by exact search: seconds for 20k products, not yet sized for millions.
"""
from __future__ import annotations

import re
from collections import Counter, defaultdict
from dataclasses import dataclass
from typing import Callable, Mapping, Sequence

import numpy as np

from indexer.attributes import text_values
from indexer.keyword.base import fold_accents
from indexer.schema import Product
from search_engine.built_once import BuiltOnce
from search_engine.understanding.field_bm25 import FieldStatistics

TEXT_TERMS_CACHED = 200_000  # docs whose word sets are kept (a few KB each) once computed
MIN_ATTRIBUTE_PRODUCTS = 5  # a value shared by fewer products is an identifier, not a facet value
MAX_ATTRIBUTE_WORDS = 3
NEIGHBOURS = 10  # categorized neighbours that vote on a product's category
_WORD = re.compile(r"[^\W_]+")


def words(text: str) -> list[str]:
    """Lower-case words, accents folded."""
    return _WORD.findall(fold_accents(text).lower())


def normalize(word: str) -> str:
    """A word without its plural s (the same rule as the query groups in splits.py)."""
    return word[:-1] if len(word) > 3 and word.endswith("s") and not word.endswith("ss") else word


def compact(text: str) -> str:
    return re.sub(r"[^0-9a-z]", "", fold_accents(text).lower())


def is_code(token: str) -> bool:
    """A model or part code: 3+ characters with letters and digits ("tn2110", "ps4x"), or 4+
    digits ("2060"); "a4" and "128" are not."""
    has_digit = any(c.isdigit() for c in token)
    return has_digit and (len(token) >= 4 if token.isdigit() else len(token) >= 3 and any(c.isalpha() for c in token))


def code_tokens(text: str) -> set[str]:
    """Whitespace tokens of `text`, compacted, that look like codes ("TN-2110" -> "tn2110")."""
    return {t for t in (compact(part) for part in text.split()) if is_code(t)}


@dataclass(frozen=True)
class CatalogVocabulary:
    brand_aliases: Mapping[tuple[str, ...], str]  # normalized words -> brand as the catalog spells it
    types: tuple[str, ...]  # category names
    type_words: tuple[tuple[str, ...], ...]  # each type's normalized words
    type_vectors: np.ndarray  # (types, dim), unit rows from the query tower
    doc_types: np.ndarray  # per doc at build time: index into types, -1 for none
    attribute_values: Mapping[tuple[str, ...], frozenset[str]]  # normalized value words -> attribute names
    inference_accuracy: float | None  # held-out accuracy of the neighbour vote on categorized products
    # Each text field's term statistics, for per-field BM25: built on first use (only the
    # relevance ranker reads them; recommendations and explain need the rest alone).
    field_statistics: BuiltOnce[FieldStatistics]

    def type_of(self, doc: int, product: Product) -> int:
        """The index of the product's type: its category, else the inferred one; -1 if neither."""
        if doc < len(self.doc_types):
            return int(self.doc_types[doc])
        return self._type_index.get(product.category, -1)

    def __post_init__(self):
        object.__setattr__(self, "_type_index", {name: i for i, name in enumerate(self.types)})
        object.__setattr__(self, "_doc_terms", {})

    def text_terms(self, doc: int, product: Product, compute: Callable[[Product], frozenset[str]]) -> frozenset[str]:
        """compute(product), remembered by doc: a doc number always holds the same product (docs
        are append-only within a version), and racing threads store the same value."""
        terms = self._doc_terms.get(doc)
        if terms is None:
            terms = compute(product)
            if len(self._doc_terms) < TEXT_TERMS_CACHED:
                self._doc_terms[doc] = terms
        return terms


def infer_categories(vectors: np.ndarray, labels: Sequence[str], rows: Sequence[int] | None = None,
                     k: int = NEIGHBOURS, exclude_self: bool = False) -> tuple[list[str], np.ndarray]:
    """For each of `rows` (default: all) of `vectors`, the similarity-weighted majority label
    of its k nearest labelled rows ("" labels are unlabelled), leaving the row itself out with
    exclude_self. Returns the labels and each vote's share of the total vote."""
    import faiss

    labelled = np.flatnonzero(np.array([bool(label) for label in labels], dtype=bool))
    if len(labelled) == 0:
        count = len(vectors) if rows is None else len(rows)
        return [""] * count, np.zeros(count, np.float32)
    index = faiss.IndexFlatIP(vectors.shape[1])
    index.add(np.ascontiguousarray(vectors[labelled], dtype=np.float32))
    rows = list(range(len(vectors))) if rows is None else list(rows)
    scores, neighbours = index.search(np.ascontiguousarray(vectors[rows], dtype=np.float32),
                                      min(k + int(exclude_self), len(labelled)))
    inferred, shares = [], np.zeros(len(rows), np.float32)
    for i, (row, row_scores, row_neighbours) in enumerate(zip(rows, scores, neighbours)):
        votes: Counter = Counter()
        for score, position in zip(row_scores, row_neighbours):
            doc = labelled[position] if position >= 0 else -1
            if doc < 0 or (exclude_self and doc == row):
                continue
            votes[labels[doc]] += max(float(score), 0.0)
        label, weight = max(votes.items(), key=lambda item: (item[1], item[0])) if votes else ("", 0.0)
        inferred.append(label)
        shares[i] = weight / (sum(votes.values()) or 1.0)
    return inferred, shares


ACCURACY_SAMPLE = 1000  # categorized products the inference is checked on (all of them, where fewer)


def inference_accuracy(vectors: np.ndarray, labels: Sequence[str], sample: int = ACCURACY_SAMPLE,
                       seed: int = 0) -> float | None:
    """How often the neighbour vote names the category of a categorized product it did not see."""
    labelled = [i for i, label in enumerate(labels) if label]
    if len(labelled) < 2:
        return None
    rng = np.random.default_rng(seed)
    chosen = sorted(rng.choice(labelled, min(sample, len(labelled)), replace=False).tolist())
    guessed, _ = infer_categories(vectors, labels, chosen, exclude_self=True)
    return float(np.mean([guess == labels[i] for guess, i in zip(guessed, chosen)]))


def brand_aliases(products: Sequence[Product], type_vocabulary: set[str]) -> dict[tuple[str, ...], str]:
    """Words a query names a brand by -> the brand as the catalog spells it: its words, and
    the first word of a brand of several words when that word is 4+ letters, no product
    type's word, and the brand's own: no title uses it, or most titles using it are the
    brand's products. The commonest brand keeps an alias two brands share."""
    brand_counts = Counter(p.brand for p in products if p.brand)
    spelt = {brand: tuple(words(brand)) for brand in brand_counts}
    firsts = {ws[0] for ws in spelt.values() if len(ws) > 1 and len(ws[0]) >= 4
              and normalize(ws[0]) not in type_vocabulary}
    title_brands: dict[str, Counter] = defaultdict(Counter)  # first word -> brands of the titles using it
    for product in products:
        for word in firsts.intersection(words(product.title)):
            title_brands[word][product.brand] += 1
    aliases: dict[tuple[str, ...], str] = {}
    for brand, _ in brand_counts.most_common():
        brand_words = spelt[brand]
        if not brand_words:
            continue
        aliases.setdefault(brand_words, brand)
        first = brand_words[0]
        using = title_brands.get(first, Counter())
        if first in firsts and 2 * using[brand] >= sum(using.values()):
            aliases.setdefault((first,), brand)
    return aliases


def build_vocabulary(products: Sequence[Product | None], vectors: np.ndarray,
                     encode: Callable[[list[str]], np.ndarray], attribute_max_chars: int) -> CatalogVocabulary:
    """products[doc] (None for a dead doc) with vectors[doc]; encode: the query tower over
    texts; attribute_max_chars: the longest attribute value the version's keyword leg reads."""
    live = [doc for doc, p in enumerate(products) if p is not None]
    categories = [products[doc].category if products[doc] is not None else "" for doc in range(len(products))]
    types = tuple(sorted({c for c in categories if c}))
    type_words = tuple(tuple(normalize(w) for w in words(t)) for t in types)
    type_vocabulary = {w for ws in type_words for w in ws}

    aliases = brand_aliases([products[doc] for doc in live], type_vocabulary)

    value_products: dict[tuple[str, ...], set[str]] = defaultdict(set)
    value_counts: Counter = Counter()
    for doc in live:
        product = products[doc]
        for name, value in product.attributes.items():
            if name in ("model", "ean"):
                continue
            for part in (part for text in text_values(value) for part in text.split(",")):
                value_words = tuple(normalize(w) for w in words(part))
                if 0 < len(value_words) <= MAX_ATTRIBUTE_WORDS and not any(w.isdigit() for w in value_words):
                    value_products[value_words].add(name)
                    value_counts[value_words] += 1
    attribute_values = {v: frozenset(names) for v, names in value_products.items()
                        if value_counts[v] >= MIN_ATTRIBUTE_PRODUCTS}

    type_index = {t: i for i, t in enumerate(types)}
    doc_types = np.full(len(products), -1, dtype=np.int32)
    accuracy = None
    if types and len(live):
        live_vectors = vectors[live]
        live_labels = [categories[doc] for doc in live]
        unlabelled = [i for i, label in enumerate(live_labels) if not label]
        guesses, _ = infer_categories(live_vectors, live_labels, unlabelled)
        inferred = list(live_labels)
        for i, guess in zip(unlabelled, guesses):
            inferred[i] = guess
        for doc, label in zip(live, inferred):
            doc_types[doc] = type_index.get(label, -1)
        accuracy = inference_accuracy(live_vectors, live_labels)
    type_vectors = np.asarray(encode(list(types)), dtype=np.float32) if types else np.zeros((0, vectors.shape[1]),
                                                                                            np.float32)
    return CatalogVocabulary(aliases, types, type_words, type_vectors, doc_types, attribute_values, accuracy,
                             BuiltOnce(lambda: FieldStatistics.build(products, attribute_max_chars)))
