"""Highlighting: a product's title and a description snippet with the words that match the
query wrapped in <em>, everything else HTML-escaped (a product text holding markup is shown,
never run).

A word matches when it has a query word's stem (tantivy's English stemmer, as the en_stem
fields use: "cables" and "cable", "batteries" and "battery"). Typos are marked as the keyword
leg's fallback matches them, in the title only (its fuzzy query reads the title, brand and
model) and only for a query word of KeywordConfig.fuzzy_min_term_length letters or more that
nothing in the product matches by stem: a word within 1 edit (2 from 8 letters, a swap of
neighbouring letters counting one) is marked ("wireles" and "wirelses" mark "Wireless"). So
"pink" does not mark "ink" in a product that says pink; it can in one that does not.
Descriptions are read up to SCAN_CHARS characters: a snippet comes from their start.
"""
from __future__ import annotations

import html
import re
from dataclasses import dataclass

from indexer.keyword.base import KeywordConfig, fold_accents, query_terms
from indexer.keyword.stemming import stem
from indexer.spelling import within_edits  # noqa: F401 (also this module's, for its callers)

SNIPPET_CHARS = 160
SCAN_CHARS = 4000  # of a description: enough for a snippet, bounded for very long texts
_WORD = re.compile(r"[^\W_]+")


@dataclass(frozen=True)
class QueryMatcher:
    stems: frozenset[str]
    fuzzy: tuple[tuple[str, str, int], ...]  # (query word, its stem, edits allowed)

    @classmethod
    def of(cls, text: str, config: KeywordConfig | None = None) -> "QueryMatcher":
        config = config or KeywordConfig()
        words = query_terms(text)
        # Compared folded, as stems are (indexer/keyword/stemming.py).
        fuzzy = tuple((fold_accents(w), stem(w), 2 if len(w) >= 8 else 1) for w in words
                      if len(w) >= config.fuzzy_min_term_length)
        return cls(frozenset(stem(w) for w in words), fuzzy)

    def for_product(self, *texts: str) -> "ProductMatcher":
        """The matcher for one product's texts: typo matching only for the query words none of
        them contains by stem."""
        present = {stem(m.group().lower()) for text in texts for m in _WORD.finditer(text)} & self.stems
        return ProductMatcher(self.stems, tuple((w, k) for w, s, k in self.fuzzy if s not in present))


@dataclass(frozen=True)
class ProductMatcher:
    stems: frozenset[str]
    fuzzy: tuple[tuple[str, int], ...]  # query words to match with typos, and the edits allowed

    def matches(self, word: str, typos: bool) -> bool:
        lower = word.lower()
        return stem(lower) in self.stems or (typos and any(within_edits(fold_accents(lower), w, k)
                                                           for w, k in self.fuzzy))


def _marked(text: str, matcher: ProductMatcher, typos: bool) -> str:
    """The escaped text with matches in <em>."""
    parts, last = [], 0
    for found in _WORD.finditer(text):
        if matcher.matches(found.group(), typos):
            parts += [html.escape(text[last:found.start()]), "<em>", html.escape(found.group()), "</em>"]
            last = found.end()
    parts.append(html.escape(text[last:]))
    return "".join(parts)


def highlight_title(title: str, matcher: ProductMatcher) -> str:
    return _marked(title, matcher, typos=True)


def snippet(text: str, matcher: ProductMatcher, chars: int = SNIPPET_CHARS) -> str:
    """About `chars` characters of `text` from a little before its first match (its start when
    none), cut between words, "…" where cut, matches in <em>, the rest escaped."""
    scanned = text[:SCAN_CHARS]
    words = list(_WORD.finditer(scanned))
    first = next((w for w in words if matcher.matches(w.group(), typos=False)), None)
    if len(text) <= chars:
        start, end = 0, len(text)
    else:
        anchor = first.start() if first is not None else 0
        start = next((w.start() for w in words if w.start() >= anchor - chars // 4), anchor)
        limit = max(start + chars, first.end() if first is not None else 0)
        ends = [w.end() for w in words if start < w.end() <= limit]
        end = ends[-1] if ends else min(len(scanned), limit)
    return ("…" if start > 0 else "") + _marked(text[start:end], matcher, typos=False) + ("…" if end < len(text) else "")
