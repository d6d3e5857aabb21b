"""What flows through a search: the query in, candidates between stages, the result out."""
from __future__ import annotations

from dataclasses import dataclass, field

from indexer.filters import Filters
from indexer.schema import Product

MODES = ("keyword", "dense", "hybrid")


@dataclass(frozen=True)
class Query:
    text: str
    k: int = 10
    offset: int = 0
    mode: str = "hybrid"
    filters: Filters = field(default_factory=Filters)
    user: str | None = None
    explain: bool = False

    def __post_init__(self):
        if not self.text.strip():
            raise ValueError("query text is empty")
        if self.mode not in MODES:
            raise ValueError(f"unknown mode {self.mode!r}; expected one of {', '.join(MODES)}")
        if self.k < 1:
            raise ValueError(f"k must be at least 1, got {self.k}")
        if self.offset < 0:
            raise ValueError(f"offset must not be negative, got {self.offset}")


@dataclass
class Candidate:
    """One product on its way through the stages, with what each stage said about it."""

    doc: int
    dense_score: float | None = None
    dense_rank: int | None = None  # 1-based
    keyword_score: float | None = None
    keyword_rank: int | None = None
    fused_score: float = 0.0


@dataclass
class Hit:
    product: Product
    score: float
    candidate: Candidate


@dataclass
class SearchResult:
    query: Query
    hits: list[Hit]
    candidates: int  # how many products the stages considered before paging
    index_version: str
    timings_ms: dict[str, float] = field(default_factory=dict)
