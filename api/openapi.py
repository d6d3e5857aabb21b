"""GET /openapi.json: the API's OpenAPI 3.1 document, built from the pydantic models below.

Every JSON body the API returns or accepts has a model here. Response models forbid fields
they do not name, so tests/test_openapi.py, which validates real responses of every endpoint
against this document, fails when the code returns something the document lacks. A new
endpoint needs an Operation in OPERATIONS: the tests compare them with the app's routes.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Annotated, Any, Literal

from flask import Blueprint, current_app, jsonify, request
from pydantic import BaseModel, ConfigDict, Field, RootModel
from pydantic.json_schema import GenerateJsonSchema, models_json_schema

from api.auth import CSRF_HEADER
from api.errors import ApiError
from api.params import ATTRIBUTE_PREFIX, MAX_FACET_SIZE, MAX_K, MAX_OFFSET
from api.suggest import MAX_LEADS, MAX_SUGGESTIONS
from indexer.attributes import NAME
from indexer.keyword import synonyms as synonym_rules
from search_engine.suggest import rules as suggestion_rules
from search_engine.suggest import suggester
from search_engine.types import MAX_QUERY_CHARACTERS

REF_TEMPLATE = "#/components/schemas/{model}"
ATTRIBUTE_NAME = NAME.pattern
RANGE_KEY = rf"^attr\.{ATTRIBUTE_NAME}_(min|max)$"
VALUE_KEY = rf"^attr\.(?![A-Za-z0-9_]*_(min|max)$){ATTRIBUTE_NAME}$"
FACET_NAME = rf"^(brand|category|price|attr\.{ATTRIBUTE_NAME})$"
SORT_PATTERN = rf"^(relevance|price_asc|price_desc|attr\.{ATTRIBUTE_NAME}_(asc|desc))$"

Mode = Literal["keyword", "dense", "hybrid"]
FusionMethod = Literal["rrf", "linear"]
Rating = Literal[0, 1, 2, 3]


class ResponseModel(BaseModel):
    """A response body: a field the code returns but the model lacks fails validation."""
    model_config = ConfigDict(extra="forbid")


class RequestModel(BaseModel):
    """A request body; fields the endpoint does not read are ignored unless a model forbids them."""


def omitted(description: str = "", **kwargs) -> Any:
    """A field that is left out when it does not apply (never sent as null)."""
    return Field(None, description=description or None, **kwargs)


# ---------------------------------------------------------------- errors (api/errors.py)

class BatchProblem(ResponseModel):
    """One bad item of a batch (POST /events): its index in the batch, the field and why."""
    index: int
    field: str
    message: str


class ErrorInfo(ResponseModel):
    """What went wrong; `parameter` names the query parameter, field or header at fault."""
    status: int
    message: str
    parameter: str = omitted("the parameter, body field or header at fault")
    details: list[BatchProblem] = omitted("one entry per bad item of a batch")


class ErrorResponse(ResponseModel):
    """Every error the API answers, whatever the status."""
    error: ErrorInfo


# ---------------------------------------------------------------- GET /search (api/serialize.py)

class LegScore(ResponseModel):
    """A retrieval leg's score and 1-based rank; null when the leg did not find the product."""
    score: float | None
    rank: int | None


class FusedScore(ResponseModel):
    """The fused score, and the rank after fusion and filters (before any ranker)."""
    score: float
    rank: int | None


class RelevanceExplain(ResponseModel):
    """The learned relevance ranker's score, rank and each feature's share of the score."""
    score: float
    rank: int | None
    contributions: dict[str, float] | None


class PersonalizationExplain(ResponseModel):
    """The shopper's preference model's score, its parts, and the tastes behind it."""
    score: float
    contributions: dict[str, float] | None = Field(description=(
        "parts that add up to score: unpersonalized_order (the order it corrects), then each "
        "feature's share of the model's correction and its bias, at the shopper's confidence"))
    confidence: float | None = Field(description=(
        "0 .. 1: how far the model's correction counts for this shopper, from how much history "
        "they have (the personalization_evidence setting)"))
    tastes: dict[str, float] | None = Field(description=(
        "the shopper's strongest likings (> 0) and dislikings (< 0) among this product's brand "
        "(brand=...), category (category=...) and facet values (name=value): smoothed log-lifts "
        "against what the shopper was shown"))


class HitExplain(ResponseModel):
    """What each stage said about one result (explain=true)."""
    dense: LegScore
    keyword: LegScore
    fused: FusedScore
    relevance: RelevanceExplain = omitted("when the relevance ranker ranked the product")
    personalization: PersonalizationExplain = omitted("when the preference model reranked the product")
    merchandising: list[str] = omitted("the merchandising rules that moved the product, in order")


class Highlight(ResponseModel):
    """HTML safe to insert: matched words in <em>, everything else escaped."""
    title: str
    description: str = Field(description="a snippet of the description around the matches")


class RankedProduct(ResponseModel):
    """A product's summary, its 1-based rank on the whole list and its score."""
    rank: int
    id: str
    title: str
    brand: str
    category: str
    price: float | None
    score: float


class SearchHit(RankedProduct):
    """One result: the product's summary, its 1-based rank on the whole list and its score."""
    explain: HitExplain = omitted("with explain=true")
    highlight: Highlight = omitted("with highlight=true")


def _filters_schema(schema: dict) -> None:
    schema["additionalProperties"] = False
    schema["patternProperties"] = {
        VALUE_KEY: {"type": "array", "items": {"type": "string"},
                    "description": "attr.<name>=value filters: the values asked for (normalised)"},
        RANGE_KEY: {"type": ["number", "null"], "description": "attr.<name>_min / _max range bounds"},
    }


class AppliedFilters(ResponseModel):
    """The filters the results passed, normalised; attr.<name> (values) and
    attr.<name>_min / attr.<name>_max (bounds) appear for the attributes the query filtered on."""
    model_config = ConfigDict(extra="allow", json_schema_extra=_filters_schema)
    brand: list[str]
    category: list[str]
    price_min: float | None
    price_max: float | None


class ValueCount(ResponseModel):
    """A value as first spelled in the catalog, and how many matched products have it."""
    value: str
    count: int


class ValueFacet(ResponseModel):
    """Brand, category or a facet attribute: its most common values over the matched set."""
    type: Literal["values"]
    values: list[ValueCount]
    other_values: int = Field(description="further values with products, beyond facet_size")


class Bucket(ResponseModel):
    """A histogram bucket [from, to); to is null for the open last bucket."""
    from_: float = Field(alias="from")
    to: float | None
    count: int


class RangeFacet(ResponseModel):
    """Price or a numeric attribute: its range over the matched set, with a histogram."""
    type: Literal["range"]
    min: float | None
    max: float | None
    missing: int = Field(description="matched products without a value")
    below: int = Field(description="matched products below the first bucket (only with price_buckets given)")
    buckets: list[Bucket]


Facet = Annotated[ValueFacet | RangeFacet, Field(discriminator="type")]


class FusionSettings(ResponseModel):
    """The fusion settings the results were ranked with."""
    method: FusionMethod
    dense_weight: float
    rrf_k: int


class SimilarType(ResponseModel):
    """A product type near the query by the query tower, with its cosine similarity."""
    type: str
    similarity: float


class UnderstoodValue(ResponseModel):
    """Query words that are a value of catalog attributes (at most 5 named, then a count)."""
    value: str
    attributes: list[str]
    more_attributes: int


