"""Request parameters to plain values, with a 400 naming the parameter when they are wrong."""
from __future__ import annotations

import json
import re
from typing import Any, Mapping
from urllib.parse import unquote_to_bytes

from flask import request
from werkzeug.datastructures import MultiDict
from werkzeug.routing import PathConverter

from api.errors import ApiError
from indexer.attributes import RANGE_SUFFIXES
from indexer.filters import Filters
from indexer.validation import nested_values, parse_price, unwritable_text
from search_engine.results_page import FieldError, check_fields
from search_engine.types import MAX_QUERY_CHARACTERS, MODES, FacetRequest, Query, sort_key

MAX_K = 100
# Paging reaches the first 10,000 products of a matched set (as Elasticsearch's default
# max_result_window); `total` still counts them all.
MAX_OFFSET = 9_900
MAX_FACET_SIZE = 100
ATTRIBUTE_PREFIX = "attr."
TRUE, FALSE = ("1", "true", "yes", "on"), ("0", "false", "no", "off", "")
# Python's int() also reads "1_0", " 1 " and other scripts' digits; a parameter is ASCII digits.
WHOLE_NUMBER = re.compile(r"-?[0-9]+")
# No body here is deeper than a few levels; a deeper one would make str() and friends recurse.
MAX_JSON_DEPTH = 64


def json_body() -> Any:
    """The request's JSON body, whatever its Content-Type says (`curl -d` sends a form type);
    None when there is none. A body that is not JSON gets a 400 saying where it stops being
    JSON. Text that UTF-8 cannot hold (a lone surrogate escape, "\\ud800") gets a 400 naming
    where it is (e.g. "events[0].user_id"): no store, log or tokenizer can write it. So does
    nesting deeper than MAX_JSON_DEPTH. (Numbers are each field's own check: a product id may
    be any integer, a position may not.)"""
    data = request.get_data(cache=True)
    if not data.strip():
        return None
    try:
        body = json.loads(data)
    except RecursionError:
        raise ApiError("the body is nested too deeply to be read as JSON", parameter="body") from None
    except ValueError as exc:  # JSONDecodeError, or bytes that are no Unicode text
        raise ApiError(f"the body is not valid JSON: {exc}", parameter="body") from None
    for path, value, depth in nested_values(body):
        problem = f"nested more than {MAX_JSON_DEPTH} levels deep" if depth > MAX_JSON_DEPTH else unwritable_text(value)
        if problem:
            where = path or "body"
            raise ApiError(f"{where}: {problem}", parameter=where)
    return body


def reject_undecodable_parameters() -> None:
    """Before a request: a query parameter or path whose percent-encoded bytes are not UTF-8
    (a Latin-1 client's "caf%E9") is a 400 naming it, where it would otherwise be read with the
    letter replaced by "\ufffd" and searched as something else ("caf"), or another shopper's
    or product's id deleted."""
    # The path as the client sent it (gunicorn and werkzeug keep it as RAW_URI), else as WSGI
    # hands it over: its bytes, one Latin-1 character each.
    sent = request.environ.get("RAW_URI") or request.environ.get("REQUEST_URI")
    try:
        if sent is not None:
            unquote_to_bytes(sent.partition("?")[0]).decode("utf-8")
        else:
            request.environ.get("PATH_INFO", "").encode("latin-1").decode("utf-8")
    except (UnicodeEncodeError, UnicodeDecodeError):
        named = [name for name, value in (request.view_args or {}).items() if isinstance(value, str) and "\ufffd" in value]
        shown = named[0] if named else "path"
        raise ApiError(f"{shown}: not UTF-8 text; percent-encode its UTF-8 bytes (é is %C3%A9)",
                       parameter=shown) from None
    for part in request.query_string.split(b"&"):
        name, _, value = part.partition(b"=")
        for raw in (name, value):
            try:
                unquote_to_bytes(raw.replace(b"+", b" ")).decode("utf-8")
            except UnicodeDecodeError:
                shown = unquote_to_bytes(name.replace(b"+", b" ")).decode("utf-8", "replace")
                raise ApiError(f"{shown}: not UTF-8 text; percent-encode its UTF-8 bytes (é is %C3%A9)",
                               parameter=shown) from None


def int_param(args: Mapping, name: str, default: int, low: int, high: int) -> int:
    raw = args.get(name)
    if raw is None:
        return default
    if not WHOLE_NUMBER.fullmatch(raw):
        raise ApiError(f"{name} must be an integer, got {raw[:40]!r}", parameter=name)
    value = int(raw) if len(raw) <= 20 else None  # int() refuses thousands of digits
    if value is None or not low <= value <= high:
        raise ApiError(f"{name} must be between {low} and {high}, got {raw[:40]}", parameter=name)
    return value


def number_param(args: Mapping, name: str) -> float | None:
    """A finite number (negative allowed), or None when absent or empty."""
    raw = args.get(name)
    if raw is None or raw == "":
        return None
    try:
        value = float(raw)
    except ValueError:
        raise ApiError(f"{name} must be a number, got {raw!r}", parameter=name) from None
    if value != value or value in (float("inf"), float("-inf")):
        raise ApiError(f"{name} must be a finite number, got {raw!r}", parameter=name)
    return value


def price_param(args: Mapping, name: str) -> float | None:
    """A price as the catalog's prices are read (parse_price): "12,5" and "1.299,00" too."""
    raw = args.get(name)
    if raw is None or raw == "":
        return None
    try:
        return parse_price(raw)
    except ValueError as exc:
        raise ApiError(f"{name} {exc}", parameter=name) from None


