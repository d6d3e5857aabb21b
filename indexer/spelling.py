"""The catalog's own words, for spelling correction: how many products hold each, and which
known words lie within a typo of a given one (NearWords, which spelling from the search
history uses too).

Words come from every field the keyword leg searches (title, brand, category, model,
description, short attribute values), lower-cased, as the keyword leg splits them. A word
counts the products the keyword leg matches it in, those holding any word of its stem
("books": 17 products say "book" or "books"), which says whether a word typed is a real one,
and how many write it exactly so ("books": one), which says whether it may be a typo and
whether it is a correction target: only a word at least MIN_TARGET_PRODUCTS products write
so, so a typo inside one description does not become a suggestion. Neighbours are found with a
symmetric delete index (SymSpell's idea: two words within one edit share a word made by
deleting at most one letter from each) and confirmed by edit distance, a swap of two
neighbouring letters counting one edit as in the keyword leg's fuzzy queries.
"""
from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass
from typing import Iterable

from indexer.keyword.base import fold_accents as fold, product_texts, query_terms
from indexer.keyword.stemming import stem
from indexer.schema import Product

MIN_TARGET_PRODUCTS = 2
MIN_TARGET_LENGTH = 2
SPLIT_RESPELLINGS = 8  # the most widely held known words each half of a split may stand for


def within_edits(a: str, b: str, limit: int) -> bool:
    """Edit distance of a and b at most `limit`, a swap of two neighbouring letters counting
    one edit (optimal string alignment), computed in a band of width `limit`."""
    if abs(len(a) - len(b)) > limit:
        return False
    far = limit + 1
    before, previous = None, list(range(len(b) + 1))
    for i in range(1, len(a) + 1):
        current = [i] + [far] * len(b)
        for j in range(max(1, i - limit), min(len(b), i + limit) + 1):
            cost = a[i - 1] != b[j - 1]
            best = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + cost)
            if before is not None and j > 1 and a[i - 1] == b[j - 2] and a[i - 2] == b[j - 1]:
                best = min(best, before[j - 2] + 1)
            current[j] = best
        if min(current) > limit:
            return False
        before, previous = previous, current
    return previous[-1] <= limit


def typo_limit(word: str) -> int:
    """Edits a word may be off by: one under 8 letters, two from 8 on (as the keyword leg's
    fuzzy queries), none under 3 letters ("aa" is too short to tell a typo from a code)."""
    return 0 if len(word) < 3 else 1 if len(word) < 8 else 2


def _deletes(word: str) -> set[str]:
    return {word} | {word[:i] + word[i + 1:] for i in range(len(word))}


class NearWords:
    """Strings within a few edits of a given one, among a fixed set: a symmetric delete index
    (two strings within one edit share a string made by deleting at most one character from
    each), confirmed by edit distance. Immutable once built."""

    def __init__(self, words: Iterable[str]):
        index: dict[str, list[str]] = defaultdict(list)
        for word in words:
            for variant in _deletes(word):
                index[variant].append(word)
        self._by_delete = {variant: tuple(found) for variant, found in index.items()}

    def within(self, word: str, limit: int) -> list[str]:
        """The set's strings within `limit` edits of `word` (at most 2; found for one edit on
        each side), the word itself left out, in no particular order."""
        found = {other for variant in _deletes(word) for other in self._by_delete.get(variant, ())}
        found.discard(word)
        return [other for other in found if within_edits(word, other, limit)]


@dataclass(frozen=True)
class Neighbour:
    word: str
    products: int  # how many products hold it
    edits: int  # how far it is from the word asked about (1 or 2)


