"""Spelling correction and relaxation: what a search does when few products hold every word
of the query as typed.

Correction (context-aware): only when fewer than `enough` products hold every query word.
A word the catalog does not know may become a known word within its typo distance
(indexer/spelling.py) or split into two known words ("wirelessmouse"); two neighbouring
words may join into one known word ("mo use"). Of the combinations with the
fewest edits first, the one the most titles hold word for word, side by side, wins (for a
query of two or more words), then the one the most products hold every word of, so the words
correct each other ("bxox one" -> "xbox one", not "box one"; "hdmi cabel" -> "hdmi cable",
not "hdmi label"). With the shop's search
history, a query one edit from one shoppers often searched is read as that query first
(correct_from_queries), and among the catalog's readings the most searched one wins. A
correction is only offered when it makes more products match than the query as typed.

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
from typing import TYPE_CHECKING, Callable

from indexer.keyword.base import query_terms
from indexer.keyword.stemming import stem
from indexer.spelling import MIN_TARGET_PRODUCTS, Neighbour, SpellingDictionary, typo_limit
from indexer.suggestions import phrase_key

if TYPE_CHECKING:
    from search_engine.suggest.popularity import PopularQueries

NEIGHBOURS_PER_WORD = 12  # the known words a typo may stand for: the nearest, then the most widely held
MAX_COMBINATIONS = 64  # candidate corrections counted, fewest edits first
MAX_CORRECTED_WORDS = 12  # a longer query is not corrected (relaxation still applies): bounded cost


@dataclass(frozen=True)
class Correction:
    text: str  # the corrected query, as shown and searched
    matching: int  # products holding every corrected word
    original_matching: int  # ... every word as typed
    edits: int  # words changed, split or joined
    reshaped: bool  # words were split or joined (not only respelt)
    searched: bool = False  # a query shoppers searched (and the words as typed are not one)


def _is_code(word: str) -> bool:
    """Model codes and numbers ("pg540", "2110") are never corrected: a near code is another product."""
    return any(c.isdigit() for c in word)


def _typo_prone(word: str, dictionary: SpellingDictionary) -> bool:
    """A word fewer products write so than a correction target needs: it may be a typo (and
    it may still be a real word, matched through its stem: "cars" is read both ways)."""
    return not _is_code(word) and dictionary.spelt(word) < MIN_TARGET_PRODUCTS


def _known(word: str, dictionary: SpellingDictionary) -> bool:
    """A word the keyword leg matches in enough products (through its stem)."""
    return _is_code(word) or dictionary.products(word) >= MIN_TARGET_PRODUCTS


def respellings(word: str, dictionary: SpellingDictionary, count: int = NEIGHBOURS_PER_WORD) -> list[Neighbour]:
    """The known words a typo-prone word may stand for, nearest and most widely held first
    (none for a known word or a code)."""
    if not _typo_prone(word, dictionary):
        return []
    return dictionary.neighbours(word, typo_limit(word))[:count]


@dataclass(frozen=True)
class Option:
    """One way to read the typed words from a position."""
    consumed: int  # typed words it reads
    words: tuple[str, ...]  # ... as these
    edits: int
    reshaped: bool = False  # the word boundaries moved
    stretched: bool = False  # the same word(s) both re-split (or joined) and respelt: the least likely reading


def _options(words: list[str], i: int, dictionary: SpellingDictionary) -> list[Option]:
    """Ways to read the words from position i."""
    word = words[i]
    # A word the catalog does not know is never kept as typed: no reading holding it could be
    # a correction, and such readings would crowd the right ones out of _readings' width.
    options = [Option(1, (word,), 0)] if _known(word, dictionary) else []
    if _typo_prone(word, dictionary):  # a typo of a word the catalog knows, or two run together
        options += [Option(1, (respelt.word,), respelt.edits) for respelt in respellings(word, dictionary)]
        # Two words run together cost one edit, and one more if one of them is misspelt too
        # (only for a word no product holds: "microwave", in one product, is no "micro wav").
        options += [Option(1, split, 1 if "".join(split) == word else 2, True, "".join(split) != word)
                    for split in dictionary.splits(word, typos=dictionary.products(word) == 0)[:3]]
    elif _is_code(word) and dictionary.products(word) < MIN_TARGET_PRODUCTS:
        # A code run into a word ("2110toner"): split exactly, never respelt.
        options += [Option(1, split, 1, True) for split in dictionary.splits(word)[:2]]
    if i + 1 < len(words) and not _is_code(word) and not _is_code(words[i + 1]):
        following = words[i + 1]
        joined = word + following
        if dictionary.products(joined) >= MIN_TARGET_PRODUCTS:  # a word split in two ("tr ipod")
            options.append(Option(2, (joined,), 1, True))
        if _typo_prone(word, dictionary) or _typo_prone(following, dictionary):  # a misplaced space ("gpswa tch")
            options += [Option(2, split, 1, True) for split in dictionary.splits(joined)[:2] if split != (word, following)]
            # ... or a word split in two and misspelt: one edit more ("smart wtch": smartwatch)
            options += [Option(2, (respelt.word,), 1 + respelt.edits, True, True)
                        for respelt in respellings(joined, dictionary)[:2]]
    return options


@dataclass(frozen=True)
class Reading:
    words: tuple[str, ...]
    edits: int
    reshaped: bool  # a word was split or words joined (not only respelt)
    stretched: bool = False  # some word was both (Option.stretched)


def _readings(words: list[str], dictionary: SpellingDictionary) -> list[Reading]:
    """Every reading of the query, built left to right."""
    options = [_options(words, at, dictionary) for at in range(len(words))]  # once per position
    growing = [(Reading((), 0, False), 0)]  # (reading so far, position)
    done = []
    while growing:
        grown = []
        for so_far, at in growing:
            if at == len(words):
                done.append(so_far)
                continue
            for option in options[at]:
                grown.append((Reading(so_far.words + option.words, so_far.edits + option.edits,
                                      so_far.reshaped or option.reshaped, so_far.stretched or option.stretched),
                              at + option.consumed))
        growing = sorted(grown, key=lambda r: r[0].edits)[: MAX_COMBINATIONS * 4]
    return done


def correct_from_queries(text: str, popular: PopularQueries, dictionary: SpellingDictionary,
                         count_matching: Callable[[str], int], enough: int) -> Correction | None:
    """A query fewer than `enough` products fully match, read as the most searched query one
    edit from it (PopularQueries.neighbours, accents folded) that more products match: what
    this shop's shoppers meant by it before, as they most often typed it (with the accents
    the catalog writes, where they left them out: dictionary.as_written). It also catches a
    typo that makes another real word ("usb hug"), which the catalog's vocabulary alone
    cannot. A query shoppers searched themselves is never corrected."""
    key = phrase_key(text)
    if len(key) < 2 or popular.index.score(key):
        return None  # what shoppers searched as typed is not a typo
    original = count_matching(" ".join(query_terms(text)))
    if original >= enough:
        return None
    codes = [w for w in key.split(" ") if _is_code(w)]
    for other, _ in popular.neighbours(key)[:NEIGHBOURS_PER_WORD]:
        if [w for w in other.split(" ") if _is_code(w)] != codes:
            continue  # "750gb" is not a typo of a popular "250gb": a near code is another product
        shown = dictionary.as_written(popular.shown_as.get(other, other))
        matching = count_matching(shown)
        if matching > original:
            respaced = other.replace(" ", "") == key.replace(" ", "")
            return Correction(shown, matching, original, 1, reshaped=respaced, searched=True)
    return None


def _no_titles(text: str) -> int:
    return 0


def correct(text: str, dictionary: SpellingDictionary, count_matching: Callable[[str], int],
            enough: int, searched: Callable[[str], float] | None = None,
            count_in_titles: Callable[[str], int] = _no_titles) -> Correction | None:
    """The correction of a query that fewer than `enough` products fully match, or None.
    Only readings in which every word is one the catalog knows, with the fewest edits that
    achieve that, are candidates (a more exotic reading is not a correction: relaxation
    handles what is left); of those, the one shoppers searched most (searched(key), when
    given), then, for a query of two or more words, the one the most titles hold word for
    word (count_in_titles), then the one the most products fully match (count_matching:
    products holding every word), if that
    beats the query as typed. A reading that both re-splits and respells a word must be
    one at least MIN_TARGET_PRODUCTS products hold, as a respelt word must be: "micowave"
    is not "mimo wave" because one Wi-Fi product says both."""
    words = query_terms(text)
    if not words or len(words) > MAX_CORRECTED_WORDS:
        return None
    original = count_matching(" ".join(words))
    if original >= enough or (original and all(_known(w, dictionary) for w in words)):
        return None  # enough products hold it, or some do and every word is a real one
    repeated = len(set(words)) < len(words)
    # A split or join that repeats a word (or its stem) is no reading ("usbuhb" is not "usb usb"); a
    # respelling may ("hdmi to hdmo": "hdmi to hdmi").
    known = [r for r in _readings(words, dictionary) if r.edits > 0 and all(_known(w, dictionary) for w in r.words)
             and (repeated or not r.reshaped or len({stem(w) for w in r.words}) == len(r.words))]
    levels = sorted({r.edits for r in known})[:2]  # the fewest edits, or one more: no further
    # Titles' word order says how words go together; for a single word typed, how many
    # titles hold it says less than how many products do ("lase": laser, not case).
    context = len(words) > 1
    counted = 0
    for edits in levels:  # the fewest edits that make more products match
        best = None
        for reading in [r for r in known if r.edits == edits][:MAX_COMBINATIONS - counted]:
            candidate = " ".join(reading.words)
            matching = count_matching(candidate)
            counted += 1
            # Of as many edits, the reading titles hold as words in a row, then the one more
            # products hold ("ip hone": iphone, not "ip home"); between as many, a respelling
            # before a re-split.
            score = (searched(candidate) if searched else 0.0, count_in_titles(candidate) if context else 0, matching,
                     not reading.reshaped, sum(math.log1p(dictionary.spelt(w)) for w in reading.words))
            plausible = not reading.stretched or matching >= MIN_TARGET_PRODUCTS
            if matching > original and plausible and (best is None or score > best[0]):
                best = (score, Correction(dictionary.as_written(candidate), matching, original, reading.edits,
                                          reading.reshaped))
        if best is not None or counted >= MAX_COMBINATIONS:
            return best[1] if best else None
    return None


@dataclass(frozen=True)
class Relaxation:
    kept: str  # the words products must hold
    dropped: tuple[str, ...]  # words no longer required, as read (corrected where they were)
    corrected: str | None  # the whole query with words no product holds replaced, when any were


def relaxed(text: str, dictionary: SpellingDictionary, count_matching: Callable[[str], int],
            keep_specific: bool = True) -> Relaxation | None:
    """The words to require when no product holds them all. A word that no product holds
    is first read as its most widely held neighbour that some do (said in `corrected`), and
    dropped if it has none. Then as few words as possible are dropped: keep_specific keeps,
    of the choices that drop as many and still match, the one the fewest products match
    (the least informative, most common words go: right when the kept words are all a
    ranking reads), else the one the most match (right when the dense leg ranks that broader
    set by the whole query). None when no word matches anything."""
    typed = query_terms(text)
    readings = [_matchable(w, dictionary, count_matching) for w in typed]
    words = [word for word, _ in readings]
    corrected = dictionary.as_written(" ".join(w or t for w, t in zip(words, typed))) if any(
        w is not None and w != t for w, t in zip(words, typed)) else None
    alone = {i: matching for i, (_, matching) in enumerate(readings) if matching}
    usable = list(alone)
    if not usable:
        return None
    kept = _kept(usable, words, count_matching, keep_specific, alone)
    return Relaxation(" ".join(words[i] for i in kept),
                      tuple(words[i] or typed[i] for i in range(len(typed)) if i not in kept), corrected)


MAX_RELAXED_WORDS = 6  # beyond this many matchable words, words are dropped one at a time


def _kept(usable: list[int], words: list[str | None], count_matching, keep_specific: bool,
          alone: dict[int, int]) -> list[int]:
    """The positions to keep, of words each of which some product holds: the largest set
    that still matches, chosen as relaxed() says (one word always matches on its own)."""
    if len(usable) > MAX_RELAXED_WORDS:  # greedily: the most common (or the rarest) word goes first
        order = sorted(usable, key=lambda i: -alone[i] if keep_specific else alone[i])
        return next(sorted(order[k:]) for k in range(len(order))
                    if count_matching(" ".join(words[i] for i in sorted(order[k:]))))
    for size in range(len(usable), 0, -1):
        choices = [(count_matching(" ".join(words[i] for i in kept)), list(kept))
                   for kept in itertools.combinations(usable, size)]
        matching = [c for c in choices if c[0] > 0]
        if matching:
            return (min(matching) if keep_specific else max(matching, key=lambda c: (c[0], [-i for i in c[1]])))[1]
    raise AssertionError("a usable word matches on its own")


def _matchable(word: str, dictionary: SpellingDictionary, count_matching) -> tuple[str | None, int]:
    """The word if some product holds it (as the keyword leg stems it), else its nearest, then
    most widely held, neighbour that some product holds, else None; with how many products hold it."""
    matching = count_matching(word)
    if matching or _is_code(word):
        return (word, matching) if matching else (None, 0)
    for neighbour in dictionary.neighbours(word, typo_limit(word)):
        matching = count_matching(neighbour.word)
        if matching:
            return neighbour.word, matching
    return None, 0
