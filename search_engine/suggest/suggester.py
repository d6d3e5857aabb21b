"""Completions of what a shopper has typed so far, with the products and categories it leads to.

Candidates come from two prefix indexes: the catalog's phrases (indexer/suggestions.py,
built per index version) and the queries shoppers searched (popularity.py, following the
event store). A completion's score is its searches, clicks and purchases plus the catalog's
weight for how many products hold it (QueryScoring).

Typos: the words typed before the last are complete, and one the catalog does not know is
also read as its nearest known words (search_engine/spelling.py); the last word is a prefix,
and when the prefix as typed completes to too few phrases, prefixes one edit away (the first
letter kept) are tried too, from FUZZY_PREFIX_MIN letters on. Completions with fewer typos
come first, then by score.

Phrases are compared with their accents folded (indexer/suggestions.py: phrase_key), so
"kuhl" completes "kühlschrank". A completion is shown as the catalog mostly writes it where
that has accents, else as shoppers most often typed it (Sources.forms).

Only completions the serving snapshot's keyword leg finds products for are offered (as
shown: a version that keeps accents finds "kühlschrank" but not "kuhlschrank", so the next
form is tried), and a merchant's rules block phrases, as shown, or pin them first (rules.py). The answers that depend only on
the snapshot (does a phrase find products, what are its top products and categories) are
remembered until the snapshot changes.
"""
from __future__ import annotations

import itertools
import string
import unicodedata
from dataclasses import dataclass, field

import numpy as np

from indexer.keyword.synonyms import NO_SYNONYMS, Synonyms
from indexer.schema import Product
from indexer.spelling import SpellingDictionary
from indexer.suggestions import CatalogPhrases, phrase_key, phrase_words
from search_engine.facets import value_facet
from search_engine.spelling import respellings
from search_engine.suggest.popularity import PopularQueries, QueryScoring
from search_engine.suggest.prefix_index import PrefixIndex
from search_engine.suggest.rules import Blocks, SuggestionRule

MAX_PREFIX_CHARACTERS = 200
FUZZY_PREFIX_MIN = 4  # letters of an unfinished word before one typo in it is tolerated
HEAD_RESPELLINGS = 2  # known words an unknown finished word may stand for
MAX_READINGS = 8
CANDIDATES_PER_COUNT = 4  # each source offers this many times the completions asked for, before checks
EDIT_ALPHABET = string.ascii_lowercase + string.digits
REMEMBERED_PER_SNAPSHOT = 50_000
CATEGORY_DEPTH = 1000  # the best products whose categories are counted beside the completions
DEFAULT_COUNT, DEFAULT_PRODUCTS, DEFAULT_CATEGORIES = 5, 3, 3  # completions, and what they lead to


@dataclass(frozen=True)
class Suggestion:
    text: str  # as shown, and as searched when chosen
    key: str  # the phrase's words as completions compare them (phrase_key)
    score: float
    searches_score: float  # the event log's part of the score
    catalog_products: int  # products holding the phrase when the version was built (0: not a catalog phrase)
    typos: int  # edits between what was typed and this completion's start
    pinned: bool = False


@dataclass
class SuggestResult:
    prefix: str
    suggestions: list[Suggestion]
    products: list[Product] = field(default_factory=list)  # the top products for `leads_to`
    categories: list[tuple[str, int]] = field(default_factory=list)  # its top categories, with counts among its best
    leads_to: str | None = None  # the text products and categories are for
    version: str = ""
    seq: int = 0  # the snapshot's update sequence: completions were checked against it


@dataclass(frozen=True)
class _Reading:
    text: str  # the key prefix to complete
    typos: int
    finished: bool  # the last word is complete: complete the phrase, not the word


def _edits(word: str) -> set[str]:
    """Strings one edit from a word, its first letter kept."""
    variants = set()
    for i in range(1, len(word) + 1):
        variants.add(word[:i] + word[i + 1:])
        if i + 1 < len(word):
            variants.add(word[:i] + word[i + 1] + word[i] + word[i + 2:])
        for letter in EDIT_ALPHABET:
            variants.add(word[:i] + letter + word[i:])
            if i < len(word):
                variants.add(word[:i] + letter + word[i + 1:])
    variants.discard(word)
    return {v for v in variants if v}


def readings(prefix: str, spelling: SpellingDictionary) -> list[_Reading]:
    """The ways to read what was typed, fewest typos first: each finished word the catalog
    does not know may be one of its nearest known words."""
    prefix = unicodedata.normalize("NFC", prefix)  # "e" + a combining accent is one letter, not a finished "e"
    key = phrase_key(prefix)
    if not key:
        return []
    words = key.split(" ")
    finished = not prefix[-1].isalnum()
    head, last = (words, None) if finished else (words[:-1], words[-1])
    options = [list(dict.fromkeys([word] + [phrase_key(n.word) for n in respellings(word, spelling, HEAD_RESPELLINGS)]))
               for word in head]
    found = []
    for combination in itertools.islice(itertools.product(*options), MAX_READINGS * 4):
        typos = sum(a != b for a, b in zip(combination, head))
        found.append(_Reading(" ".join(list(combination) + ([last] if last else [])), typos, finished))
    return sorted(found, key=lambda r: r.typos)[:MAX_READINGS]


