"""Turn raw catalog records into Products, reporting every bad row by number and reason.

Nothing is dropped silently: a load either fails with the full report or, when the
caller opts in to skipping, returns the report alongside the good products.
"""
from __future__ import annotations

import datetime
import decimal
import math
import numbers
import re
from collections import Counter
from dataclasses import dataclass, field, replace
from typing import Any, Iterable, Iterator

from indexer.schema import Product

KNOWN_FIELDS = ("id", "title", "description", "brand", "category", "price", "attributes")
NOT_A_FIELD = "a product has " + ", ".join(KNOWN_FIELDS) + "; anything else goes under attributes"
MAX_ERRORS_IN_MESSAGE = 20
MAX_ATTRIBUTE_DEPTH = 20  # lists in objects in lists...: deeper is no attribute, and str() of it recurses


@dataclass
class RowError:
    row: int  # 1-based record number in the source (data rows for CSV, lines for JSONL)
    field: str
    reason: str
    product_id: str | None = None

    def __str__(self) -> str:
        who = f" (id {self.product_id!r})" if self.product_id else ""
        return f"row {self.row}{who}: {self.field}: {self.reason}"


@dataclass(frozen=True)
class UnreadableRecord:
    """A source row that holds no record at all (a JSONL line that is not a JSON object)."""
    reason: str


@dataclass
class CatalogReport:
    source: str
    rows_read: int = 0
    products: list[Product] = field(default_factory=list)
    errors: list[RowError] = field(default_factory=list)
    rows: list[int] = field(default_factory=list)  # each product's record number in the source
    ignored_fields: Counter = field(default_factory=Counter)  # a field no product has -> rows holding it
    limited_to: int | None = None  # only the first this many valid products are kept (limited())

    def limited(self, limit: int | None) -> "CatalogReport":
        """This report with only its first `limit` products (None or 0: all of them)."""
        return replace(self, products=self.products[:limit], rows=self.rows[:limit], limited_to=limit) if limit else self

    @property
    def rows_skipped(self) -> int:
        return len({e.row for e in self.errors})

    def summary(self) -> str:
        lines = [
            f"{self.source}: {self.rows_read} rows read, {self.rows_read - self.rows_skipped} valid, "
            f"{self.rows_skipped} invalid" + (f"; the first {len(self.products)} valid kept (--limit)"
                                              if self.limited_to is not None else "")
        ]
        lines += [f"  {e}" for e in self.errors[:MAX_ERRORS_IN_MESSAGE]]
        if len(self.errors) > MAX_ERRORS_IN_MESSAGE:
            lines.append(f"  ... and {len(self.errors) - MAX_ERRORS_IN_MESSAGE} more")
        if self.ignored_fields:
            lines.append(f"  fields that are not product fields were not read ({NOT_A_FIELD}): " + ", ".join(
                f"{name} ({rows} rows)" for name, rows in self.ignored_fields.most_common(MAX_ERRORS_IN_MESSAGE)))
        return "\n".join(lines)


class CatalogValidationError(ValueError):
    def __init__(self, report: CatalogReport):
        self.report = report
        super().__init__(
            "catalog has invalid rows (pass skip_invalid / --skip-invalid to skip them):\n"
            + report.summary()
        )


