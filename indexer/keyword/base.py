"""What every keyword backend offers, and the settings they share."""
from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from functools import lru_cache
from typing import TYPE_CHECKING, Any, Protocol, Sequence

import numpy as np

from indexer.attributes import text_values
from indexer.filters import Filters
from indexer.schema import Product

if TYPE_CHECKING:  # synonyms.py reads this module's query_terms
    from indexer.keyword.synonyms import Synonyms

TEXT_FIELDS = ("title", "model", "brand", "category", "description", "attributes")
SCORINGS = ("term-centric", "field-centric")
# Field-centric boosts: a word in the title or the model code says more about what the
# product is than the same word in the description or attributes. Chosen on the Icecat
# judgments with a two-fold check over queries (docs/relevance.md).
DEFAULT_BOOSTS = {
    "title": 3.0, "model": 2.0, "brand": 2.0, "category": 2.0,
    "description": 1.0, "attributes": 1.0,
}
# Term-centric weights: every field counts once, untuned (no shop's judgments behind them);
# `search-train keyword` fits them on a shop's own.
DEFAULT_FIELD_WEIGHTS = {name: 1 for name in TEXT_FIELDS}


@dataclass
class KeywordConfig:
    backend: str = "tantivy"
    # "term-centric" (BM25F): the fields are one document whose term frequencies and length
    # count each field `field_weights` times, so a query word is scored with one set of term
    # statistics wherever it occurs (Elasticsearch's combined_fields). "field-centric": each
    # field's BM25 with its own statistics, times `boosts`, summed (multi_match most_fields).
    scoring: str = "term-centric"
    field_weights: dict[str, int] = field(default_factory=lambda: dict(DEFAULT_FIELD_WEIGHTS))
    boosts: dict[str, float] = field(default_factory=lambda: dict(DEFAULT_BOOSTS))
    # Typo tolerance: when exact terms find fewer than this many products, the query is run
    # again with edit distance 1 (2 for terms of 8+ letters) on title, brand and model, and
    # those hits are added below the exact ones.
    fuzzy_below: int = 10
    fuzzy_min_term_length: int = 4
    # Attribute values longer than this many characters stay out of the keyword text (0: none
    # do). Short values are properties ("Black", "USB Type-C", "Lithium-Ion"); long ones are
    # blurbs (bundled software, compatibility lists) whose length dilutes every match. 60 is
    # the middle of the range that helped on Icecat (20-200 all beat no limit); `search-train
    # keyword` fits it on a shop's own judgments.
    attribute_max_chars: int = 60
    # Accents folded in the indexed text and in the query alike (fold_accents below): shoppers
    # often type without them, so "creme" finds "Crème" and "kuhlschrank" "Kühlschrank".
    fold_accents: bool = True

    def __post_init__(self):
        if not isinstance(self.fold_accents, bool):
            raise ValueError(f"fold_accents: true or false, got {self.fold_accents!r}")
        if self.scoring not in SCORINGS:
            raise ValueError(f"scoring: expected one of {', '.join(SCORINGS)}, got {self.scoring!r}")
        unknown = sorted(set(self.field_weights) - set(TEXT_FIELDS))
        if unknown:
            raise ValueError(f"field_weights: unknown field(s) {', '.join(unknown)}; fields: {', '.join(TEXT_FIELDS)}")
        limit = self.attribute_max_chars
        if isinstance(limit, bool) or not isinstance(limit, int) or limit < 0:
            raise ValueError(f"attribute_max_chars: a whole number from 0 up (0: no limit), got {limit!r}")
        bad = {f: w for f, w in self.field_weights.items() if isinstance(w, bool) or not isinstance(w, int) or w < 0}
        if bad or not any(self.field_weights.values()):
            raise ValueError(f"field_weights: whole numbers from 0 up, at least one above 0, got {self.field_weights}")

    def keyword_form(self, text: str) -> str:
        """A document's text as this version's keyword index holds it."""
        return fold_accents(text) if self.fold_accents else text

    def query_words(self, text: str) -> list[str]:
        """A query's words (query_terms) as this version's keyword index holds them. Folded,
        they are split and lower-cased again: a few letters fold to capitals or punctuation
        ("ᴏʀ" to "OR", "⑴" to "(1)"), which the query parser would read as syntax."""
        words = query_terms(text)
        return query_terms(fold_accents(" ".join(words))) if self.fold_accents else words


@lru_cache(maxsize=1)
def _ascii_folder():
    import tantivy

    return tantivy.TextAnalyzerBuilder(tantivy.Tokenizer.raw()).filter(tantivy.Filter.ascii_fold()).build()


def fold_accents(text: str) -> str:
    """Letters with accents and ligatures as their plain ASCII forms, as tantivy's ASCII
    folding (a port of Lucene's) writes them: "Kühlschrank" is "Kuhlschrank", "Straße"
    "Strasse", "Ærø" "AEro". Letters with no ASCII form (東京) stay."""
    if text.isascii():
        return text
    # Composed first: a letter and its combining accent ("u" + U+0308) fold as "ü" does.
    folded = _ascii_folder().analyze(unicodedata.normalize("NFC", text))  # raw tokenizer: the text is one token
    return folded[0] if folded else text


def combined_text(fields: dict[str, str], weights: dict[str, int]) -> str:
    """One text for term-centric scoring: each field's text `weight` times, so in BM25 its
    term frequencies and its share of the length count that many times (BM25F with one b)."""
    return "\n".join(text for name in TEXT_FIELDS for text in [fields.get(name, "")] * weights.get(name, 0)
                     if text)


