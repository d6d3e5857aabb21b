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
    fused_rank: int | None = None  # position after fusion and filters, before any ranker
    relevance_score: float | None = None  # the relevance ranker's score, when it ranked this candidate
    relevance_rank: int | None = None
    relevance_contributions: dict[str, float] | None = None  # each feature's share of relevance_score
    personal_score: float | None = None  # the preference model's score, when it reranked
    contributions: dict[str, float] | None = None  # each feature's share of personal_score
    merchandising: list[str] | None = None  # the merchandising rules that moved it, in order

    @property
    def base_score(self) -> float:
        """The unpersonalized score: the relevance ranker's where it ranked, else fusion's."""
        return self.fused_score if self.relevance_score is None else self.relevance_score

    @property
    def base_rank(self) -> int | None:
        return self.fused_rank if self.relevance_rank is None else self.relevance_rank


EVENT_TYPES = ("search", "view", "click", "add_to_cart", "purchase")


@dataclass(frozen=True)
class Event:
    """One thing a shopper did. A search event records what the shopper was shown."""

    user_id: str
    session_id: str
    timestamp: float  # seconds since the epoch, UTC
    type: str  # one of EVENT_TYPES
    product_id: str | None = None  # every type but search
    query: str | None = None  # search events, and clicks etc. that came from a search
    position: int | None = None  # 1-based position the product was shown at (search: of shown[0])
    search_id: str | None = None  # ties a click to the search that showed it
    shown: tuple[str, ...] = ()  # search events: product ids in the order shown


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
    personalized_by: str | None = None  # the preference model's version when it reranked
    ranked_by: str | None = None  # the relevance ranker's version when it ranked
    understood: dict | None = None  # what query understanding recognised (explain)
