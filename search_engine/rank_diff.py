"""What changed between two rankings of the same query: moved up, moved down, new, dropped."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence


@dataclass(frozen=True)
class RankChange:
    product_id: str
    before: int | None  # 1-based position in the first ranking; None: not in it
    after: int | None  # 1-based position in the second ranking; None: not in it

    @property
    def status(self) -> str:
        if self.before is None:
            return "new"
        if self.after is None:
            return "dropped"
        if self.after < self.before:
            return "up"
        return "down" if self.after > self.before else "same"

    @property
    def moved(self) -> int:
        """Places moved up (positive) or down (negative); 0 when new, dropped or unmoved."""
        return 0 if self.before is None or self.after is None else self.before - self.after


def rank_changes(before: Sequence[str], after: Sequence[str]) -> list[RankChange]:
    """One change per product in `after` (in its order), then those only in `before`."""
    before_at = {pid: rank for rank, pid in enumerate(before, start=1)}
    after_at = {pid: rank for rank, pid in enumerate(after, start=1)}
    changes = [RankChange(pid, before_at.get(pid), rank) for pid, rank in after_at.items()]
    changes += [RankChange(pid, rank, None) for pid, rank in before_at.items() if pid not in after_at]
    return changes