class Understood(ResponseModel):
    """What query understanding recognised (search_engine/understanding/analysis.py)."""
    kind: Literal["code", "brand", "descriptive"]
    brands: list[str]
    types: list[str]
    similar_types: list[SimilarType]
    codes: list[str]
    attributes: list[UnderstoodValue]


class SearchExplain(ResponseModel):
    """How the whole search ran: fusion settings (null outside hybrid mode), what the query
    was understood as, and each stage's time in milliseconds."""
    fusion: FusionSettings | None
    understood: Understood
    synonyms: list[str] = Field(description="the synonym rules that widened the keyword leg's words")
    timings_ms: dict[str, float]


class Ranking(ResponseModel):
    """A page of a query's ranked results, as /search and the workbench's comparison show it."""
    query: str
    mode: Mode
    k: int
    offset: int
    total: int = Field(description="the matched set's size under the filters: what paging reaches")
    match: Literal["matched", "nearest"] = Field(
        description="matched: the results hold the query; nearest: nothing matched, these are the nearest products")
    corrected_query: str | None = Field(description="no product holds the words as typed: the results are for "
                                                    "this spelling (correct=false searches the words as typed)")
    did_you_mean: str | None = Field(description="a spelling more products hold; the results are for the query "
                                                 "as typed")
    relaxed: list[str] = Field(description="words products no longer had to hold (nothing matched all of them); "
                                           "in hybrid mode the dense leg still reads them")
    sort: str
    index_version: str
    user: str | None
    personalized_by: str | None = Field(description="the preference model's version when it reranked")
    ranked_by: str | None = Field(description="the relevance ranker's version when it ranked")
    results: list[SearchHit]
    filters: AppliedFilters
    facets: dict[Annotated[str, Field(pattern=FACET_NAME)], Facet] = omitted(
        "with facets=...: each facet asked for, by name", json_schema_extra={"additionalProperties": False})
    explain: SearchExplain = omitted("with explain=true")


class ServedVariant(ResponseModel):
    """The running experiment's variant this search was served ("interleaved": both variants'
    rankings merged by team draft)."""
    id: int
    variant: str


class SearchResponse(Ranking):
    """GET /search: a page of results, with how long the search took."""
    took_ms: float
    experiment: ServedVariant = omitted("when a running experiment served this shopper (user=..., else session=...)")
    search_id: str = omitted("for a known shopper (user=...), or an anonymous one's session (session=...), when "
                             "searches are logged: send it with the clicks that follow")


# ---------------------------------------------------------------- products, events, health

class Product(ResponseModel):
    """A catalog product as stored."""
    id: str
    title: str
    description: str
    brand: str
    category: str
    price: float | None
    attributes: dict[str, Any]


class SimilarResponse(ResponseModel):
    """GET /products/{product_id}/similar: the nearest products by the product tower."""
    id: str
    results: list[SearchHit]


class Recommended(RankedProduct):
    """One recommended product."""
    explain: dict[Literal["reasons"], list[str]] = omitted(
        "with explain=true: why it was recommended (co-baskets, its type's complements, the shopper's history, "
        "activity lately, merchandising rules)")


class RecommendationsResponse(ResponseModel):
    """GET /recommendations/for-you, /recommendations/trending, /products/{product_id}/bought-together."""
    source: Literal["history", "trending", "co-baskets", "activity"] = Field(
        description="for-you: history (the shopper's events) or trending (no history); bought-together: "
                    "co-baskets; trending: activity")
    results: list[Recommended]
    version: str = Field(description="the index version the products were checked against")
    took_ms: float
    user: str | None = omitted("for-you: the shopper asked for (null: anonymous)")
    id: str = omitted("bought-together: the product asked for")


class EventIn(RequestModel):
    """One shopper event. search events carry query and shown; the others carry product_id."""
    user_id: str | int = Field(max_length=200)
    session_id: str | int = Field(max_length=200)
    timestamp: float | str = Field(description="seconds since the epoch, or ISO 8601 with a zone")
    type: Literal["search", "view", "click", "add_to_cart", "purchase"]
    product_id: str | int | None = Field(None, description="required for every type but search")
    query: str | None = Field(None, max_length=MAX_QUERY_CHARACTERS, description="required for search events")
    position: int | None = Field(None, ge=1, description="1-based position shown at")
    search_id: str | int | None = None
    shown: list[str] | None = Field(None, max_length=1000,
                                    description="search events only: product ids in the order shown")


class EventBatch(RequestModel):
    """A batch of events, stored whole or not at all."""
    events: list[EventIn] = Field(min_length=1, max_length=1000)


class EventsBody(RootModel[EventBatch | Annotated[list[EventIn], Field(min_length=1, max_length=1000)]]):
    """POST /events: {"events": [...]} or a bare list of events."""


class SkippedEvent(ResponseModel):
    """An event not stored because it names a product the catalog lacks (skip_unknown=true)."""
    index: int
    product_id: str


class EventsStored(ResponseModel):
    """POST /events: how many events were stored and which were skipped."""
    stored: int
    skipped: list[SkippedEvent]


class HealthModel(ResponseModel):
    """The towers the engine encodes with."""
    query_tower: str
    product_tower: str
    product_tower_fingerprint: str


class HealthVectors(ResponseModel):
    """The vector index's kind and whether it runs on a GPU."""
    kind: str
    gpu: bool


class HealthFusion(ResponseModel):
    """The serving fusion settings."""
    method: FusionMethod
    dense_weight: float


class Health(ResponseModel):
    """GET /health: what is being served."""
    status: Literal["ok"]
    index_version: str
    product_count: int
    update_seq: int
    model: HealthModel
    vector_index: HealthVectors
    fusion: HealthFusion


# ---------------------------------------------------------------- /admin (api/admin.py)

class ProductIn(RequestModel):
    """A product to add or replace; every row of a batch is validated before any is written."""
    id: str | int
    title: str
    description: str | None = None
    brand: str | None = None
    category: str | None = None
    price: float | str | None = Field(None, description='a non-negative number; "$12.50" is read too')
    attributes: dict[str, Any] | None = Field(
        None, description="the catalog's numeric attributes must read as numbers")


class ProductBatch(RequestModel):
    """POST /admin/products."""
    products: list[ProductIn] = Field(min_length=1, max_length=10_000)


class IdBatch(RequestModel):
    """POST /admin/products/delete."""
    ids: list[str | int] = Field(min_length=1, max_length=10_000)


class UpdateSummary(ResponseModel):
    """What an update did to the serving version (ids in request order)."""
    version: str
    added: list[str]
    updated: list[str]
    deleted: list[str]
    not_found: list[str] = Field(description="deleted ids the index did not have")


class Reloaded(ResponseModel):
    """POST /admin/reload: the version now serving."""
    version: str
    product_count: int


class AdminStatus(ResponseModel):
    """GET /admin/status: the serving version, the update log and the versions on disk."""
    serving_version: str
    current_pointer: str
    product_count: int
    applied_changes: int
    logged_changes: int
    versions: list[str]
    interrupted_builds: list[str]
    refused_versions: dict[str, str] = Field(description="version -> why it cannot be served")
    last_error: str | None


class RuleIn(RequestModel):
    """A merchandising rule: pin needs product_id and position; boost and bury need brand
    and/or category. Empty strings and nulls count as absent."""
    model_config = ConfigDict(extra="forbid")
    query: str = Field(max_length=MAX_QUERY_CHARACTERS)
    action: Literal["pin", "boost", "bury"]
    match: Literal["exact", "contains"] | None = "exact"
    product_id: str | None = Field(None, max_length=MAX_QUERY_CHARACTERS)
    position: int | None = Field(None, ge=1, le=100)
    brand: str | None = Field(None, max_length=MAX_QUERY_CHARACTERS)
    category: str | None = Field(None, max_length=MAX_QUERY_CHARACTERS)