def parse_price(value: Any) -> float | None:
    """A price as a non-negative float; None when absent. Raises ValueError when unparseable."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, bool):
        raise ValueError(f"expected a number, got {value!r}")
    if isinstance(value, numbers.Real):
        try:
            price = float(value)
        except OverflowError:
            raise ValueError(f"is too large, got a number of {len(str(value))} digits") from None
    else:
        try:
            price = float(number_text(str(value)))
        except ValueError:
            raise ValueError(f"expected a number, got {value!r}") from None
    if math.isnan(price) or math.isinf(price):
        raise ValueError(f"expected a finite number, got {value!r}")
    if price < 0:
        raise ValueError(f"must not be negative, got {value!r}")
    return price + 0.0  # -0 is 0


# A number grouped in thousands never starts with 0: 0.125 and 0,450 are decimals, not 125 and 450.
EUROPEAN_THOUSANDS = re.compile(r"[1-9]\d{0,2}(\.\d{3})+,\d+")  # 1.299,00
ENGLISH_THOUSANDS = re.compile(r"[1-9]\d{0,2}(,\d{3})+(\.\d+)?")  # 1,299 and 1,299.00
DECIMAL_COMMA = re.compile(r"\d+,\d{1,2}")  # 1,29 and 12,5: no thousands group has 1 or 2 digits
COMMA_LOCALE = re.compile(r"[1-9]\d{0,2}(\.\d{3})+(,\d+)?|\d+(,\d+)?")  # where ',' is the decimal mark: 1.299, 1,5


def number_text(text: str, decimal_comma: bool = False) -> str:
    """A number as float() reads it: without currency signs and spaces, with the decimal mark
    and thousands separators of English and of continental European writing. decimal_comma:
    the text comes from a file written where ',' is the decimal mark (a ';'-separated CSV),
    so '1.299' is 1299 there, not 1.299."""
    text = re.sub(r"[\s\u00a0\u202f]", "", text).strip("$€£")
    sign, body = (text[0], text[1:]) if text[:1] in ("-", "+") else ("", text)
    if decimal_comma and COMMA_LOCALE.fullmatch(body):
        return sign + body.replace(".", "").replace(",", ".")
    if EUROPEAN_THOUSANDS.fullmatch(body):
        return sign + body.replace(".", "").replace(",", ".")
    if ENGLISH_THOUSANDS.fullmatch(body):
        return sign + body.replace(",", "")
    if DECIMAL_COMMA.fullmatch(body):
        return sign + body.replace(",", ".")
    return text


def lone_surrogate(text: str) -> bool:
    """Text UTF-8 cannot encode: half a surrogate pair, as a JSON escape ("\\ud800") makes.
    No store, tokenizer or log here can hold it."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def nested_values(value: Any) -> Iterator[tuple[str, Any, int]]:
    """(path, value, depth) for a JSON-like value and everything inside its lists and objects,
    depth-first and iteratively (a body the parser took may be nested deeper than a recursion
    could follow). The path is "" for the value itself, then "key", "key[0].name", ...; a caller
    that stops at some depth stops the walk there."""
    pending = [("", value, 0)]
    while pending:
        path, item, depth = pending.pop()
        yield path, item, depth
        if isinstance(item, dict):
            pending += [(f"{path}.{key}" if path else str(key), inner, depth + 1) for key, inner in item.items()]
        elif isinstance(item, (list, tuple)):
            pending += [(f"{path}[{i}]", inner, depth + 1) for i, inner in enumerate(item)]


def unwritable_text(value: Any) -> str | None:
    """Why a JSON-like value's own text cannot be written (not what is inside it), or None."""
    if isinstance(value, dict) and any(isinstance(key, str) and lone_surrogate(key) for key in value):
        return "a field name is not valid text (a lone surrogate)"
    if isinstance(value, str) and lone_surrogate(value):
        return "is not valid text (a lone surrogate)"
    return None


def _text(value: Any) -> str:
    """A text field: text, or a number written as text (ids from CSV and Parquet); anything
    else (lists, objects, true/false) is a ValueError, never its Python str()."""
    if value is None:
        return ""
    if isinstance(value, float) and math.isnan(value):  # empty cells from Parquet/pandas
        return ""
    if isinstance(value, decimal.Decimal):  # Parquet decimal columns (SQL exports' ids): "1001", not "1.001E+3"
        return "" if value.is_nan() else format(value, "f")
    if isinstance(value, datetime.date):  # Parquet date and timestamp columns
        return value.isoformat()
    if isinstance(value, (bool, bytes)) or not isinstance(value, (str, numbers.Real)):
        raise ValueError(f"expected text, got {type(value).__name__}")
    text = str(value).strip()
    if lone_surrogate(text):
        raise ValueError("is not valid text (a lone surrogate)")
    return text


