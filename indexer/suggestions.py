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
"""
from __future__ import annotations

from collections import Counter
from typing import Iterable

from indexer.keyword.base import query_terms
from indexer.schema import Product

MAX_PHRASE_WORDS = 3
MIN_PHRASE_PRODUCTS = 3
# English connecting words: a title run starting or ending with one is cut mid-thought. A
# catalog in another language gives its own list (catalog_phrases' `connecting`).
CONNECTING_WORDS = frozenset(
    "a an and as at by for from in incl including into of on or per the to vs w with without".split())


def phrase_key(text: str) -> str:
    """How a phrase or a typed prefix is compared: the keyword leg's words, one space apart."""
    return " ".join(query_terms(text))


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
                    connecting: frozenset[str] = CONNECTING_WORDS) -> dict[str, int]:
    """Phrase key -> how many products hold it: every brand and category, and the title runs
    and described types held by at least `min_products` products (None: a dead doc, skipped)."""
    named: Counter[str] = Counter()  # brands and categories: a shopper's words even when few hold them
    runs: Counter[str] = Counter()
    for product in products:
        if product is None:
            continue
        named.update({key for key in (phrase_key(product.brand), phrase_key(product.category)) if key})
        runs.update(_title_runs(product.title, connecting) | _described_types(product.title, product.category,
                                                                                 connecting))
    phrases = {run: count for run, count in runs.items() if count >= min_products}
    for key, count in named.items():
        phrases[key] = max(count, phrases.get(key, 0))
    return phrases