class Rule(ResponseModel):
    """A stored merchandising rule."""
    query: str
    action: Literal["pin", "boost", "bury"]
    match: Literal["exact", "contains"]
    product_id: str | None
    position: int | None
    brand: str | None
    category: str | None
    id: int


class RuleList(ResponseModel):
    """GET /admin/rules."""
    rules: list[Rule]


class ShopperForgotten(ResponseModel):
    """DELETE /admin/shoppers/{user_id}."""
    shopper: str
    events_deleted: int = Field(description="their events, the searches logged for them included")
    overwritten_on_disk: bool = Field(description="their bytes are gone from the files too; false while "
                                                  "a reader held an older view (SQLite copies the rest at a "
                                                  "later checkpoint)")


class DailyFigures(ResponseModel):
    day: str
    searches: int
    click_through_rate: float | None
    purchases: int
    revenue: float


class QueryFigures(ResponseModel):
    query: str
    searches: int
    zero_results: int
    click_through_rate: float | None
    purchases: int
    revenue: float


class FallingQuery(ResponseModel):
    query: str
    click_through_rate: float
    before: float = Field(description="its click-through in the as-long range just before")
    searches: int
    searches_before: int


class AnalyticsDashboard(ResponseModel):
    """GET /admin/analytics: rates are per search (null without searches); revenue is the
    catalog price of each purchase attributed to a search."""
    start: str
    end: str
    searches: int
    shoppers: int
    zero_result_rate: float | None
    click_through_rate: float | None
    add_to_cart_rate: float | None
    purchase_rate: float | None
    revenue: float
    mean_clicked_position: float | None
    daily: list[DailyFigures]
    top_queries: list[QueryFigures]
    top_zero_result_queries: list[QueryFigures]
    top_queries_without_clicks: list[QueryFigures]
    falling_click_through: list[FallingQuery]


# ---------------------------------------------------------------- experiments

class VariantConfigModel(RequestModel):
    """How a variant searches; a setting left out is the serving engine's."""
    model_config = ConfigDict(extra="forbid", title="VariantConfig")
    mode: Mode | None = None
    fusion: FusionMethod | None = None
    dense_weight: float | None = Field(None, ge=0, le=1)
    version: str | None = Field(None, description="an index version on disk, searched with the towers it was built with")
    ranker: bool | None = Field(None, description="the serving relevance ranker on or off")
    personalization: bool | None = Field(None, description="the serving preference model on or off")
    rules: bool | None = Field(None, description="merchandising rules on or off")
    synonyms: bool | None = Field(None, description="synonym rules on or off")


class VariantIn(RequestModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9 _.-]{0,49}$")
    share: float | None = Field(None, gt=0, le=1, description="A/B: the share of shoppers served it")
    config: VariantConfigModel | None = None


class ExperimentIn(RequestModel):
    """An experiment: the first variant is the control. A/B: shares summing to at most 1 (the
    rest is left out); interleaving: exactly two variants and a traffic share."""
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=200)
    kind: Literal["ab", "interleaving"] = "ab"
    variants: list[VariantIn] = Field(min_length=2, max_length=10)
    start: float | str | None = Field(None, description="seconds since the epoch or ISO 8601 with a zone (default now)")
    stop: float | str | None = Field(None, description="as start (default 14 days after start)")
    traffic: float | None = Field(None, gt=0, le=1, description="interleaving: the share of shoppers interleaved")
    metric: Literal["ctr", "conversion", "revenue_per_search"] = "ctr"
    minimum_effect: float = Field(0.05, gt=0, le=10, description="the smallest difference worth detecting: A/B, "
                                  "relative to the control's metric; interleaving, the preference")
    alpha: float = Field(0.05, gt=0, le=0.2)


class VariantOut(ResponseModel):
    name: str
    share: float = omitted("A/B tests")
    config: VariantConfigModel


class Experiment(ResponseModel):
    """A stored experiment."""
    id: int
    name: str
    kind: Literal["ab", "interleaving"]
    variants: list[VariantOut]
    start: float
    stop: float
    traffic: float = omitted("interleaving")
    metric: Literal["ctr", "conversion", "revenue_per_search"]
    minimum_effect: float
    alpha: float
    status: Literal["scheduled", "running", "stopped"]
    warnings: list[str] = omitted("when defined or redefined: settings that change nothing on this server, "
                                  "variants that search the same way")


class ExperimentList(ResponseModel):
    experiments: list[Experiment]


class ExperimentDeleted(ResponseModel):
    deleted: int


class MetricEstimate(ResponseModel):
    value: float | None
    interval: list[float] | None = Field(description="the (1 - alpha) interval at this look")


class VariantMetrics(ResponseModel):
    ctr: MetricEstimate
    conversion: MetricEstimate
    revenue_per_search: MetricEstimate


class VariantComparison(ResponseModel):
    """The variant against the control on the experiment's metric."""
    verdict: Literal["variant better", "control better", "no difference detected yet", "not enough data"]
    difference: float = omitted()
    relative: float = omitted()
    standard_error: float = omitted("of the difference, at this look")
    interval: list[float] = omitted("always valid: the intersection of every look's so far")
    p_value: float = omitted("always valid: the smallest of every look's so far")
    significant: bool = omitted()
    units_needed: int | None = omitted("shoppers in both, for an effect of minimum_effect to be found")
    more_units_needed: int | None = omitted()


class VariantResults(ResponseModel):
    name: str
    units: int = Field(description="shoppers (or anonymous sessions) served it")
    searches: int
    metrics: VariantMetrics
    against_control: VariantComparison = omitted("every variant but the control")


class Preference(ResponseModel):
    """The mean preference over searches with a credited click (purchase): +1 when the second
    variant's products were chosen more, -1 the first's, 0 a tie."""
    searches_credited: int
    preference: float | None
    standard_error: float = omitted("of the preference, at this look")
    verdict: str
    interval: list[float] = omitted("always valid")
    p_value: float = omitted("always valid")
    significant: bool = omitted()
    units_needed: int | None = omitted()
    more_units_needed: int | None = omitted()


class SampleRatio(ResponseModel):
    """Whether shoppers are split as the shares say (chi-square): a mismatch means some
    variant's searches fail or go unlogged, and its figures are biased."""
    p_value: float | None
    mismatch: bool = Field(description="p_value below 0.001")


class ExperimentResults(ResponseModel):
    """GET /admin/experiments/{experiment_id}/results."""
    status: Literal["scheduled", "running", "stopped"]
    experiment: int
    kind: Literal["ab", "interleaving"]
    test: str
    alpha: float
    metric: str = omitted("A/B tests")
    alpha_per_comparison: float = omitted("A/B tests: alpha shared between the comparisons with the control")
    variants: list[VariantResults] = omitted("A/B tests")
    sample_ratio: SampleRatio = omitted("A/B tests")
    teams: dict[str, str] = omitted("interleaving: the variant of team a and of team b")
    units: int = omitted("interleaving")
    searches: int = omitted("interleaving")
    clicks: Preference = omitted("interleaving")
    purchases: Preference = omitted("interleaving")
    took_ms: float


class RuleDeleted(ResponseModel):
    """DELETE /admin/rules/{rule_id}."""
    deleted: int


