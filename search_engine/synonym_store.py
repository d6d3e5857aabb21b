"""Merchants' synonym rules: the ones edited through the admin API and the workbench, in the
merchants' SQLite file (search_engine/rule_table.py), after the read-only ones of the
synonyms file (settings.synonyms_file). Searches read them as one immutable Synonyms, built
again only when the rules changed, so an edit applies from the next search, in every worker,
without a reindex."""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

from indexer.keyword.synonyms import SynonymRule, Synonyms, rules_from_lines
from search_engine.rule_table import RuleTable


class SynonymStore(RuleTable[SynonymRule]):
    def __init__(self, path: str | Path, file_rules: Sequence[SynonymRule] = ()):
        super().__init__(path, "synonyms", SynonymRule, ("text",))
        self.file_rules = tuple(file_rules)

    @classmethod
    def open(cls, path: str | Path, synonyms_file: str | Path | None = None) -> "SynonymStore":
        """The store, with the file's rules first (a bad line: an error naming the file and line)."""
        file_rules = ()
        if synonyms_file:
            file_rules = rules_from_lines(Path(synonyms_file).read_text(encoding="utf-8").splitlines(),
                                          str(synonyms_file))
        return cls(path, file_rules)

    def synonyms(self) -> Synonyms:
        """Every rule, the file's first, as one Synonyms: a shared, immutable object that stays
        the same object until the rules change (an edit to another table of the file keeps it)."""
        return self.derived(lambda stored: Synonyms(self.file_rules + tuple(stored)))
