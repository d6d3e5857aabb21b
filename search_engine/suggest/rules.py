"""Merchants' say over suggestions: block a phrase (or every phrase holding some words), or
pin one first for every prefix it completes."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from indexer.suggestions import phrase_key
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

    def __post_init__(self):
        if not isinstance(self.text, str) or not phrase_key(self.text):
            raise ValueError("text: a suggestion rule needs the phrase it is about (letters or digits)")
        if len(self.text) > MAX_RULE_CHARACTERS:
            raise ValueError(f"text: at most {MAX_RULE_CHARACTERS} characters, got {len(self.text)}")
        if self.action not in ACTIONS:
            raise ValueError(f"action: must be one of {', '.join(ACTIONS)}, got {self.action!r}")
        if self.match not in MATCHES:
            raise ValueError(f"match: must be one of {', '.join(MATCHES)}, got {self.match!r}")
        if self.action == "pin" and self.match != "exact":
            raise ValueError("match: a pin is for one phrase (exact)")

    @property
    def key(self) -> str:
        return phrase_key(self.text)

    def blocks(self, key: str) -> bool:
        if self.action != "block":
            return False
        return key == self.key if self.match == "exact" else f" {self.key} " in f" {key} "

    def completes(self, typed: str, finished: bool) -> bool:
        """A pin's phrase completes what was typed (key words; finished: the last word is whole)."""
        key = self.key
        return key == typed or key.startswith(typed + " " if finished else typed)

    def to_dict(self) -> dict:
        return {"id": self.id, "text": self.text, "action": self.action, "match": self.match}


class SuggestionRuleStore(RuleTable[SuggestionRule]):
    def __init__(self, path: str | Path):
        super().__init__(path, "suggestion_rules", SuggestionRule, FIELDS)