class SynonymIn(RequestModel):
    """A synonym rule, one line in the Solr format: 'tv, television' (equivalent) or
    'laptop, laptops => notebook' (one-way: the words typed also match the right side)."""
    model_config = ConfigDict(extra="forbid")
    text: str = Field(min_length=1, max_length=synonym_rules.MAX_RULE_CHARACTERS)


class Synonym(ResponseModel):
    """A synonym rule in force."""
    id: int | None = Field(description="null for a rule of the synonyms file (not editable here)")
    text: str
    kind: Literal["equivalent", "one-way"]
    source: Literal["api", "file"]


class SynonymList(ResponseModel):
    """GET /admin/synonyms: the file's rules first, then the stored ones."""
    rules: list[Synonym]


class SuggestionRuleIn(RequestModel):
    """A suggestion rule: block a phrase (match exact) or every phrase holding its words in
    order (match contains); or pin a phrase first for every prefix it completes (exact only)."""
    model_config = ConfigDict(extra="forbid")
    text: str = Field(min_length=1, max_length=suggestion_rules.MAX_RULE_CHARACTERS)
    action: Literal["block", "pin"]
    match: Literal["exact", "contains"] | None = "exact"


class SuggestionRule(ResponseModel):
    """A stored suggestion rule."""
    id: int
    text: str
    action: Literal["block", "pin"]
    match: Literal["exact", "contains"]


class SuggestionRuleList(ResponseModel):
    """GET /admin/suggestions/rules."""
    rules: list[SuggestionRule]


# ---------------------------------------------------------------- /suggest (api/suggest.py)

class SuggestionOut(ResponseModel):
    text: str = Field(description="the completion, as shoppers typed it most often (or the catalog's words)")
    score: float = Field(description="searches + weighted clicks and purchases + the catalog's share")
    typos: int = Field(description="edits between what was typed and this completion's start")
    pinned: bool = Field(description="a merchant pinned it first")
    searches_score: float = Field(description="the event log's part of the score")
    catalog_products: int = Field(description="products holding the phrase when the version was built "
                                              "(0: not one of the catalog's phrases)")


class SuggestCategory(ResponseModel):
    value: str
    count: int


class SuggestResponse(ResponseModel):
    """GET /suggest."""
    q: str
    suggestions: list[SuggestionOut]
    leads_to: str | None = Field(description="the text products and categories are for: the best completion, "
                                             "or what was typed when there is none")
    products: list[Product]
    categories: list[SuggestCategory] = Field(description="the categories of leads_to's best products, each "
                                                          "with how many of those it holds")
    version: str
    took_ms: float


# ---------------------------------------------------------------- /workbench (api/workbench.py)

class WorkbenchLogin(RequestModel):
    """The login form."""
    token: str
    next: str | None = Field(None, description="the workbench link to come back to (never elsewhere)")


# ---------------------------------------------------------------- /workbench/api (api/workbench_api.py)

class VersionInfo(ResponseModel):
    """A complete index version on disk and the encoder it was built with."""
    version: str
    serving: bool
    encoder: str
    fingerprint: str
    backend: str
    products: int | None


class OptionDefaults(ResponseModel):
    """The serving configuration."""
    mode: Mode
    fusion: FusionMethod
    dense_weight: float
    ranker: bool


class KnownUser(ResponseModel):
    """A shopper with stored events."""
    user: str
    events: int


class WorkbenchOptions(ResponseModel):
    """GET /workbench/api/options: what the page offers to compare."""
    serving_version: str
    versions: list[VersionInfo]
    defaults: OptionDefaults
    personalization: str | None = Field(description="the preference model's version, if loaded")
    ranker: str | None = Field(description="the relevance ranker's version, if loaded")
    users: list[KnownUser]
    named_configurations: list[str]
    facets: list[str]
    sorts: list[str]


class ConfigurationIn(RequestModel):
    """An engine configuration; unknown fields are refused, empty strings and nulls are absent."""
    model_config = ConfigDict(extra="forbid")
    name: str | None = Field(None, max_length=200)
    mode: Mode | None = "hybrid"
    fusion: FusionMethod | None = "linear"
    dense_weight: float | str | None = Field(None, description="0 to 1 (default 0.4)")
    version: str | None = Field(None, max_length=200, description="an index version other than the serving one")
    user: str | None = Field(None, max_length=200, description="personalize for this shopper")
    ranker: bool | None = False


class CompareRequest(RequestModel):
    """POST /workbench/api/compare: one query (with /search's checks) under two configurations."""
    q: str
    k: int | str | None = None
    brand: str | list[str] | None = None
    category: str | list[str] | None = None
    price_min: float | str | None = None
    price_max: float | str | None = None
    sort: str | None = None
    attr: dict[str, str | list[str]] | None = Field(None, description="attribute name -> values to filter by")
    a: ConfigurationIn | None = None
    b: ConfigurationIn | None = None


class ComparedRanking(Ranking):
    """One side of a comparison: always explained, with the workbench's facets (brand, category,
    price and the catalog's value attributes)."""
    facets: dict[Annotated[str, Field(pattern=FACET_NAME)], Facet] = Field(
        json_schema_extra={"additionalProperties": False})
    explain: SearchExplain
    ignored: list[str] = Field(description="attr.* filters (and the sort) this side's index version does not "
                                           "offer, left out for this side")


class RankChange(ResponseModel):
    """Where a product stands in A and in B (1-based; null: not in that list)."""
    id: str
    a: int | None
    b: int | None
    status: Literal["new", "dropped", "up", "down", "same"]
    moved: int = Field(description="places moved up (positive) or down (negative)")


class Comparison(ResponseModel):
    """Both rankings, how B differs from A, and the query's marks."""
    query: str
    a: ComparedRanking
    b: ComparedRanking
    changes: list[RankChange]
    judgments: dict[str, int] = Field(description="product id -> rating 0-3")
    judged_titles: dict[str, str] = Field(description="product id -> title of the judged products")


class QueryJudgments(ResponseModel):
    """One query's marks: product id -> rating."""
    query: str
    judgments: dict[str, int]


class JudgedQuery(ResponseModel):
    """A query and how many products are marked for it."""
    query: str
    judged: int


class JudgmentSummary(ResponseModel):
    """Every judged query and the total count of marks."""
    queries: list[JudgedQuery]
    total: int


class JudgmentsListing(RootModel[QueryJudgments | JudgmentSummary]):
    """GET /workbench/api/judgments: one query's marks with ?query=, else the summary."""


class JudgmentIn(RequestModel):
    """A mark: it replaces the query's old mark for the product."""
    query: str
    product_id: str
    rating: Rating
    version: str | None = Field(None, description="the index version the result came from")


class Judgment(ResponseModel):
    """The stored mark."""
    query: str
    product_id: str
    rating: Rating


class JudgmentRef(RequestModel):
    """A mark to forget."""
    query: str
    product_id: str


class JudgmentForgotten(ResponseModel):
    """DELETE /workbench/api/judgments."""
    deleted: Literal[True]


class JudgmentUpload(RequestModel):
    """A query,docid,rating CSV as a form upload."""
    file: bytes = Field(json_schema_extra={"contentMediaType": "text/csv"})
    version: str | None = None


class JudgmentsImported(ResponseModel):
    """POST /workbench/api/judgments.csv: rows imported and queries now judged. Judgments of
    products the serving catalog does not hold are imported too, and counted here."""
    imported: int
    queries: int
    unknown_product_count: int
    unknown_products: list[str] = Field(description="the first 20 such product ids, sorted")


class EvaluateRequest(RequestModel):
    """Configurations as objects or by name (keyword, dense, hybrid-rrf, hybrid-linear[:w], +ranker)."""
    configurations: list[str | ConfigurationIn] = Field(min_length=1, max_length=10)