class SpellingDictionary:
    """Immutable once built; one per index version."""

    def __init__(self, products_per_word: dict[str, int], written: dict[str, str] | None = None,
                 spelt: dict[str, int] | None = None):
        """products_per_word: how many products the keyword leg matches each word in (whether
        a word typed is a real one); spelt: how many hold it spelt exactly so (default the
        same): whether it may be a typo, whether it is a correction target, and how often the
        catalog writes it."""
        self.products_per_word = products_per_word
        self._spelt = spelt if spelt is not None else products_per_word
        self._written = written or {}  # a folded word -> how the catalog most often writes it
        # Targets are words written so by enough products: a one-off spelling ("managment",
        # or "books" once where others say "book") is never offered, whatever its stem holds.
        self._targets = NearWords(word for word, count in self._spelt.items()
                                  if count >= MIN_TARGET_PRODUCTS and len(word) >= MIN_TARGET_LENGTH and word.isalpha())

    @classmethod
    def build(cls, products: Iterable[Product | None], attribute_max_chars: int = 0,
              fold_accents: bool = False) -> "SpellingDictionary":
        """From a version's products (None: a dead doc, skipped). fold_accents: the keyword
        leg matches a word with its accents folded, so that spelling is a known word too
        ("cafe" as well as "café": neither is a typo to correct)."""
        counts: Counter[str] = Counter()
        stems: Counter[str] = Counter()
        spellings: dict[str, Counter[str]] = defaultdict(Counter)  # folded word -> its written forms
        literal: set[str] = set()  # words as written
        for product in products:
            if product is None:
                continue
            words = set(query_terms(" ".join(product_texts(product, attribute_max_chars).values())))
            literal.update(words)
            if fold_accents:
                for word in [w for w in words if not w.isascii()]:
                    folded = query_terms(fold(word))
                    words.update(folded)
                    if len(folded) == 1:
                        spellings[folded[0]][word] += 1
            stems.update({stem(word) for word in words})
            counts.update(words)
        # Only words the catalog never writes as they fold: "cafe" stays where products say "cafe".
        written = {folded: forms.most_common(1)[0][0] for folded, forms in spellings.items() if folded not in literal}
        # A word counts the products the keyword leg matches it in: those holding any word of
        # its stem ("books": 17 products say book or books, one says "books").
        return cls({word: stems[stem(word)] for word in counts}, written, dict(counts))

    def as_written(self, text: str) -> str:
        """Words (a correction) as the catalog writes them: a word known only by folding
        accents ("muller") in its commonest written form ("müller")."""
        return " ".join(self._written.get(word, word) for word in text.split(" "))

    def products(self, word: str) -> int:
        return self.products_per_word.get(word, 0)

    def spelt(self, word: str) -> int:
        """How many products hold the word spelt exactly so."""
        return self._spelt.get(word, 0)

    def neighbours(self, word: str, limit: int) -> list[Neighbour]:
        """Known words within `limit` edits (at most 2; found for one edit on each side),
        the nearest first, then the most often written so; the word itself is not one. (A typo is
        one edit far more often than two: "keybords" is "keyboards", one letter left out,
        before a commoner "keyboard", two edits away.)"""
        if limit <= 0:
            return []
        found = [Neighbour(w, self.products_per_word[w], 1 if limit == 1 or within_edits(word, w, 1) else 2)
                 for w in self._targets.within(word, limit)]
        return sorted(found, key=lambda n: (n.edits, -self.spelt(n.word), n.word))

    def splits(self, word: str, typos: bool = False) -> list[tuple[str, str]]:
        """Ways to read a word as two known words run together ("wirelessmouse"); with
        typos, also as two words of which one is off by an edit ("computerfam": computer
        fan). Each half a word the keyword leg matches in enough products, or a code (digits)
        it matches in any, as a code names one product ("2110toner": 2110 toner); the readings
        with no typo first, then those whose rarer half the catalog writes most often."""
        found: dict[tuple[str, str], int] = {}
        for i in range(MIN_TARGET_LENGTH, len(word) - MIN_TARGET_LENGTH + 1):
            left, right = word[:i], word[i:]
            lefts, rights = [left], [right]
            if typos:
                lefts += [n.word for n in self.neighbours(left, min(typo_limit(left), 1))[:SPLIT_RESPELLINGS]]
                rights += [n.word for n in self.neighbours(right, min(typo_limit(right), 1))[:SPLIT_RESPELLINGS]]
            for a in lefts:
                for b in rights:
                    typo_count = (a != left) + (b != right)
                    if typo_count <= 1 and self._held_enough(a) and self._held_enough(b):
                        found[(a, b)] = min(self.spelt(a), self.spelt(b)) - (10 ** 9) * typo_count  # exact splits first
        return sorted(found, key=lambda pair: (-found[pair], pair))

    def _held_enough(self, half: str) -> bool:
        return self.products(half) >= (MIN_TARGET_PRODUCTS if half.isalpha() else 1)
