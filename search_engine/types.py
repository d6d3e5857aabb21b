"""What flows through a search: the query in, candidates between stages, the result out."""
from __future__ import annotations

from dataclasses import dataclass, field

from indexer.filters import Filters
from indexer.schema import Product

MODES = ("keyword", "dense", "hybrid")
# Sort orders besides the numeric attributes' "attr.<name>_asc" / "attr.<name>_desc".
SORTS = ("relevance", "price_asc", "price_desc")


@dataclass(frozen=True)
class FacetRequest:
    """Which facets to count over the matched set: "brand", "category", "price" and
    "attr.<name>" (a facet attribute: value counts; a numeric one: a range with a histogram)."""

    names: tuple[str, ...] = ()
    size: int = 10  # value facets: how many values, most common first
    price_buckets: tuple[float, ...] = ()  # the price histogram's bounds, ascending; () chooses them

    def __post_init__(self):
        if self.size < 1:
            raise ValueError(f"facet_size: must be at least 1, got {self.size}")
        if any(b >= a for a, b in zip(self.price_buckets[1:], self.price_buckets)):
            raise ValueError(f"price_buckets: bounds must ascend, got {list(self.price_buckets)}")


def sort_key(sort: str) -> tuple[str, bool] | None:
    """What a sort order sorts by ("price" or "attr.<name>") and whether descending;
    None for relevance. ValueError names the parameter when it is none of them."""
    if sort == "relevance":
        return None
    field, _, direction = sort.rpartition("_")
    if direction not in ("asc", "desc") or not (field == "price" or (field.startswith("attr.") and len(field) > 5)):
        raise ValueError(f"sort: expected relevance, price_asc, price_desc or attr.<name>_asc/_desc, got {sort!r}")
    return field, direction == "desc"


MAX_QUERY_CHARACTERS = 500  # a search box's text; longer is a script, not a shopper


@dataclass(frozen=True)
class Query:
    text: str
    k: int = 10
    offset: int = 0
    mode: str = "hybrid"
    filters: Filters = field(default_factory=Filters)
    user: str | None = None
    session: str | None = None  # the shopper's visit, as the event log records it (see visit)
    explain: bool = False
    sort: str = "relevance"
    facets: FacetRequest = field(default_factory=FacetRequest)
    correct_spelling: bool = True  # False: search the words as typed (the shopper insists)
    # The words products must hold (the keyword leg and the matched set), when spelling
    # relaxation dropped some; None: all of text. The dense leg always reads the whole text.
    keyword_text: str | None = None

    @property
    def visit(self) -> str | None:
        """The session the event log records this search under: the session, else the shopper."""
        return self.session or self.user

    @property
    def words_to_match(self) -> str:
        return self.text if self.keyword_text is None else self.keyword_text

    def __post_init__(self):
        if not self.text.strip():
            raise ValueError("query text is empty")
        if self.mode not in MODES:
            raise ValueError(f"unknown mode {self.mode!r}; expected one of {', '.join(MODES)}")
        if self.k < 1:
            raise ValueError(f"k must be at least 1, got {self.k}")
        if self.offset < 0:
            raise ValueError(f"offset must not be negative, got {self.offset}")
        sort_key(self.sort)


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
    contributions: dict[str, float] | None = None  # the parts of personal_score: the order's, each feature's
    personal_confidence: float | None = None  # how far the preference model's correction was trusted, 0 .. 1
    tastes: dict[str, float] | None = None  # the shopper's strongest likings among the product's brand, type, values
    merchandising: list[str] | None = None  # the merchandising rules that moved it, in order

    @property
    def ranked(self) -> bool:
        """Whether the stages ranked it (a retrieval leg found it), as opposed to the rest of
        the matched set that the results page adds below them: what rankers see and learn from."""
        return self.fused_rank is not None

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
    # Searches the engine served in an online experiment (search_engine/experiments/): its id,
    # the variant served and, when interleaved, the team that contributed each shown product.
    experiment: str | None = None
    variant: str | None = None
    teams: tuple[str, ...] = ()


@dataclass
class Hit:
    product: Product
    score: float
    candidate: Candidate


@dataclass
class ValueFacet:
    """A value facet's most common values over the matched set, with their counts."""

    name: str
    values: list[tuple[str, int]]  # (value as first spelled in the catalog, products), most first
    other_values: int  # further values with products, beyond the facet size


@dataclass
class RangeFacet:
    """A numeric facet (price, a numeric attribute) over the matched set."""

    name: str
    min: float | None
    max: float | None
    buckets: list[tuple[float, float | None, int]]  # [low, high) and its products; high None: open
    missing: int  # products of the set without a value
    below: int = 0  # products below the first bucket (only with bounds given)


@dataclass
class SearchResult:
    query: Query
    hits: list[Hit]
    total: int  # the matched set's size under the query's filters: what paging reaches
    index_version: str
    timings_ms: dict[str, float] = field(default_factory=dict)
    personalized_by: str | None = None  # the preference model's version when it reranked
    ranked_by: str | None = None  # the relevance ranker's version when it ranked
    understood: dict | None = None  # what query understanding recognised (explain)
    facets: list[ValueFacet | RangeFacet] = field(default_factory=list)
    # "matched": the results are the query's matched set; "nearest": nothing matched, so they
    # are the products nearest to it (search_engine/stages.py, Matching)
    match: str = "matched"
    corrected_query: str | None = None  # the results are for this spelling of the query
    did_you_mean: str | None = None  # a spelling more products match; the results are for the query as typed
    relaxed: tuple[str, ...] = ()  # words products no longer had to hold, in the query's order
    synonyms: tuple[str, ...] = ()  # explain: the synonym rules that widened the keyword leg's words