class EvaluationRow(ResponseModel):
    """One configuration's mean metrics over the judged queries (null: none scored)."""
    name: str
    ndcg_at_10: float | None = Field(alias="ndcg@10")
    recall_at_100: float | None = Field(alias="recall@100")
    mrr: float | None
    judged_ndcg_at_10: float | None = Field(alias="judged_ndcg@10", description="nDCG@10 with unjudged products left out")
    judged_at_10: float | None = Field(alias="judged@10", description="share of the top 10 that are judged")


class QueryDelta(ResponseModel):
    """A query's nDCG@10 under the first two configurations."""
    query: str
    a: float | None
    b: float | None
    delta: float


class UnjudgedProduct(ResponseModel):
    """A product some configuration puts in its top 10 for a judged query that nobody judged for it."""
    query: str
    product_id: str
    title: str = Field(description="the serving catalog's title; empty for a product only another version holds")
    found_by: list[str] = Field(description="the configurations whose top 10 holds it")


class Evaluation(ResponseModel):
    """POST /workbench/api/evaluate (with two or more configurations: the first two compared)."""
    queries: int
    table: list[EvaluationRow]
    text: str
    unjudged: list[UnjudgedProduct] = Field(description="what to judge next, query by query (search-evaluate --unjudged)")
    compared: list[str] = omitted("the names of the first two configurations")
    per_query: list[QueryDelta] = omitted("every query, biggest gain first")
    better: list[QueryDelta] = omitted("up to 10 queries the second configuration improved")
    worse: list[QueryDelta] = omitted("up to 10 queries it made worse, worst first")


class OpenApiDocument(RootModel[dict[str, Any]]):
    """This OpenAPI 3.1 document."""


# ---------------------------------------------------------------- the operations

@dataclass(frozen=True)
class Param:
    """A query or path parameter."""
    name: str
    schema: dict
    description: str
    where: str = "query"
    required: bool = False
    extra: dict = field(default_factory=dict)  # style, explode, ...


@dataclass(frozen=True)
class RequestBody:
    """A request body: media type -> model (or a plain JSON schema)."""
    content: dict[str, Any]
    description: str = ""


@dataclass(frozen=True)
class Response:
    """A response body: a model (JSON) or, for other media types, a plain schema."""
    model: Any = None
    description: str = ""
    media_type: str = "application/json"
    headers: dict = field(default_factory=dict)


@dataclass(frozen=True)
class Operation:
    """One method on one path; admin operations get the bearer scheme and their 401 and 403."""
    method: str
    path: str
    summary: str
    tag: str
    responses: dict[int, Response]
    description: str = ""
    parameters: tuple[Param, ...] = ()
    body: RequestBody | None = None
    admin: bool = False


def error(description: str) -> Response:
    """An ErrorResponse body."""
    return Response(ErrorResponse, description)


HTML = {"type": "string", "contentMediaType": "text/html"}
PRODUCT_ID = Param("product_id", {"type": "string"}, "the product's id", "path", True)
RULE_ID = Param("rule_id", {"type": "integer"}, "the rule's id", "path", True)
EXPERIMENT_ID = Param("experiment_id", {"type": "integer"}, "the experiment's id", "path", True)
ADMIN_WRITE_ERRORS = {
    409: error("the update cannot be written to the serving version (another product tower, "
               "or a version this server cannot serve)"),
    503: error("the index version kept changing during the write; try again"),
}
LOCATION = {"Location": {"schema": {"type": "string"}, "description": "the workbench page"}}

SEARCH_PARAMETERS = (
    Param("q", {"type": "string", "minLength": 1, "maxLength": MAX_QUERY_CHARACTERS}, "the query text (trimmed; not empty)",
          required=True),
    Param("k", {"type": "integer", "minimum": 1, "maximum": MAX_K, "default": 10}, "results per page"),
    Param("offset", {"type": "integer", "minimum": 0, "maximum": MAX_OFFSET, "default": 0},
          "results to skip (paging reaches the first 10,000 of the matched set)"),
    Param("mode", {"type": "string", "enum": ["keyword", "dense", "hybrid"], "default": "hybrid"},
          "which retrieval legs run"),
    Param("brand", {"type": "array", "items": {"type": "string"}},
          "only these brands (repeat the parameter for several; case-insensitive)",
          extra={"style": "form", "explode": True}),
    Param("category", {"type": "array", "items": {"type": "string"}},
          "only these categories (product types; repeatable)", extra={"style": "form", "explode": True}),
    Param("price_min", {"type": "number", "minimum": 0}, "lowest price (not above price_max; read as the "
          "catalog's prices are, so 4,5 is 4.5)"),
    Param("price_max", {"type": "number", "minimum": 0}, "highest price"),
    Param("user", {"type": "string", "maxLength": 200},
          "the shopper: personalizes the results and, when searches are logged, returns a search_id"),
    Param("session", {"type": "string"}, "the shopper's session, logged with the search (first 200 "
          "characters; default: the user)"),
    Param("explain", {"type": "boolean", "default": False},
          "explain every result's stages and the search (also 1/0, yes/no, on/off)"),
    Param("correct", {"type": "boolean", "default": True},
          "false: search the words exactly as typed, no spelling correction or relaxation (also 1/0, yes/no, on/off)"),
    Param("highlight", {"type": "boolean", "default": False},
          "HTML highlights of the query's words in title and description (also 1/0, yes/no, on/off)"),
    Param("sort", {"type": "string", "pattern": SORT_PATTERN, "default": "relevance"},
          "relevance, price_asc, price_desc, or attr.<name>_asc / _desc for a numeric attribute"),
    Param("facets", {"type": "string"},
          "comma-separated facets to count over the matched set (repeatable): brand, category, price, "
          "attr.<name> for a configured attribute (values, or a range for a numeric one)"),
    Param("facet_size", {"type": "integer", "minimum": 1, "maximum": MAX_FACET_SIZE, "default": 10},
          "values per value facet"),
    Param("price_buckets", {"type": "string"},
          "the price histogram's bounds, comma-separated ascending numbers (default: chosen)"),
    Param("attributes", {
        "type": "object",
        "patternProperties": {
            VALUE_KEY: {"type": "array", "items": {"type": "string"}},
            RANGE_KEY: {"type": "number"},
        },
        "additionalProperties": False,
    }, "attribute filters, one query parameter each: attr.<name>=value (repeatable; a facet attribute), "
       "attr.<name>_min and attr.<name>_max (a numeric attribute's range). An attribute the catalog "
       "does not offer for that use is a 400 naming the parameter.",
        extra={"style": "form", "explode": True}),
)

RECOMMENDATION_PARAMETERS = (
    Param("k", {"type": "integer", "minimum": 1, "maximum": MAX_K, "default": 10}, "how many"),
    *(p for p in SEARCH_PARAMETERS if p.name in ("brand", "category", "price_min", "price_max", "attributes")),
    Param("explain", {"type": "boolean", "default": False}, "why each product was recommended"),
)

