"""Request parameters to plain values, with a 400 naming the parameter when they are wrong."""
from __future__ import annotations

from typing import Mapping

from werkzeug.datastructures import MultiDict

from api.errors import ApiError
from indexer.filters import Filters
from search_engine.types import MODES, Query

MAX_K = 100
MAX_OFFSET = 900  # with MAX_K, paging reaches the engine's 1000-deep candidate lists
TRUE, FALSE = ("1", "true", "yes", "on"), ("0", "false", "no", "off", "")


def int_param(args: Mapping, name: str, default: int, low: int, high: int) -> int:
    raw = args.get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ApiError(f"{name} must be an integer, got {raw!r}", parameter=name) from None
    if not low <= value <= high:
        raise ApiError(f"{name} must be between {low} and {high}, got {value}", parameter=name)
    return value


def price_param(args: Mapping, name: str) -> float | None:
    raw = args.get(name)
    if raw is None or raw == "":
        return None
    try:
        value = float(raw)
    except ValueError:
        raise ApiError(f"{name} must be a number, got {raw!r}", parameter=name) from None
    if value != value or value in (float("inf"), float("-inf")):
        raise ApiError(f"{name} must be a finite number, got {raw!r}", parameter=name)
    if value < 0:
        raise ApiError(f"{name} must not be negative, got {raw}", parameter=name)
    return value


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


def filters_from(args: MultiDict) -> Filters:
    price_min, price_max = price_param(args, "price_min"), price_param(args, "price_max")
    if price_min is not None and price_max is not None and price_min > price_max:
        raise ApiError(f"price_min ({price_min:g}) must not be above price_max ({price_max:g})",
                       parameter="price_min")
    return Filters(brands=list_param(args, "brand"), categories=list_param(args, "category"),
                   price_min=price_min, price_max=price_max)


def query_from(args: MultiDict) -> Query:
    text = (args.get("q") or "").strip()
    if not text:
        raise ApiError("q (the query text) is required and must not be empty", parameter="q")
    if len(text) > 500:
        raise ApiError(f"q must be at most 500 characters, got {len(text)}", parameter="q")
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
        explain=bool_param(args, "explain"),
    )
