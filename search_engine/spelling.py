"""Spelling correction and relaxation: what a search does when few products hold every word
of the query as typed.

Correction (context-aware): only when fewer than `enough` products hold every query word.
A word the catalog does not know may become a known word within its typo distance
(indexer/spelling.py) or split into two known words ("wirelessmouse"); two neighbouring
words may join into one known word ("mo use"). Of the combinations with the
fewest edits first, the one that the most products hold every word of wins, so the words
correct each other ("hdmi cabel" -> "hdmi cable", not "hdmi label"). A correction is only
offered when it makes more products match than the query as typed.

Relaxation: when nothing matches even so, the fewest words are dropped from what products
must hold (each unknown word read as its most widely held neighbour first). In keyword
mode, of the ways to drop that many, the one that keeps the most specific words (the
fewest products, above none, match them): the least informative words go first. In hybrid
and dense mode the dense leg still reads the whole query and ranks what the kept words
match, so the broadest choice (the most products) is kept and the ranking sorts it out:
"wireles mice" keeps "wireless" and ranks the wireless mice first, where keeping "mice"
would leave only the KVM switches that mention mice.
"""
from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from typing import Callable

from indexer.keyword.base import query_terms
from indexer.spelling import SpellingDictionary, typo_limit

NEIGHBOURS_PER_WORD = 4  # the most widely held known words a typo may stand for
MAX_COMBINATIONS = 64  # candidate corrections counted, fewest edits first


@dataclass(frozen=True)
class Correction:
    text: str  # the corrected query, words as the keyword leg reads them
    matching: int  # products holding every corrected word
    original_matching: int  # ... every word as typed
    edits: int  # words changed, split or joined


def _options(words: list[str], i: int, dictionary: SpellingDictionary) -> list[tuple[int, tuple[str, ...], int]]:
    """Ways to read the words from position i: (words consumed, replacement, edits)."""
    word = words[i]
    options = [(1, (word,), 0)]
    held = dictionary.products(word)
    if held == 0:  # a word the catalog does not know: a typo of one it does, or two run together
        options += [(1, (n.word,), 1) for n in dictionary.neighbours(word, typo_limit(word))[:NEIGHBOURS_PER_WORD]]
        options += [(1, split, 1) for split in dictionary.splits(word, typos=True)[:3]]
    if i + 1 < len(words):
        following = words[i + 1]
        joined = word + following
        if dictionary.products(joined) > max(held, dictionary.products(following)):
            options.append((2, (joined,), 1))
        if not held or not dictionary.products(following):  # a space in the wrong place ("gpswa tch")
            options += [(2, split, 1) for split in dictionary.splits(joined)[:2] if split != (word, following)]
    return options


def _readings(words: list[str], dictionary: SpellingDictionary) -> list[tuple[tuple[str, ...], int]]:
    """Every reading of the query (words, edits), built left to right."""
    readings: list[tuple[tuple[str, ...], int, int]] = [((), 0, 0)]  # (words so far, edits, position)
    done = []
    while readings:
        grown = []
        for so_far, edits, at in readings:
            if at == len(words):
                done.append((so_far, edits))
                continue
            for consumed, replacement, cost in _options(words, at, dictionary):
                grown.append((so_far + replacement, edits + cost, at + consumed))
        readings = sorted(grown, key=lambda r: r[1])[: MAX_COMBINATIONS * 4]
    return done


def correct(text: str, dictionary: SpellingDictionary, count_matching: Callable[[str], int],
            enough: int) -> Correction | None:
    """The best correction of a query that fewer than `enough` products fully match, or None.
    count_matching(words): products holding every word (the keyword backend's count)."""
    words = query_terms(text)
    if not words:
        return None
    original = count_matching(" ".join(words))
    if original >= enough:
        return None
    readings = sorted((r for r in _readings(words, dictionary) if r[1] > 0), key=lambda r: r[1])
    best = None
    for reading, edits in readings[:MAX_COMBINATIONS]:
        matching = count_matching(" ".join(reading))
        held = sum(math.log1p(dictionary.products(w)) for w in reading)
        score = (matching, -edits, held)
        if matching > original and (best is None or score > best[0]):
            best = (score, Correction(" ".join(reading), matching, original, edits))
    return best[1] if best else None


def relaxed(text: str, dictionary: SpellingDictionary, count_matching: Callable[[str], int],
            keep_specific: bool = True) -> tuple[str, tuple[str, ...]] | None:
    """The words to require when no product holds them all: as few dropped as possible; of
    the choices that drop as many and still match, keep_specific keeps the one the fewest
    products match (the least informative, most common words go: right when the kept words
    are all a ranking reads), else the one the most match (right when the dense leg ranks
    that broader set by the whole query). A word the catalog does not know is read as its
    most widely held neighbour first. (kept words, dropped words), or None when no single
    word matches anything either."""
    typed = query_terms(text)
    words = [_best_known(w, dictionary) for w in typed]
    for size in range(len(words) - 1, 0, -1):
        choices = [(count_matching(" ".join(words[i] for i in kept)), kept)
                   for kept in itertools.combinations(range(len(words)), size)]
        matching = [c for c in choices if c[0] > 0]
        if matching:
            _, kept = min(matching) if keep_specific else max(matching, key=lambda c: (c[0], [-i for i in c[1]]))
            return " ".join(words[i] for i in kept), tuple(w for i, w in enumerate(typed) if i not in kept)
    return None


def _best_known(word: str, dictionary: SpellingDictionary) -> str:
    if dictionary.products(word):
        return word
    neighbours = dictionary.neighbours(word, typo_limit(word))
    return neighbours[0].word if neighbours else word