OPERATIONS: tuple[Operation, ...] = (
    Operation("get", "/search", "Search the catalog", "search", {
        200: Response(SearchResponse, "a page of results"),
        400: error("a bad parameter (named in error.parameter)"),
    }, "Hybrid (dense + keyword) search over the matched set, with filters, sort, facets, explain and "
       "highlights. Dynamic attribute filters: attr.<name>=value (repeatable), attr.<name>_min, "
       "attr.<name>_max.", SEARCH_PARAMETERS),
    Operation("get", "/products/{product_id}", "One product", "products", {
        200: Response(Product, "the product"),
        404: error("no product with that id"),
    }, parameters=(PRODUCT_ID,)),
    Operation("get", "/products/{product_id}/similar", "Products similar to one product", "products", {
        200: Response(SimilarResponse, "the nearest products"),
        400: error("a bad k"),
        404: error("no product with that id"),
    }, parameters=(PRODUCT_ID, Param("k", {"type": "integer", "minimum": 1, "maximum": MAX_K, "default": 10},
                                     "how many"))),
    Operation("get", "/recommendations/for-you", "Products for a shopper, without a query", "recommendations", {
        200: Response(RecommendationsResponse, "recommended products, best first"),
        400: error("a bad parameter (named in error.parameter)"),
    }, "From the shopper's recent views, carts and purchases: products near what they looked at, complements "
       "of what they bought, consumables they rebuy, weighted by their brand and type shares; never a product "
       "they bought unless its buyers rebuy it. An anonymous or unknown shopper gets trending products. "
       "Merchandising rules for the query @for-you apply.",
        (Param("user", {"type": "string", "maxLength": 200}, "the shopper (absent: anonymous)"),
         *RECOMMENDATION_PARAMETERS)),
    Operation("get", "/recommendations/trending", "Products rising lately", "recommendations", {
        200: Response(RecommendationsResponse, "trending products, best first"),
        400: error("a bad parameter (named in error.parameter)"),
    }, "Views, carts and purchases lately (decayed), times how far above their usual rate; then the most "
       "popular. Merchandising rules for the query @trending apply.", RECOMMENDATION_PARAMETERS),
    Operation("get", "/products/{product_id}/bought-together", "Products bought with one product", "recommendations", {
        200: Response(RecommendationsResponse, "complements, best first"),
        400: error("a bad parameter (named in error.parameter)"),
        404: error("no product with that id"),
    }, "Products shoppers carted or bought with it (cosine of the baskets, a minimum support of shoppers), "
       "then, for too little history, the products nearest to it of the types bought with its type; never a "
       "product of its own type. Merchandising rules for the query @bought-together apply.",
        (PRODUCT_ID, *RECOMMENDATION_PARAMETERS)),
    Operation("post", "/events", "Store shoppers' events", "events", {
        201: Response(EventsStored, "the batch was stored (durably)"),
        400: error("an invalid event or an unknown product id: nothing was stored; details lists each"),
    }, "The batch is stored whole or not at all. An unknown product id rejects the batch unless "
       "skip_unknown=true, which stores the rest and lists what it skipped.",
        (Param("skip_unknown", {"type": "boolean", "default": False},
               "store the events naming known products and skip the rest"),),
        RequestBody({"application/json": EventsBody})),
    Operation("get", "/suggest", "Complete what the shopper is typing", "search", {
        200: Response(SuggestResponse, "completions, best first, with products and categories to jump to"),
        400: error("a bad parameter (named in error.parameter)"),
    }, "Completions from what shoppers searched (and clicked and bought) and from the catalog's phrases, "
       "tolerant of a typo, only ones that find products, after the merchants' block and pin rules.", (
        Param("q", {"type": "string", "minLength": 1, "maxLength": suggester.MAX_PREFIX_CHARACTERS},
              "what has been typed so far (not blank)", required=True),
        Param("k", {"type": "integer", "minimum": 1, "maximum": MAX_SUGGESTIONS, "default": suggester.DEFAULT_COUNT},
              "how many completions"),
        Param("products", {"type": "integer", "minimum": 0, "maximum": MAX_LEADS,
                           "default": suggester.DEFAULT_PRODUCTS}, "top products of the best completion"),
        Param("categories", {"type": "integer", "minimum": 0, "maximum": MAX_LEADS,
                             "default": suggester.DEFAULT_CATEGORIES},
              f"top categories among the best completion's best {suggester.CATEGORY_DEPTH} products, with "
              "how many of those each holds"),
    )),
    Operation("get", "/health", "What is being served", "health", {200: Response(Health, "the serving engine")}),
    Operation("get", "/openapi.json", "This document", "meta", {200: Response(OpenApiDocument, "OpenAPI 3.1")}),
    Operation("get", "/metrics", "Operational metrics for Prometheus", "meta", {
        200: Response({"type": "string"}, "the Prometheus text format: requests and latencies by endpoint and "
                      "mode, server errors, the index version, update lag, event-store size",
                      "text/plain"),
    }),

    Operation("post", "/admin/products", "Add or replace products", "admin", {
        200: Response(UpdateSummary, "the products were written"),
        400: error("an invalid body or invalid products: nothing was changed"),
        **ADMIN_WRITE_ERRORS,
    }, body=RequestBody({"application/json": ProductBatch}), admin=True),
    Operation("post", "/admin/products/delete", "Delete products", "admin", {
        200: Response(UpdateSummary, "ids the index does not have are listed under not_found"),
        400: error("an invalid body"),
        **ADMIN_WRITE_ERRORS,
    }, body=RequestBody({"application/json": IdBatch}), admin=True),
    Operation("delete", "/admin/products/{product_id}", "Delete one product", "admin", {
        200: Response(UpdateSummary, "the product was deleted"),
        404: error("no product with that id"),
        **ADMIN_WRITE_ERRORS,
    }, parameters=(PRODUCT_ID,), admin=True),
    Operation("post", "/admin/reload", "Switch to the current index version now", "admin", {
        200: Response(Reloaded, "the version now serving"),
        409: error("the current version cannot be served; the old one keeps serving"),
    }, admin=True),
    Operation("get", "/admin/status", "Serving version, update log and versions on disk", "admin", {
        200: Response(AdminStatus, "the status"),
    }, admin=True),
    Operation("get", "/admin/rules", "Merchandising rules", "admin", {200: Response(RuleList, "every rule")},
              admin=True),
    Operation("post", "/admin/rules", "Add a merchandising rule", "admin", {
        201: Response(Rule, "the stored rule"),
        400: error("an invalid rule (the field is named), or a pin of an unknown product"),
        409: error("the same rule is stored already (its id is named)"),
    }, body=RequestBody({"application/json": RuleIn}), admin=True),
    Operation("put", "/admin/rules/{rule_id}", "Replace a merchandising rule", "admin", {
        200: Response(Rule, "the stored rule"),
        400: error("an invalid rule"),
        404: error("no rule with that id"),
        409: error("another stored rule is the same (its id is named)"),
    }, parameters=(RULE_ID,), body=RequestBody({"application/json": RuleIn}), admin=True),
    Operation("delete", "/admin/rules/{rule_id}", "Delete a merchandising rule", "admin", {
        200: Response(RuleDeleted, "the rule was deleted"),
        404: error("no rule with that id"),
    }, parameters=(RULE_ID,), admin=True),

    Operation("delete", "/admin/shoppers/{user_id}", "Forget a shopper", "admin", {
        200: Response(ShopperForgotten, "every event of theirs is deleted (0 when there were none); suggestions "
                                        "and spelling count the log again without them"),
        400: error("a blank or over-long shopper id"),
    }, parameters=(Param("user_id", {"type": "string"}, "the shopper's id, as events name it", "path", True),),
        admin=True),
    Operation("get", "/admin/analytics", "Search analytics over a date range", "admin", {
        200: Response(AnalyticsDashboard, "the dashboard (format=json)"),
        400: error("a bad date, range, top or format"),
    }, "Searches, shoppers, zero-result, click-through, add-to-cart and purchase rates, revenue, mean clicked "
       "position, per day and per query, from the event store's daily rollups. format=csv gives the same "
       "figures as CSV.", (
        Param("from", {"type": "string", "format": "date"}, "first day, UTC (default: 29 days before to)"),
        Param("to", {"type": "string", "format": "date"}, "last day, inclusive (default: today, UTC)"),
        Param("top", {"type": "integer", "minimum": 1, "maximum": 1000, "default": 20}, "rows per query list"),
        Param("format", {"type": "string", "enum": ["json", "csv"], "default": "json"}, "json or csv"),
    ), admin=True),
    Operation("get", "/admin/experiments", "Experiments", "admin",
              {200: Response(ExperimentList, "every experiment, oldest first, with its status")}, admin=True),
    Operation("post", "/admin/experiments", "Define an A/B or interleaving experiment", "admin", {
        201: Response(Experiment, "the stored experiment; it runs from start to stop"),
        400: error("an invalid definition (the field is named, e.g. variants[1].share), or a setting this "
                   "server cannot serve (no preference model, an unknown index version)"),
        409: error("it overlaps another experiment: one runs at a time"),
    }, body=RequestBody({"application/json": ExperimentIn}), admin=True),
    Operation("get", "/admin/experiments/{experiment_id}", "One experiment", "admin", {
        200: Response(Experiment, "the experiment"),
        404: error("no experiment with that id"),
    }, parameters=(EXPERIMENT_ID,), admin=True),
    Operation("put", "/admin/experiments/{experiment_id}", "Redefine an experiment that has not started", "admin", {
        200: Response(Experiment, "the stored experiment"),
        400: error("an invalid definition"),
        404: error("no experiment with that id"),
        409: error("it has started, or it would overlap another"),
    }, parameters=(EXPERIMENT_ID,), body=RequestBody({"application/json": ExperimentIn}), admin=True),
    Operation("post", "/admin/experiments/{experiment_id}/stop", "Stop a running experiment now", "admin", {
        200: Response(Experiment, "the experiment, stopped"),
        404: error("no experiment with that id"),
        409: error("it has not started: delete it instead"),
    }, parameters=(EXPERIMENT_ID,), admin=True),
    Operation("delete", "/admin/experiments/{experiment_id}", "Delete an experiment", "admin", {
        200: Response(ExperimentDeleted, "deleted; its id is never given to another experiment"),
        404: error("no experiment with that id"),
    }, parameters=(EXPERIMENT_ID,), admin=True),
    Operation("get", "/admin/experiments/{experiment_id}/results", "An experiment's results", "admin", {
        200: Response(ExperimentResults, "per variant, with the always-valid test against the control"),
        404: error("no experiment with that id"),
    }, "A/B: shoppers, searches, click-through, conversion and revenue per search per variant, with intervals; "
       "against the control, the mSPRT's always-valid p-value and interval and the shoppers still needed. "
       "Interleaving: the preference by clicks and by purchases.", (EXPERIMENT_ID,), admin=True),
    Operation("get", "/admin/synonyms", "Synonym rules", "admin",
              {200: Response(SynonymList, "every rule in force")}, admin=True),
    Operation("post", "/admin/synonyms", "Add a synonym rule", "admin", {
        201: Response(Synonym, "the stored rule; it applies from the next search, without a reindex"),
        400: error("not a synonym rule (text names the problem)"),
        409: error("the same rule is stored already (its id is named)"),
    }, body=RequestBody({"application/json": SynonymIn}), admin=True),
    Operation("put", "/admin/synonyms/{rule_id}", "Replace a synonym rule", "admin", {
        200: Response(Synonym, "the stored rule"),
        400: error("not a synonym rule"),
        404: error("no stored synonym rule with that id"),
        409: error("another stored rule is the same (its id is named)"),
    }, parameters=(RULE_ID,), body=RequestBody({"application/json": SynonymIn}), admin=True),
    Operation("delete", "/admin/synonyms/{rule_id}", "Delete a synonym rule", "admin", {
        200: Response(RuleDeleted, "the rule was deleted"),
        404: error("no stored synonym rule with that id"),
    }, parameters=(RULE_ID,), admin=True),
    Operation("get", "/admin/suggestions/rules", "Suggestion rules", "admin",
              {200: Response(SuggestionRuleList, "every suggestion rule")}, admin=True),
    Operation("post", "/admin/suggestions/rules", "Block or pin a suggestion", "admin", {
        201: Response(SuggestionRule, "the stored rule"),
        400: error("an invalid rule (the field is named)"),
        409: error("the same rule is stored already (its id is named)"),
    }, body=RequestBody({"application/json": SuggestionRuleIn}), admin=True),
    Operation("put", "/admin/suggestions/rules/{rule_id}", "Replace a suggestion rule", "admin", {
        200: Response(SuggestionRule, "the stored rule"),
        400: error("an invalid rule"),
        404: error("no suggestion rule with that id"),
        409: error("another stored rule is the same (its id is named)"),
    }, parameters=(RULE_ID,), body=RequestBody({"application/json": SuggestionRuleIn}), admin=True),
    Operation("delete", "/admin/suggestions/rules/{rule_id}", "Delete a suggestion rule", "admin", {
        200: Response(RuleDeleted, "the rule was deleted"),
        404: error("no suggestion rule with that id"),
    }, parameters=(RULE_ID,), admin=True),

    Operation("get", "/workbench", "The merchants' relevance workbench page", "workbench", {
        200: Response(HTML, "the page (logged in)", "text/html"),
        401: Response(HTML, "the login page", "text/html"),
        403: Response(HTML, "the workbench is disabled: no admin token is configured", "text/html"),
    }, parameters=(Param("state", {"type": "object", "additionalProperties": {"type": "string"}},
                         "the page's state (query, configurations), one query parameter each, read by its "
                         "script; a login keeps it", extra={"style": "form", "explode": True}),)),
    Operation("post", "/workbench/login", "Log in to the workbench with the admin token", "workbench", {
        303: Response(None, "logged in: back to the page (the link in next, never elsewhere); sets the "
                            "session cookie", headers=LOCATION),
        401: Response(HTML, "not the admin token: the login page again", "text/html"),
        403: Response(HTML, "the workbench is disabled: no admin token is configured", "text/html"),
    }, body=RequestBody({"application/x-www-form-urlencoded": WorkbenchLogin})),
    Operation("post", "/workbench/logout", "Log out of the workbench", "workbench", {
        303: Response(None, "logged out: to the page (its login form)", headers=LOCATION),
    }),

    Operation("get", "/workbench/api/options", "What the workbench can compare", "workbench", {
        200: Response(WorkbenchOptions, "versions, defaults, loaded models, shoppers, facets and sorts"),
    }, admin=True),
    Operation("post", "/workbench/api/compare", "Compare one query under two configurations", "workbench", {
        200: Response(Comparison, "both rankings with per-stage scores and facets, and the changes"),
        400: error("a bad query field or configuration field (named, e.g. b.mode)"),
    }, body=RequestBody({"application/json": CompareRequest}), admin=True),
    Operation("get", "/workbench/api/judgments", "Stored relevance marks", "workbench", {
        200: Response(JudgmentsListing, "one query's marks, or every judged query"),
    }, parameters=(Param("query", {"type": "string"}, "one query's marks; without it every judged query"),),
        admin=True),
    Operation("post", "/workbench/api/judgments", "Mark a result 0-3", "workbench", {
        200: Response(Judgment, "the stored mark"),
        400: error("a bad field, or a product the version does not have"),
    }, body=RequestBody({"application/json": JudgmentIn}), admin=True),
    Operation("delete", "/workbench/api/judgments", "Forget a mark", "workbench", {
        200: Response(JudgmentForgotten, "the mark was forgotten"),
        400: error("the body is not a JSON object"),
        404: error("no such mark"),
    }, body=RequestBody({"application/json": JudgmentRef}), admin=True),
    Operation("get", "/workbench/api/judgments.csv", "Export the marks as CSV", "workbench", {
        200: Response({"type": "string"}, "query,docid,rating rows (an attachment)", "text/csv"),
    }, admin=True),
    Operation("post", "/workbench/api/judgments.csv", "Import marks from a CSV", "workbench", {
        200: Response(JudgmentsImported, "every row was imported"),
        400: error("no CSV, not UTF-8, a bad row (named), or an unknown version: nothing was imported"),
    }, "The Icecat list's format: query,docid,rating. All rows are stored or none.",
        parameters=(Param("version", {"type": "string"}, "the index version whose catalog the product ids are "
                          "checked against (default: the serving one; also a form field)", "query", False),),
        body=RequestBody({"text/csv": {"type": "string"}, "multipart/form-data": JudgmentUpload}), admin=True),
    Operation("post", "/workbench/api/evaluate", "Evaluate configurations over the marks", "workbench", {
        200: Response(Evaluation, "the table (as search-evaluate prints it) and per-query changes"),
        400: error("bad configurations, or no marks stored yet"),
    }, body=RequestBody({"application/json": EvaluateRequest}), admin=True),
)