def parse_field_weights(text: str, base: dict[str, int] | None = None) -> dict[str, int]:
    """"title=2,brand=0,..." as a command line gives them, over `base` (default: every field
    1): a field left out keeps its weight there; 0 leaves a field out."""
    weights = dict(DEFAULT_FIELD_WEIGHTS if base is None else base)
    for part in filter(None, (p.strip() for p in text.split(","))):
        name, _, value = part.partition("=")
        if not value.strip().isdigit():
            raise ValueError(f"field_weights: {part!r} is not FIELD=WHOLE_NUMBER")
        weights[name.strip()] = int(value)
    KeywordConfig(field_weights=weights)  # the same checks as everywhere
    return weights


WORD_BYTES_LIMIT = 40  # tantivy's tokenizers drop tokens of this many UTF-8 bytes or more


def overlong_words(text: str) -> list[str]:
    """The words of a text that query_terms leaves out (too long to be indexed): a rule
    naming one would silently mean something else, so rules refuse them."""
    return [word for word in re.findall(r"[^\W_]+", text.lower()) if len(word.encode()) >= WORD_BYTES_LIMIT]


def query_terms(text: str) -> list[str]:
    """User text as plain lower-case words: query syntax (AND, quotes, +, :) is not ours to
    parse; a word longer than any indexed one (no product holds it) is left out. Composed
    first (NFC): "e" plus a combining accent, as some keyboards send it, is "é", one letter.
    A capital dotted I ("İstanbul") lower-cases to a plain i, as it folds in documents, not
    to an i and a separate dot that would split the word."""
    lowered = unicodedata.normalize("NFC", text).lower().replace("i\u0307", "i")
    words = re.findall(r"[^\W_]+", lowered)
    return [word for word in words if len(word.encode()) < WORD_BYTES_LIMIT]


def product_texts(product: Product, attribute_max_chars: int = 0) -> dict[str, str]:
    """The text of each of TEXT_FIELDS for a product, as written: what both backends index
    (through KeywordConfig.keyword_form) and the spelling dictionary reads."""
    return {"title": product.title, "model": str(product.attributes.get("model", "")), "brand": product.brand,
            "category": product.category, "description": product.description,
            "attributes": attribute_text(product.attributes, attribute_max_chars)}


def attribute_text(attributes: dict[str, Any], max_chars: int = 0) -> str:
    """The texts in attribute values (not model or EAN; a list's items each), those of at
    most max_chars characters (0: all)."""
    return " ".join(text for name, value in attributes.items() if name not in ("model", "ean")
                    for text in text_values(value) if not max_chars or len(text) <= max_chars)


def append_fuzzy_hits(exact: list[tuple[int, float]], fuzzy: list[tuple[int, float]],
                      k: int) -> list[tuple[int, float]]:
    """Exact hits first, then the fuzzy ones not already there, up to k. Fuzzy scores say
    little (tantivy gives them all the same), so they keep their order but are scaled to at
    most half the lowest exact score: a typo match never outranks an exact one."""
    seen = {doc for doc, _ in exact}
    floor = min((score for _, score in exact), default=1.0)
    extra = [(doc, score) for doc, score in fuzzy if doc not in seen]
    top = max((score for _, score in extra), default=1.0) or 1.0
    return exact + [(doc, floor * 0.5 * score / top) for doc, score in extra][: k - len(exact)]


class KeywordSearcher(Protocol):
    """Every method reads the query's words through the synonym rules it is given
    (indexer/keyword/synonyms.py: a word a rule names matches any of its alternatives)."""

    def search(self, text: str, k: int, filters: Filters | None = None,
               synonyms: "Synonyms" = ...) -> list[tuple[int, float]]:
        """Top-k (doc number, BM25 score), best first, only products passing the filters."""

    def count(self, text: str, synonyms: "Synonyms" = ...) -> int:
        """How many docs hold every one of the query's words (as `matches` reads them, no typos)."""

    def count_in_titles(self, text: str) -> int:
        """How many docs' titles hold the query's words side by side, in this order (as the
        keyword leg stems them; no synonyms, no typos): the catalog's own word order, which
        spelling correction prefers between readings ("xbox one", not "box one")."""

    def matches(self, text: str, synonyms: "Synonyms" = ...) -> tuple[np.ndarray, np.ndarray]:
        """The keyword part of the matched set: every doc holding all the query's words; when
        fewer than fuzzy_below do, a word fewer than fuzzy_below products hold may match by a
        typo of it in title, brand or model. Docs ascending, with their scores; unfiltered
        (search_engine/matching.py)."""


class KeywordIndex(Protocol):
    """One index version's keyword index (tantivy in the version folder, or an Elasticsearch
    index). Writes come from one writer at a time (the version's write lock)."""

    def add(self, docs: Sequence[int], products: Sequence[Product], vectors=None) -> None:
        """update() with nothing to remove."""

    def update(self, remove_docs: Sequence[int], add_docs: Sequence[int], products: Sequence[Product],
               vectors=None) -> None:
        """Remove and add documents, committed (visible to new searchers) when it returns;
        idempotent, so a writer that died half-way can be repeated. vectors: kept only by a
        backend that serves the dense leg too."""

    def searcher(self) -> KeywordSearcher:
        """A view of what is committed now; later commits do not change what it returns
        (Elasticsearch: refreshed per update, see its module)."""

    def num_docs(self) -> int: ...

    def manifest(self) -> dict:
        """What the version's manifest must record to open this index again."""

    def mark_serving(self) -> None:
        """This version now serves: point the backend's shared name at it (Elasticsearch's alias)."""

    def drop(self) -> None:
        """Delete what this index keeps outside the version folder (pruning)."""
