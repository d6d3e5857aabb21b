"""Merchants' say over suggestions: block a phrase (or every phrase holding some words), or
pin one first for every prefix it completes. A block is for words as written ("año" is not
"ano"), matched against the suggestion as shown; a pin is offered for every prefix of its
phrase, typed with or without accents."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from indexer.keyword.base import overlong_words
from indexer.suggestions import phrase_key, phrase_words
from search_engine.rule_table import RuleTable

ACTIONS = ("block", "pin")
MATCHES = ("exact", "contains")
FIELDS = ("text", "action", "match")
MAX_RULE_CHARACTERS = 200


@dataclass(frozen=True)
class SuggestionRule:
    text: str
    action: str
    match: str = "exact"  # a block: the phrase itself, or every phrase containing its words in order
    id: int | None = None  # set by the store
    key: str = field(init=False, repr=False, compare=False)  # the phrase's words, as suggestions compare them
    words: str = field(init=False, repr=False, compare=False)  # the phrase's words as written (lower-case)

    def __post_init__(self):
        if not isinstance(self.text, str) or not phrase_key(self.text):
            raise ValueError("text: a suggestion rule needs the phrase it is about (letters or digits)")
        if len(self.text) > MAX_RULE_CHARACTERS:
            raise ValueError(f"text: at most {MAX_RULE_CHARACTERS} characters, got {len(self.text)}")
        if overlong_words(self.text):
            raise ValueError("text: a word longer than any word the index holds would be left out of the phrase")
        if self.action not in ACTIONS:
            raise ValueError(f"action: must be one of {', '.join(ACTIONS)}, got {self.action!r}")
        if self.match not in MATCHES:
            raise ValueError(f"match: must be one of {', '.join(MATCHES)}, got {self.match!r}")
        if self.action == "pin" and self.match != "exact":
            raise ValueError("match: a pin is for one phrase (exact)")
        object.__setattr__(self, "key", phrase_key(self.text))
        object.__setattr__(self, "words", phrase_words(self.text))

    def completes(self, typed: str, finished: bool) -> bool:
        """A pin's phrase completes what was typed (key words; finished: the last word is whole)."""
        key = self.key
        return key == typed or key.startswith(typed + " " if finished else typed)

    def to_dict(self) -> dict:
        return {"id": self.id, "text": self.text, "action": self.action, "match": self.match}


@dataclass(frozen=True)
class Blocks:
    """The block rules of a set of rules, ready to check many phrases: exact phrases by set
    lookup, contained word sequences by looking up each run of the phrase's words."""

    exact: frozenset[str]
    contained: frozenset[str]
    longest: int  # words in the longest contained sequence

    @classmethod
    def of(cls, rules) -> "Blocks":
        blocks = [rule for rule in rules if rule.action == "block"]
        contained = frozenset(rule.words for rule in blocks if rule.match == "contains")
        return cls(frozenset(rule.words for rule in blocks if rule.match == "exact"), contained,
                   max((len(key.split(" ")) for key in contained), default=0))

    def blocks(self, phrase: str) -> bool:
        """Whether a phrase's words as written (phrase_words) are blocked."""
        if phrase in self.exact:
            return True
        if not self.contained:
            return False
        words = phrase.split(" ")
        return any(" ".join(words[i:i + n]) in self.contained
                   for n in range(1, self.longest + 1) for i in range(len(words) - n + 1))


class SuggestionRuleStore(RuleTable[SuggestionRule]):
    def __init__(self, path: str | Path):
        super().__init__(path, "suggestion_rules", SuggestionRule, FIELDS)