ADMIN_ERRORS = {
    401: error("no valid 'Authorization: Bearer <token>' header (and no workbench login)"),
    403: error(f"no admin token is configured, or a workbench change without the {CSRF_HEADER} header"),
}
ADMIN_NOTE = (f"Needs the admin token: 'Authorization: Bearer <token>', or the workbench's login cookie "
              f"(with the page's {CSRF_HEADER} header for changes).")


# ---------------------------------------------------------------- the document

class _Generator(GenerateJsonSchema):
    """Pydantic's schemas without a title per field, and without `default: null` on omitted fields."""

    def field_title_should_be_set(self, schema) -> bool:
        return False

    def default_schema(self, schema):
        json_schema = super().default_schema(schema)
        if json_schema.get("default", ...) is None and not _allows_null(json_schema):
            del json_schema["default"]  # an omitted field, never null
        return json_schema


def _allows_null(schema: dict) -> bool:
    return schema.get("type") == "null" or any(_allows_null(s) for s in schema.get("anyOf", ()))


def _models() -> list[type[BaseModel]]:
    found = {}
    for op in OPERATIONS:
        bodies = list(op.body.content.values()) if op.body else []
        for candidate in bodies + [r.model for r in op.responses.values()] + [ErrorResponse]:
            if isinstance(candidate, type) and issubclass(candidate, BaseModel):
                found[candidate.__name__] = candidate
    return list(found.values())