def bool_param(args: Mapping, name: str) -> bool:
    raw = (args.get(name) or "").lower()
    if raw in TRUE:
        return True
    if raw in FALSE:
        return False
    raise ApiError(f"{name} must be true or false, got {args.get(name)!r}", parameter=name)


def list_param(args: MultiDict, name: str) -> tuple[str, ...]:
    """Repeated parameters (?brand=HP&brand=Canon); empty values are ignored."""
    return tuple(v.strip() for v in args.getlist(name) if v.strip())


def _range(args: Mapping, low_name: str, high_name: str, read=number_param) -> tuple[float | None, float | None]:
    low, high = read(args, low_name), read(args, high_name)
    if low is not None and high is not None and low > high:
        raise ApiError(f"{low_name} ({low:g}) must not be above {high_name} ({high:g})", parameter=low_name)
    return low, high


def filters_from(args: MultiDict) -> Filters:
    """brand, category, price_min/max, and attr.<name>=value (repeatable) and
    attr.<name>_min/_max; whether the catalog has those attributes is the engine's check."""
    price_min, price_max = _range(args, "price_min", "price_max", price_param)
    values: dict[str, tuple[str, ...]] = {}
    ranges: dict[str, tuple[float | None, float | None]] = {}
    for key in args:
        if not key.startswith(ATTRIBUTE_PREFIX):
            continue
        name = key[len(ATTRIBUTE_PREFIX):]
        for suffix in RANGE_SUFFIXES:
            if name.endswith(suffix):
                base = name[: -len(suffix)]
                if base not in ranges:
                    ranges[base] = _range(args, f"{ATTRIBUTE_PREFIX}{base}_min", f"{ATTRIBUTE_PREFIX}{base}_max")
                break
        else:
            if not name:
                raise ApiError("attr. needs an attribute name: attr.<name>=value", parameter=key)
            values[name] = list_param(args, key)
    return Filters(brands=list_param(args, "brand"), categories=list_param(args, "category"),
                   price_min=price_min, price_max=price_max, attributes=tuple(values.items()),
                   ranges=tuple((name, low, high) for name, (low, high) in ranges.items()))


def facets_from(args: MultiDict) -> FacetRequest:
    names = tuple(dict.fromkeys(n.strip() for n in ",".join(args.getlist("facets")).split(",") if n.strip()))
    raw_bounds = [b.strip() for b in (args.get("price_buckets") or "").split(",") if b.strip()]
    try:
        bounds = tuple(float(b) for b in raw_bounds)
    except ValueError:
        raise ApiError(f"price_buckets must be comma-separated numbers, got {args.get('price_buckets')!r}",
                       parameter="price_buckets") from None
    if any(b != b or b in (float("inf"), float("-inf")) for b in bounds) or any(
            high <= low for low, high in zip(bounds, bounds[1:])):
        raise ApiError(f"price_buckets must be finite numbers in ascending order, got {args.get('price_buckets')!r}",
                       parameter="price_buckets")
    if bounds and "price" not in names:
        raise ApiError("price_buckets shapes the price facet: ask for it with facets=price", parameter="price_buckets")
    return FacetRequest(names, int_param(args, "facet_size", FacetRequest.size, 1, MAX_FACET_SIZE), bounds)


def sort_from(args: Mapping) -> str:
    sort = (args.get("sort") or "relevance").strip()
    try:
        sort_key(sort)
    except ValueError as exc:
        raise ApiError(str(exc).removeprefix("sort: "), parameter="sort") from None
    return sort


def attribute_parameters(args: MultiDict) -> list[str]:
    """The request's attr.* parameter names, empty ones included."""
    return [key for key in args if key.startswith(ATTRIBUTE_PREFIX)]


def checked_against(query: Query, args: MultiDict, attributes) -> Query:
    """The query, once its facets, sort and attr.* parameters name what this catalog offers
    (search_engine/results_page.check_fields); else the 400 naming the parameter."""
    try:
        check_fields(query, attributes, attribute_parameters(args))
    except FieldError as exc:
        raise field_error(exc) from None
    return query


def field_error(exc: FieldError) -> ApiError:
    return ApiError(str(exc), parameter=exc.parameter)


def query_from(args: MultiDict) -> Query:
    text = (args.get("q") or "").strip()
    if not text:
        raise ApiError("q (the query text) is required and must not be empty", parameter="q")
    if len(text) > MAX_QUERY_CHARACTERS:
        raise ApiError(f"q must be at most {MAX_QUERY_CHARACTERS} characters, got {len(text)}", parameter="q")
    mode = args.get("mode", "hybrid")
    if mode not in MODES:
        raise ApiError(f"mode must be one of {', '.join(MODES)}, got {mode!r}", parameter="mode")
    user = (args.get("user") or "").strip() or None
    if user and len(user) > 200:
        raise ApiError(f"user must be at most 200 characters, got {len(user)}", parameter="user")
    return Query(
        text=text,
        k=int_param(args, "k", 10, 1, MAX_K),
        offset=int_param(args, "offset", 0, 0, MAX_OFFSET),
        mode=mode,
        filters=filters_from(args),
        user=user,
        session=(args.get("session") or "").strip()[:200] or None,
        explain=bool_param(args, "explain"),
        sort=sort_from(args),
        facets=facets_from(args),
        correct_spelling=bool_param(args, "correct") if "correct" in args else True,
    )


class ProductIdConverter(PathConverter):
    """<product_id:...> in a route: a catalog id as it is, slashes included ("HP/CF226X", and
    "/x", which Werkzeug's path converter cannot start with). Ids ending in "/similar" or
    "/bought-together" read as those routes of the shorter id."""
    regex = ".+?"
    part_isolating = False  # the pattern spans "/": Werkzeug must match it against the whole path