def record_to_product(record: dict[str, Any]) -> tuple[Product | None, list[tuple[str, str]]]:
    """One record to a Product, or the list of (field, reason) problems that stop it (fields
    other than KNOWN_FIELDS are not read: validate_records says what becomes of them)."""
    problems: list[tuple[str, str]] = []
    texts: dict[str, str] = {}
    for name in ("id", "title", "description", "brand", "category"):
        try:
            texts[name] = _text(record.get(name))
        except ValueError as exc:
            problems.append((name, str(exc)))
            texts[name] = "?"  # reported; not also "missing"
    for name in ("id", "title"):
        if not texts[name]:
            problems.append((name, "missing"))
    price = None
    try:
        price = parse_price(record.get("price"))
    except ValueError as exc:
        problems.append(("price", str(exc)))
    attributes = record.get("attributes") or {}
    if not isinstance(attributes, dict):
        problems.append(("attributes", f"expected an object, got {type(attributes).__name__}"))
        attributes = {}
    problems += [(f"attributes.{key}", problem) for key, value in attributes.items()
                 if (problem := _attribute_problem(key, value))]
    if problems:
        return None, problems
    attributes = {str(k): v for k, v in attributes.items() if _attribute_text(v) != ""}
    return (
        Product(
            id=texts["id"],
            title=texts["title"],
            description=texts["description"],
            brand=texts["brand"],
            category=texts["category"],
            price=price,
            attributes=attributes,
        ),
        [],
    )


def _attribute_text(value: Any) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    return str(value).strip()


def _attribute_problem(key: Any, value: Any) -> str | None:
    """Why an attribute cannot be stored, or None. Values stay as loose as the catalogs they
    come from (text, numbers, true/false, lists); only what nothing downstream can hold is
    refused."""
    if isinstance(key, str) and lone_surrogate(key):
        return "the name is not valid text (a lone surrogate)"
    for _, item, depth in nested_values(value):  # lists and objects inside a value too
        if depth > MAX_ATTRIBUTE_DEPTH:
            return f"is nested more than {MAX_ATTRIBUTE_DEPTH} levels deep"
        problem = unwritable_text(item)
        if problem:
            return problem
        if isinstance(item, int) and not isinstance(item, bool):
            try:
                float(item)
            except OverflowError:
                return f"is too large, got a number of {len(str(item))} digits"
    return None


def validate_records(source: str, records: Iterable[tuple[int, dict[str, Any] | UnreadableRecord]],
                     refuse_unknown_fields: bool = False) -> CatalogReport:
    """Validate numbered records; duplicates are reported on their second occurrence. A
    field that is no product field (a file's "url", "_id") is counted in ignored_fields, or
    with refuse_unknown_fields (a request: its sender means every field) is the row's error."""
    report = CatalogReport(source=source)
    first_row_of: dict[str, int] = {}
    for row, record in records:
        report.rows_read += 1
        if isinstance(record, UnreadableRecord):
            report.errors.append(RowError(row, "record", record.reason))
            continue
        unknown = [str(key) for key in record if key not in KNOWN_FIELDS]
        if unknown and not refuse_unknown_fields:
            report.ignored_fields.update(unknown)
        product, problems = record_to_product(record)
        if unknown and refuse_unknown_fields:
            problems = problems + [(key, f"not a product field ({NOT_A_FIELD})") for key in unknown]
            product = None
        raw_id = _loose_id(record.get("id"))
        if product is not None and product.id in first_row_of:
            problems = [("id", f"duplicate of row {first_row_of[product.id]}")]
            product = None
        if product is None:
            report.errors += [RowError(row, f, reason, raw_id) for f, reason in problems]
            continue
        first_row_of[product.id] = row
        report.products.append(product)
        report.rows.append(row)
    return report


def _loose_id(value: Any) -> str | None:
    """The id to name a bad row by, whatever it holds."""
    try:
        return _text(value) or None
    except ValueError:
        return None


def finish(report: CatalogReport, skip_invalid: bool) -> CatalogReport:
    """Fail with the whole report unless the caller opted in to skipping bad rows."""
    if report.errors and not skip_invalid:
        raise CatalogValidationError(report)
    return report