def _content(media_type: str, model, refs: dict) -> dict:
    return {media_type: {"schema": refs[model] if isinstance(model, type) else dict(model)}}


def _operation(op: Operation, refs: dict) -> dict:
    body: dict[str, Any] = {"operationId": re.sub(r"[^A-Za-z0-9]+", "_", f"{op.method} {op.path}").strip("_"),
                            "summary": op.summary, "tags": [op.tag]}
    description = " ".join(d for d in (op.description, ADMIN_NOTE if op.admin else "") if d)
    if description:
        body["description"] = description
    if op.parameters:
        body["parameters"] = [{"name": p.name, "in": p.where, "required": p.required, "description": p.description,
                               "schema": p.schema, **p.extra} for p in op.parameters]
    if op.body:
        body["requestBody"] = {"required": True, "content": {}}
        for media_type, model in op.body.content.items():
            body["requestBody"]["content"].update(_content(media_type, model, refs))
        if op.body.description:
            body["requestBody"]["description"] = op.body.description
    responses = {**op.responses, **(ADMIN_ERRORS if op.admin else {})}
    body["responses"] = {}
    for status, response in sorted(responses.items()):
        described = {"description": response.description or HTTPStatus(status).phrase}
        if response.model is not None:
            described["content"] = _content(response.media_type, response.model, refs)
        if response.headers:
            described["headers"] = response.headers
        body["responses"][str(status)] = described
    if op.admin:
        body["security"] = [{"bearer": []}]
    return body


def openapi_document() -> dict:
    """The whole document; built from OPERATIONS and the models."""
    models = _models()
    refs, schemas = models_json_schema([(m, "validation") for m in models], ref_template=REF_TEMPLATE,
                                       schema_generator=_Generator)
    refs = {model: refs[(model, "validation")] for model in models}
    paths: dict[str, dict] = {}
    for op in OPERATIONS:
        paths.setdefault(op.path, {})[op.method] = _operation(op, refs)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Shop semantic search",
            "version": "0.1.0",
            "description": "Hybrid semantic product search: the shoppers' endpoints, the admin endpoints and "
                           "the merchants' workbench. Every error is JSON: {\"error\": {\"status\", \"message\", "
                           "\"parameter\"?, \"details\"?}} (ErrorResponse), including 404 for unknown paths, 405 "
                           "for a method a path does not have and 500. " + ADMIN_NOTE,
        },
        "paths": paths,
        "components": {
            "schemas": schemas.get("$defs", {}),
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
    }


def _taken_parameters() -> dict[tuple[str, str], tuple[frozenset[str], bool]]:
    """(method, path) -> the query parameters its operation takes, and whether attr.* ones.
    Not listed: operations that take any name (the workbench page's state), and admin ones
    (whose callers must be told they are not allowed before anything else)."""
    taken = {}
    for op in OPERATIONS:
        query = [p for p in op.parameters if p.where == "query"]
        names = frozenset(p.name for p in query)
        if names and not op.admin and not any(p.schema.get("additionalProperties") for p in query):
            taken[op.method.upper(), op.path] = (names - {"attributes"}, "attributes" in names)
    return taken


TAKEN_PARAMETERS = _taken_parameters()


# Left to the client: a cache buster (jQuery's "_"), anything it marks its own with "_", and
# campaign tags that travel with a storefront's links (utm_source, ...).
CLIENTS_OWN = ("_", "utm_")


def reject_unknown_parameters() -> None:
    """Before a request: a query parameter its operation does not take (as this document
    lists them) is a 400 naming it. A misspelt filter (prix_max) would otherwise be ignored,
    and the shopper shown unfiltered results as if filtered."""
    if request.url_rule is None:
        return
    path = re.sub(r"<(?:[^:<>]+:)?([^<>]+)>", r"{\1}", request.url_rule.rule)  # /products/{product_id}
    method = "GET" if request.method == "HEAD" else request.method
    taken = TAKEN_PARAMETERS.get((method, path))
    if taken is None:
        return
    names, attributes = taken
    for key in request.args:
        if key not in names and not key.startswith(CLIENTS_OWN) and not (
                attributes and key.startswith(ATTRIBUTE_PREFIX)):
            listed = ", ".join(sorted(names)) + (f", {ATTRIBUTE_PREFIX}<name>..." if attributes else "")
            raise ApiError(f"{key!r} is not a parameter of {method} {path} (it takes {listed})",
                           parameter=key)


bp = Blueprint("openapi", __name__)
EXTENSION = "openapi_document"


@bp.get("/openapi.json")
def document():
    built = current_app.extensions.get(EXTENSION)
    if built is None:  # built once per app
        built = current_app.extensions[EXTENSION] = openapi_document()
    return jsonify(built)
