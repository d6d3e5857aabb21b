"""Shoppers' events from JSON: validated field by field, with errors that name the field."""
from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Mapping

from indexer.validation import lone_surrogate
from search_engine.types import EVENT_TYPES, MAX_QUERY_CHARACTERS, Event

MAX_ID_LENGTH = 200
MAX_SHOWN = 1000
MAX_POSITION = 1_000_000  # far past any page; bounded so that it fits the store's integers
MAX_TIMESTAMP = 1e11  # seconds: year 5138; a larger number is milliseconds


class EventError(ValueError):
    def __init__(self, field: str, message: str, index: int | None = None):
        where = f"event {index}: " if index is not None else ""
        super().__init__(f"{where}{field}: {message}")
        self.field = field
        self.reason = message
        self.index = index


def _text(raw: Mapping, name: str, required: bool, max_length: int = MAX_ID_LENGTH) -> str | None:
    value = raw.get(name)
    if value is None or (isinstance(value, str) and not value.strip()):
        if required:
            raise EventError(name, "is required")
        return None
    if not isinstance(value, (str, int)) or isinstance(value, bool):
        raise EventError(name, f"must be text (or a whole number, read as text), got {type(value).__name__}")
    value = str(value).strip()
    if len(value) > max_length:
        raise EventError(name, f"must be at most {max_length} characters, got {len(value)}")
    if lone_surrogate(value):
        raise EventError(name, "is not valid text (a lone surrogate)")
    return value


def parse_timestamp(value: Any) -> float:
    """Seconds since the epoch, or an ISO 8601 time with a zone ("2026-11-02T10:00:00Z")."""
    if isinstance(value, bool) or value is None:
        raise EventError("timestamp", "is required (seconds since the epoch or ISO 8601 with a zone)")
    if isinstance(value, (int, float)):
        seconds = value
    else:
        try:
            parsed = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
        except ValueError:
            raise EventError("timestamp", f"must be seconds since the epoch or ISO 8601, got {value!r}") from None
        if parsed.tzinfo is None:
            raise EventError("timestamp", f"needs a time zone (e.g. a trailing Z), got {value!r}")
        seconds = parsed.timestamp()
    if not 0 <= seconds < MAX_TIMESTAMP:  # either form: before 1970 or after year 5138 is no event time
        raise EventError("timestamp", f"must be seconds since the epoch, from 0 to {MAX_TIMESTAMP:.0e}, got {value!r}")
    return float(seconds)


def parse_event(raw: Any, index: int | None = None) -> Event:
    try:
        if not isinstance(raw, Mapping):
            raise EventError("event", f"must be a JSON object, got {type(raw).__name__}")
        kind = raw.get("type")
        if kind not in EVENT_TYPES:
            raise EventError("type", f"must be one of {', '.join(EVENT_TYPES)}, got {kind!r}")
        position = raw.get("position")
        if position is not None and (isinstance(position, bool) or not isinstance(position, int)
                                     or not 1 <= position <= MAX_POSITION):
            raise EventError("position", f"must be a whole number from 1 to {MAX_POSITION:,}, got {position!r}")
        shown = raw.get("shown")
        shown = [] if shown is None else shown  # a search that showed nothing has nothing to list
        if not isinstance(shown, list) or not all(isinstance(s, str) and s for s in shown):
            raise EventError("shown", "must be a list of product ids in the order shown")
        if len(shown) > MAX_SHOWN:
            raise EventError("shown", f"must list at most {MAX_SHOWN} products, got {len(shown)}")
        if shown and kind != "search":
            raise EventError("shown", "is only for search events")
        return Event(
            user_id=_text(raw, "user_id", required=True),
            session_id=_text(raw, "session_id", required=True),
            timestamp=parse_timestamp(raw.get("timestamp")),
            type=kind,
            product_id=_text(raw, "product_id", required=kind != "search"),
            query=_text(raw, "query", required=kind == "search", max_length=MAX_QUERY_CHARACTERS),
            position=position,
            search_id=_text(raw, "search_id", required=False),
            shown=tuple(shown),
        )
    except EventError as exc:
        if exc.index is None and index is not None:
            raise EventError(exc.field, exc.reason, index) from None
        raise


def unknown_products(events: Iterable[Event], known: Callable[[str], bool]) -> list[tuple[int, str]]:
    """(event index, product id) for each product id the catalog does not have."""
    missing = []
    for i, event in enumerate(events):
        ids = ([event.product_id] if event.product_id else []) + list(event.shown)
        missing += [(i, pid) for pid in ids if not known(pid)]
    return missing


def event_json(event: Event) -> dict:
    body = {k: v for k, v in vars(event).items() if v not in (None, ())}
    if event.shown:
        body["shown"] = list(event.shown)
    return body


def read_jsonl_events(path: str | Path) -> Iterator[Event]:
    """Events from a JSONL file (optionally .gz); a bad line raises an error naming its line and field."""
    from indexer.loaders import jsonl_records
    from indexer.validation import UnreadableRecord

    for number, raw in jsonl_records(Path(path)):
        if isinstance(raw, UnreadableRecord):
            raise ValueError(f"{path}, line {number}: {raw.reason}")
        try:
            yield parse_event(raw)
        except EventError as exc:
            raise ValueError(f"{path}, line {number}: {exc}") from None