class SnapshotMemo:
    """Answers that hold for one snapshot (by version and update sequence), forgotten when
    another snapshot asks. Shared by request threads: a race only costs a recomputation."""

    def __init__(self, size: int = REMEMBERED_PER_SNAPSHOT):
        self.size = size
        self._state: tuple[tuple[str, int] | None, dict] = (None, {})

    def get(self, snapshot, key, compute):
        tag = (snapshot.version, snapshot.seq)
        state = self._state
        if state[0] != tag:
            state = (tag, {})
            self._state = state  # one reference assignment
        memo = state[1]
        try:
            return memo[key]
        except KeyError:
            value = compute()
            if len(memo) >= self.size:  # full: start afresh (the keystrokes of now are what repeats)
                memo = {}
                self._state = (tag, memo)
            memo[key] = value
            return value


@dataclass(frozen=True)
class CatalogIndex:
    """A version's catalog phrases (indexer/suggestions.py), ready for prefix lookups."""

    index: PrefixIndex  # phrase key -> products holding it
    written: dict[str, str]  # phrase key -> the catalog's most common words for it, where they differ

    @classmethod
    def of(cls, phrases: CatalogPhrases) -> "CatalogIndex":
        return cls(PrefixIndex(phrases.products), phrases.written)


@dataclass
class Sources:
    """What one suggestion request reads: all immutable, each taken once."""

    catalog: CatalogIndex
    popular: PopularQueries
    spelling: SpellingDictionary
    blocks: Blocks
    pins: list[SuggestionRule]
    scoring: QueryScoring

    def score(self, key: str) -> tuple[float, int, float]:
        """A phrase's searches score, the products holding it (0: no catalog phrase), and its score."""
        searched, products = self.popular.index.score(key), int(self.catalog.index.score(key))
        return searched, products, searched + self.scoring.catalog_score(products)

    def forms(self, key: str) -> list[str]:
        """How a phrase may be shown, preferred first: as the catalog mostly writes it where
        that is not its key ("kühlschrank"), as shoppers most often typed it, as its key."""
        return list(dict.fromkeys(form for form in (self.catalog.written.get(key), self.popular.shown_as.get(key), key)
                                  if form))


def complete(prefix: str, sources: Sources, count: int, finds_products) -> list[Suggestion]:
    """The best `count` completions: pinned first, then fewest typos, then score.
    finds_products(key): whether the serving snapshot finds products for a phrase."""
    chosen: dict[str, Suggestion] = {}

    def offer(key: str, typos: int, shown: str | None = None, pinned: bool = False) -> None:
        if key in chosen:
            return
        forms = [shown] if shown else sources.forms(key)
        preferred = forms[0]
        if sources.blocks.blocks(phrase_words(preferred)):  # merchants block what shoppers would see
            return
        # The first form that finds products (what choosing it would search) and is not blocked.
        shown = next((form for form in forms if finds_products(form) and
                      (form == preferred or not sources.blocks.blocks(phrase_words(form)))), None)
        if shown is None:
            return
        searched, products, score = sources.score(key)
        chosen[key] = Suggestion(shown, key, score, searched, products, typos, pinned)

    all_readings = readings(prefix, sources.spelling)
    for reading in all_readings:
        for pin in sources.pins:
            if pin.completes(reading.text, reading.finished):
                offer(pin.key, reading.typos, phrase_words(pin.text), pinned=True)  # the merchant's words
    for reading in all_readings:
        _offer_completions(reading.text, reading.finished, reading.typos, sources, count, offer)
    exact = [r for r in all_readings if r.typos == 0 and not r.finished]
    if len(chosen) < count and exact:
        words = exact[0].text.split(" ")
        if len(words[-1]) >= FUZZY_PREFIX_MIN:
            head = " ".join(words[:-1] + [""])
            for variant in sorted(_edits(words[-1])):
                text = head + variant
                if sources.catalog.index.has_prefix(text) or sources.popular.index.has_prefix(text):
                    _offer_completions(text, False, 1, sources, count, offer)
    ordered = sorted(chosen.values(), key=lambda s: (not s.pinned, s.typos, -s.score, s.key))
    return ordered[:count]


def _offer_completions(text: str, finished: bool, typos: int, sources: Sources, count: int, offer) -> None:
    wanted = count * CANDIDATES_PER_COUNT
    start = text + " " if finished else text
    found = sources.catalog.index.top(start, wanted) + sources.popular.index.top(start, wanted)
    if finished:
        found.append((text, 0.0))  # the phrase itself, if it is one
    candidates = {key: sources.score(key) for key, _ in found if key == text or key.startswith(start)}
    for key in sorted(candidates, key=lambda key: (-candidates[key][2], key))[:wanted]:
        searched, products, _ = candidates[key]
        if key == text and finished and not (searched or products):
            continue  # typed words that are no phrase: not a completion
        offer(key, typos)


def leads_to(snapshot, text: str, product_count: int, category_count: int,
             synonyms: Synonyms = NO_SYNONYMS) -> tuple[list[Product], list[tuple[str, int]]]:
    """The keyword leg's top products for a phrase, and the categories of its best
    CATEGORY_DEPTH products with how many of those each holds (bounded: a keystroke's cost
    must not grow with the catalog)."""
    store = snapshot.products
    depth = CATEGORY_DEPTH if category_count else product_count * 2
    hits = snapshot.keyword.search(text, depth, None, synonyms)
    docs = np.array([doc for doc, _ in hits if doc < store.size and store.alive(doc)], dtype=np.int64)
    products = [store.product(int(doc)) for doc in docs[:product_count]]
    categories: list[tuple[str, int]] = []
    if category_count:
        codes, names = store.value_codes("category", docs)
        categories = value_facet("category", codes, names, category_count).values
    return products, categories


def phrase_finds_products(snapshot, memo: SnapshotMemo, synonyms: Synonyms = NO_SYNONYMS):
    def finds(text: str) -> bool:
        return memo.get(snapshot, ("finds", text, synonyms), lambda: snapshot.keyword.count(text, synonyms) > 0)
    return finds

