"""The English stemmer the keyword leg's en_stem fields use (tantivy's), for code that must
compare words as the keyword leg does: highlighting, synonyms, suggestion equivalence.
Accents are folded first, as a version that folds them matches words (KeywordConfig.fold_accents)."""
from __future__ import annotations

from functools import lru_cache


@lru_cache(maxsize=1)
def _stemmer():
    import tantivy

    return (tantivy.TextAnalyzerBuilder(tantivy.Tokenizer.simple()).filter(tantivy.Filter.lowercase())
            .filter(tantivy.Filter.ascii_fold()).filter(tantivy.Filter.stemmer("english")).build())


@lru_cache(maxsize=200_000)
def stem(word: str) -> str:
    tokens = _stemmer().analyze(word)
    return tokens[0] if tokens else word.lower()
