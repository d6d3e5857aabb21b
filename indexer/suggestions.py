"""The catalog's own phrases, for query suggestions in a shop with no search history yet.

A phrase is a brand, a category (what the catalog calls a product type), a run of one to
MAX_PHRASE_WORDS words from product titles ("toner cartridge"), or a title word followed by
the product's category ("wireless mouse", "logitech mouse": how shoppers name a kind of
product, which titles written "brand model type properties" never spell out in that order);
a run or a word-and-category held by at least MIN_PHRASE_PRODUCTS products. Each phrase
comes with how many products hold it. Words are the
keyword leg's (lower-case, split at anything but letters and digits), so every phrase is one
the keyword leg finds products for. Title runs that begin or end with a connecting word
("mouse for", "with cable") or hold only numbers are not phrases a shopper types.

Phrases are compared by their key: their words with accents folded, so "kuhl" completes
what the catalog writes "Kühlschrank" and a phrase written both ways is one phrase, shown
as the catalog writes it most often.
"""
from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass
from typing import Iterable

from indexer.keyword.base import fold_accents, query_terms
from indexer.schema import Product

MAX_PHRASE_WORDS = 3
MIN_PHRASE_PRODUCTS = 3
# English connecting words: a title run starting or ending with one is cut mid-thought. A
# catalog in another language gives its own list (catalog_phrases' `connecting`).
CONNECTING_WORDS = frozenset(
    "a an and as at by for from in incl including into of on or per the to vs w with without".split())


def phrase_words(text: str) -> str:
    """A phrase's words as written: the keyword leg's words (lower-case), one space apart."""
    return " ".join(query_terms(text))


def phrase_key(text: str) -> str:
    """How a phrase or a typed prefix is compared: its words with accents folded."""
    return _key_of_words(phrase_words(text))


def _key_of_words(words: str) -> str:
    """phrase_key of a phrase already in phrase_words' form."""
    # Folded letters are split and lower-cased again, as the keyword leg reads them ("ᴏʀ": "or").
    return words if words.isascii() else phrase_words(fold_accents(words))


@dataclass(frozen=True)
class CatalogPhrases:
    products: dict[str, int]  # phrase key -> how many products hold the phrase
    written: dict[str, str]  # phrase key -> its most common written words, where those are not the key


def _title_runs(title: str, connecting: frozenset[str]) -> set[str]:
    words = query_terms(title)
    runs = set()
    for start in range(len(words)):
        for end in range(start + 1, min(start + MAX_PHRASE_WORDS, len(words)) + 1):
            run = words[start:end]
            if run[0] in connecting or run[-1] in connecting or all(w.isdigit() for w in run):
                continue
            runs.add(" ".join(run))
    return runs


def _described_types(title: str, category: str, connecting: frozenset[str]) -> set[str]:
    """'<word> <category>' for each title word that is not part of the category's own name."""
    category_words = query_terms(category)
    if not category_words:
        return set()
    kind = " ".join(category_words)
    return {f"{word} {kind}" for word in query_terms(title)
            if word not in connecting and word not in category_words and not word.isdigit()}


def catalog_phrases(products: Iterable[Product | None], min_products: int = MIN_PHRASE_PRODUCTS,
                    connecting: frozenset[str] = CONNECTING_WORDS) -> CatalogPhrases:
    """Every brand and category, and the title runs and described types held by at least
    `min_products` products, with how many products hold each (None: a dead doc, skipped)."""
    named: Counter[str] = Counter()  # brands and categories: a shopper's words even when few hold them
    runs: Counter[str] = Counter()
    spellings: dict[str, Counter[str]] = defaultdict(Counter)  # key -> its written forms other than the key
    for product in products:
        if product is None:
            continue
        named_forms = _keyed({phrase_words(product.brand), phrase_words(product.category)} - {""})
        run_forms = _keyed(_title_runs(product.title, connecting)
                           | _described_types(product.title, product.category, connecting))
        named.update(named_forms.keys())
        runs.update(run_forms.keys())
        forms = run_forms | named_forms  # one written form per phrase and product
        for key, words in forms.items():
            if words != key:
                spellings[key][words] += 1
    phrases = {run: count for run, count in runs.items() if count >= min_products}
    for key, count in named.items():
        phrases[key] = max(count, phrases.get(key, 0))
    written = {}
    for key, forms in spellings.items():
        form, count = forms.most_common(1)[0]
        # The catalog's spelling when more products write it so than as the key (phrases[key]:
        # about how many hold it, however written).
        if key in phrases and count > phrases[key] - forms.total():
            written[key] = form
    return CatalogPhrases(phrases, written)


def _keyed(written: set[str]) -> dict[str, str]:
    """One product's phrases by key: key -> how the product writes it."""
    forms = {}
    for words in written:
        key = _key_of_words(words)
        if key:
            forms[key] = words
    return forms
