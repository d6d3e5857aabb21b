"""Merchandising rules in one SQLite file, read by every search and edited by merchants
(search_engine/rule_table.py)."""
from __future__ import annotations

from pathlib import Path

from search_engine.merchandising import Rule
from search_engine.rule_table import RuleTable

FIELDS = ("query", "action", "match", "product_id", "position", "brand", "category")


class RuleStore(RuleTable[Rule]):
    def __init__(self, path: str | Path):
        super().__init__(path, "rules", Rule, FIELDS, integer_fields=("position",))
