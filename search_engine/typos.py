"""A seeded typo generator for measuring how a search copes with misspelt queries.

Each query gets one edit in one word, or (with probability TWO_WORDS) one edit in each of
two words. The edit is one of
  insertion      a random letter added at a random place          "mouse" -> "mousre"
  deletion       one letter dropped                               "mouse" -> "muse"
  substitution   one letter replaced by a different random letter "mouse" -> "mousa"
  transposition  two neighbouring letters swapped                 "mouse" -> "muose"
  split          a space put inside the word                      "mouse" -> "mo use"
  merge          the word joined to the next one                  "wireless mouse" -> "wirelessmouse"
chosen uniformly among those that apply (a word needs 2+ letters for a deletion or
substitution, two different neighbouring letters for a transposition, a place between two
letters or digits leaving 2+ characters each side for a split; merge needs a next word),
so the misspelling always differs from the word as a search reads it. Words of fewer than 3 characters are left alone when the query has longer ones.
Letters are a-z; the same seed always gives the same misspellings.
"""
from __future__ import annotations

import random
import string
from typing import Mapping

TWO_WORDS = 0.3
EDITS = ("insertion", "deletion", "substitution", "transposition", "split", "merge")


def _edit(words: list[str], i: int, kind: str, rng: random.Random) -> list[str]:
    word = words[i]
    if kind == "merge":
        return words[:i] + [word + words[i + 1]] + words[i + 2:]
    if kind == "split":
        at = rng.choice(_split_points(word))
        return words[:i] + [word[:at], word[at:]] + words[i + 1:]
    if kind == "insertion":
        at = rng.randrange(len(word) + 1)
        changed = word[:at] + rng.choice(string.ascii_lowercase) + word[at:]
    elif kind == "deletion":
        at = rng.randrange(len(word))
        changed = word[:at] + word[at + 1:]
    elif kind == "substitution":
        at = rng.randrange(len(word))
        changed = word[:at] + rng.choice([c for c in string.ascii_lowercase if c != word[at]]) + word[at + 1:]
    else:  # transposition of two different neighbouring letters
        at = rng.choice([j for j in range(len(word) - 1) if word[j] != word[j + 1]])
        changed = word[:at] + word[at + 1] + word[at] + word[at + 2:]
    return words[:i] + [changed] + words[i + 1:]


def _split_points(word: str) -> list[int]:
    """Where a space splits a word into two parts of 2+ characters that a search reads as two
    words (between two letters or digits, not beside a hyphen)."""
    return [at for at in range(2, len(word) - 1) if word[at - 1].isalnum() and word[at].isalnum()]


def _edits_for(words: list[str], i: int) -> list[str]:
    length = len(words[i])
    kinds = ["insertion"]
    if length >= 2:
        kinds += ["deletion", "substitution"]
    if any(a != b for a, b in zip(words[i], words[i][1:])):
        kinds.append("transposition")
    if _split_points(words[i]):
        kinds.append("split")
    if i + 1 < len(words):
        kinds.append("merge")
    return kinds


def misspell(query: str, rng: random.Random) -> str:
    """The query with one edit in one or two of its words (lower case, single spaces)."""
    words = query.lower().split()
    if not words:
        return query
    long_words = [i for i, w in enumerate(words) if len(w) >= 3] or list(range(len(words)))
    count = 2 if len(long_words) >= 2 and rng.random() < TWO_WORDS else 1
    # Right to left, so an earlier word's index still holds after a split or merge.
    for i in sorted(rng.sample(long_words, count), reverse=True):
        words = _edit(words, i, rng.choice(_edits_for(words, i)), rng)
    return " ".join(words)


def misspelled_judgments(judgments: Mapping[str, Mapping[str, float]], seed: int
                         ) -> dict[str, tuple[str, Mapping[str, float]]]:
    """Misspelt query -> (clean query, its grades), one misspelling per clean query; a
    misspelling that came out identical to its query or to an earlier one is drawn again."""
    rng = random.Random(seed)
    out: dict[str, tuple[str, Mapping[str, float]]] = {}
    for query in sorted(judgments):
        typo = next((t for t in (misspell(query, rng) for _ in range(100)) if t != query.lower() and t not in out),
                    None)
        if typo is None:
            raise ValueError(f"no misspelling of {query!r} that differs from it and from the others")
        out[typo] = (query, judgments[query])
    return out
