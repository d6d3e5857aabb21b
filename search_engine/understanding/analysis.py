"""What a query names, recognised against the catalog's vocabulary (vocabulary.py)."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from search_engine.understanding.field_bm25 import query_stems
from search_engine.understanding.vocabulary import CatalogVocabulary, code_tokens, normalize, words

MAX_BRAND_WORDS = 4
QUERY_KINDS = ("code", "brand", "descriptive")
SIMILAR_TYPES_SHOWN = 3
MIN_VALUE_LETTERS = 3  # "c" or "tn" alone is too ambiguous to be a value
ATTRIBUTE_NAMES_SHOWN = 5


@dataclass(frozen=True)
class QueryAnalysis:
    terms: tuple[str, ...]  # normalized query words
    stems: tuple[str, ...]  # the distinct query words as the keyword leg compares them (field_bm25)
    brands: tuple[str, ...]  # brands the query names, as the catalog spells them
    types: tuple[str, ...]  # product types whose every word the query contains, longest first
    similar_types: tuple[tuple[str, float], ...]  # nearest type names by the query tower, best first
    type_similarity: np.ndarray  # the query's cosine to every type name, in vocabulary.types order
    codes: tuple[str, ...]  # model or part codes, compacted ("tn2110")
    attributes: tuple[tuple[str, tuple[str, ...]], ...]  # (value words, attribute names that hold them)

    @property
    def kind(self) -> str:
        """One of QUERY_KINDS: a code first (a brand with a code is a code query), then a brand."""
        return "code" if self.codes else "brand" if self.brands else "descriptive"

    def explain(self) -> dict:
        return {
            "kind": self.kind,
            "brands": list(self.brands),
            "types": list(self.types),
            "similar_types": [{"type": t, "similarity": round(s, 4)} for t, s in self.similar_types],
            "codes": list(self.codes),
            "attributes": [{"value": " ".join(v), "attributes": list(names[:ATTRIBUTE_NAMES_SHOWN]),
                            "more_attributes": max(0, len(names) - ATTRIBUTE_NAMES_SHOWN)}
                           for v, names in self.attributes],
        }


def _ngrams(tokens: list[str], longest: int):
    for size in range(min(longest, len(tokens)), 0, -1):
        for start in range(len(tokens) - size + 1):
            yield start, tuple(tokens[start:start + size])


def analyze(text: str, query_vector: np.ndarray, vocabulary: CatalogVocabulary) -> QueryAnalysis:
    raw = words(text)
    terms = tuple(normalize(w) for w in raw)
    term_set = set(terms)

    brands, brand_positions = [], set()
    for start, gram in _ngrams(raw, MAX_BRAND_WORDS):
        brand = vocabulary.brand_aliases.get(gram)
        span = set(range(start, start + len(gram)))
        if brand and not span & brand_positions and brand not in brands:
            brands.append(brand)
            brand_positions |= span

    named = [i for i, type_words in enumerate(vocabulary.type_words) if type_words and set(type_words) <= term_set]
    named.sort(key=lambda i: (-len(vocabulary.type_words[i]), vocabulary.types[i]))

    similarity = (vocabulary.type_vectors @ np.asarray(query_vector, dtype=np.float32).reshape(-1)
                  if len(vocabulary.types) else np.zeros(0, np.float32))
    best = np.argsort(-similarity, kind="stable")[:SIMILAR_TYPES_SHOWN]

    attributes, attribute_positions = [], set(brand_positions)
    for start, gram in _ngrams(list(terms), 3):  # longest first; a shorter value inside it is not another
        names = vocabulary.attribute_values.get(gram)
        span = set(range(start, start + len(gram)))
        if names and not span & attribute_positions and len("".join(gram)) >= MIN_VALUE_LETTERS:
            attributes.append((gram, tuple(sorted(names))))
            attribute_positions |= span

    return QueryAnalysis(
        terms=terms, stems=query_stems(text), brands=tuple(brands), types=tuple(vocabulary.types[i] for i in named),
        similar_types=tuple((vocabulary.types[i], float(similarity[i])) for i in best),
        type_similarity=similarity, codes=tuple(sorted(code_tokens(text))), attributes=tuple(attributes))
