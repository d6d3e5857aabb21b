"""Synonyms the keyword leg applies at query time, the same way on every backend, so changing
them needs no reindex.

A rule is one line in the Solr format that Elasticsearch also reads:
  equivalent  "tv, television, telly": a query holding any of them matches any of them;
  one-way     "laptop, laptops => notebook": a query holding "laptop" also matches "notebook"
              (and still "laptop": the words typed are always kept, as Algolia's one-way
              synonyms; a query for "notebook" is not expanded).
A phrase may be several words ("smart watch, smartwatch"); it matches a query's words with the
same stems, in order. `expand` turns a query's words into slots: each slot is the words typed
and the alternatives any rule adds for them, and a product matches a slot when it holds every
word of one alternative (a product holds a query when it matches every slot). Where rules
overlap, the longest phrase starting at a word wins and its rules' alternatives are merged.
"""
from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Iterable, Sequence

from indexer.keyword.base import WORD_BYTES_LIMIT, overlong_words, query_terms
from indexer.keyword.stemming import stem

ARROW = "=>"
MAX_PHRASES = 20
MAX_PHRASE_WORDS = 5
MAX_RULE_CHARACTERS = 500


class SynonymFormatError(ValueError):
    """A line that is not a synonym rule; the message starts with "text:" (the field named)."""


Phrase = tuple[str, ...]


def _phrases(side: str, line: str) -> list[Phrase]:
    overlong = overlong_words(side)
    if overlong:
        raise SynonymFormatError(f"text: {overlong[0][:20]!r}... is longer than any word the index holds "
                                 f"(under {WORD_BYTES_LIMIT} bytes)")
    phrases = []
    for part in side.split(","):
        words = tuple(query_terms(part))
        if not words:
            raise SynonymFormatError(f"text: an empty phrase in {line!r} (phrases are separated by commas)")
        if len(words) > MAX_PHRASE_WORDS:
            raise SynonymFormatError(f"text: at most {MAX_PHRASE_WORDS} words per phrase, got {part.strip()!r}")
        phrases.append(words)
    return phrases


@dataclass(frozen=True)
class SynonymRule:
    text: str  # the Solr-format line
    id: int | None = None  # set by the store; None for a rule from the synonyms file
    inputs: tuple[Phrase, ...] = field(init=False, repr=False, compare=False)
    outputs: tuple[Phrase, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self):
        line = self.text.strip() if isinstance(self.text, str) else ""
        if not line:
            raise SynonymFormatError("text: a synonym rule is a line such as 'tv, television' or 'laptop => notebook'")
        if len(line) > MAX_RULE_CHARACTERS:
            raise SynonymFormatError(f"text: at most {MAX_RULE_CHARACTERS} characters, got {len(line)}")
        if line.count(ARROW) > 1:
            raise SynonymFormatError(f"text: unknown synonym format {line!r}: more than one '=>'")
        if ARROW in line:
            left, right = line.split(ARROW)
            inputs, outputs = _phrases(left, line), _phrases(right, line)
        else:
            inputs = outputs = _phrases(line, line)
            if len(inputs) < 2:
                raise SynonymFormatError(
                    f"text: unknown synonym format {line!r}: expected 'a, b' (equivalent) or 'a => b' (one-way)")
        if max(len(inputs), len(outputs)) > MAX_PHRASES:
            raise SynonymFormatError(f"text: at most {MAX_PHRASES} phrases a side")
        object.__setattr__(self, "text", line)
        object.__setattr__(self, "inputs", tuple(inputs))
        object.__setattr__(self, "outputs", tuple(outputs))

    @property
    def kind(self) -> str:
        return "one-way" if ARROW in self.text else "equivalent"

    def to_dict(self) -> dict:
        return {"id": self.id, "text": self.text, "kind": self.kind,
                "source": "api" if self.id is not None else "file"}


def rules_from_lines(lines: Iterable[str], where: str) -> list[SynonymRule]:
    """Rules from a file's lines (blank lines and '#' comments skipped); a bad line raises an
    error naming `where` and its line number."""
    rules = []
    for number, line in enumerate(lines, start=1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        try:
            rules.append(SynonymRule(line))
        except SynonymFormatError as exc:
            raise SynonymFormatError(f"{where}, line {number}: {exc}") from None
    return rules


@dataclass(frozen=True)
class Slot:
    typed: Phrase  # the query words this slot stands for
    alternatives: tuple[Phrase, ...]  # what may match them: the typed words first
    rules: tuple[SynonymRule, ...] = ()  # the rules that added the other alternatives


def every_word(slots: Sequence[Slot]) -> list[str]:
    """Every word of every alternative: what a ranked (any-word) search reads."""
    return [word for slot in slots for words in slot.alternatives for word in words]


def single_words(slots: Sequence[Slot]) -> list[str]:
    """The query words no rule expanded: the ones a typo pass may loosen."""
    return [slot.typed[0] for slot in slots if len(slot.alternatives) == 1 and len(slot.typed) == 1]


def _stems(words: Sequence[str]) -> tuple[str, ...]:
    return tuple(stem(w) for w in words)


class Synonyms:
    """An immutable set of rules, ready to expand queries."""

    def __init__(self, rules: Sequence[SynonymRule] = ()):
        self.rules = tuple(rules)
        # first stem of an input phrase -> (the phrase's stems, what it may also match, its rule)
        self._by_first: dict[str, list[tuple[tuple[str, ...], tuple[Phrase, ...], SynonymRule]]] = defaultdict(list)
        for rule in self.rules:
            for phrase in rule.inputs:
                stems = _stems(phrase)
                self._by_first[stems[0]].append((stems, rule.outputs, rule))

    def __bool__(self) -> bool:
        return bool(self.rules)

    def expand(self, words: Sequence[str]) -> list[Slot]:
        """The query's words as slots, left to right (a word no rule names: a slot of its own)."""
        if not self._by_first:
            return [Slot((w,), ((w,),)) for w in words]
        stems = _stems(words)
        slots, i = [], 0
        while i < len(words):
            found = [(phrase, outputs, rule) for phrase, outputs, rule in self._by_first.get(stems[i], ())
                     if stems[i:i + len(phrase)] == phrase]
            if not found:
                slots.append(Slot((words[i],), ((words[i],),)))
                i += 1
                continue
            longest = max(len(phrase) for phrase, _, _ in found)
            typed = tuple(words[i:i + longest])
            alternatives, seen, rules = [typed], {_stems(typed)}, []
            for phrase, outputs, rule in found:
                if len(phrase) != longest:
                    continue
                rules.append(rule)
                for output in outputs:
                    if _stems(output) not in seen:
                        seen.add(_stems(output))
                        alternatives.append(output)
            slots.append(Slot(typed, tuple(alternatives), tuple(dict.fromkeys(rules))))
            i += longest
        return slots

    def applied(self, words: Sequence[str]) -> list[SynonymRule]:
        """The rules that add alternatives to this query, in query order."""
        return list(dict.fromkeys(rule for slot in self.expand(words) if len(slot.alternatives) > 1
                                  for rule in slot.rules))


NO_SYNONYMS = Synonyms()
