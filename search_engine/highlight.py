"""Highlighting: a product's title and a description snippet with the words that match the
query wrapped in <em>, everything else HTML-escaped (a product text holding markup is shown,
never run).

A word matches as the keyword leg matches it: the same stem (tantivy's English stemmer, as
the en_stem fields use: "cables" and "cable", "batteries" and "battery"), or, for query words
of KeywordConfig.fuzzy_min_term_length letters or more, within the keyword leg's typo
distance (1 edit, 2 from 8 letters, a swap of neighbouring letters counting one: "wireles"
and "wirelses" mark "wireless").
"""
from __future__ import annotations

import html
import re
from dataclasses import dataclass
from functools import lru_cache

from indexer.keyword.base import KeywordConfig, query_terms

SNIPPET_CHARS = 160
_WORD = re.compile(r"[^\W_]+")


@lru_cache(maxsize=1)
def _stemmer():
    import tantivy

    return (tantivy.TextAnalyzerBuilder(tantivy.Tokenizer.simple()).filter(tantivy.Filter.lowercase())
            .filter(tantivy.Filter.stemmer("english")).build())


@lru_cache(maxsize=200_000)
def stem(word: str) -> str:
    tokens = _stemmer().analyze(word)
    return tokens[0] if tokens else word.lower()


def within_edits(a: str, b: str, limit: int) -> bool:
    """Edit distance of a and b at most `limit`, a swap of two neighbouring letters counting
    one edit as in the keyword leg's fuzzy queries (optimal string alignment), computed in a
    band of width `limit`."""
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


@dataclass(frozen=True)
class QueryMatcher:
    stems: frozenset[str]
    fuzzy: tuple[tuple[str, int], ...]  # (query word, edits allowed)

    @classmethod
    def of(cls, text: str, config: KeywordConfig | None = None) -> "QueryMatcher":
        config = config or KeywordConfig()
        words = query_terms(text)
        fuzzy = tuple((w, 2 if len(w) >= 8 else 1) for w in words if len(w) >= config.fuzzy_min_term_length
                      and not w.isdigit())
        return cls(frozenset(stem(w) for w in words), fuzzy)

    def matches(self, word: str) -> bool:
        lower = word.lower()
        return stem(lower) in self.stems or any(within_edits(lower, w, k) for w, k in self.fuzzy)


def _marked(text: str, matcher: QueryMatcher) -> tuple[str, int | None]:
    """The escaped text with matches in <em>, and the offset of the first match."""
    parts, last, first = [], 0, None
    for found in _WORD.finditer(text):
        if matcher.matches(found.group()):
            parts += [html.escape(text[last:found.start()]), "<em>", html.escape(found.group()), "</em>"]
            last = found.end()
            first = found.start() if first is None else first
    parts.append(html.escape(text[last:]))
    return "".join(parts), first


def highlight_title(title: str, matcher: QueryMatcher) -> str:
    return _marked(title, matcher)[0]


def snippet(text: str, matcher: QueryMatcher, chars: int = SNIPPET_CHARS) -> str:
    """About `chars` characters of `text` around its first match (its start when none), cut at
    word boundaries, "…" where cut, matches in <em>, the rest escaped."""
    first = next((m.start() for m in _WORD.finditer(text) if matcher.matches(m.group())), None)
    start = 0 if first is None or first < chars // 4 else text.rfind(" ", 0, first - chars // 4) + 1
    end = len(text) if start + chars >= len(text) else (text.rfind(" ", start, start + chars) if
                                                        text.rfind(" ", start, start + chars) > start else start + chars)
    marked, _ = _marked(text[start:end], matcher)
    return ("…" if start > 0 else "") + marked + ("…" if end < len(text) else "")
