"""Catalog loaders for JSONL, CSV and Parquet files, all validated the same way."""
from __future__ import annotations

import gzip
import io
import json
from pathlib import Path
from typing import Any, Iterator

from indexer.csv_files import ENCODING, dict_rows, undecodable
from indexer.validation import KNOWN_FIELDS, CatalogReport, UnreadableRecord, finish, number_text, validate_records

Record = tuple[int, dict[str, Any] | UnreadableRecord]


def _open_text(path: Path) -> io.TextIOBase:
    if path.suffix == ".gz":
        return gzip.open(path, "rt", encoding=ENCODING, newline="")
    return open(path, encoding=ENCODING, newline="")


def jsonl_records(path: Path) -> Iterator[Record]:
    """(line number, object) per non-blank line; a line that is no JSON object is an
    UnreadableRecord saying why. Reads .gz too."""
    with _open_text(path) as lines:
        for row, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as exc:
                # "Invalid control character at": a line break inside a text, as a cut line has.
                yield row, UnreadableRecord(f"invalid JSON at character {exc.pos + 1}: {exc.msg.removesuffix(' at')}")
                continue
            yield row, record if isinstance(record, dict) else UnreadableRecord(
                f"expected a JSON object, got {type(record).__name__}")


def _flat_record(raw: dict[str, Any]) -> dict[str, Any]:
    """CSV and Parquet rows: known columns map to fields, every other column is an attribute."""
    record = {k: raw.get(k) for k in KNOWN_FIELDS if k != "attributes"}
    attributes: dict[str, Any] = {}
    packed = raw.get("attributes")
    if isinstance(packed, str) and packed.strip():
        try:
            attributes.update(json.loads(packed))
        except (json.JSONDecodeError, TypeError, ValueError):
            record["attributes"] = packed  # reported by validation as not an object
    elif isinstance(packed, dict):
        attributes.update(packed)
    for key, value in raw.items():
        if key not in KNOWN_FIELDS and value not in (None, ""):
            attributes[key] = value
    record.setdefault("attributes", attributes)
    return record


def _csv_records(path: Path) -> Iterator[Record]:
    """Rows of a CSV (separator read from the header) or a .tsv. A ';'-separated file comes
    from a locale whose decimal mark is a comma: its prices read so ("1.299" is 1299)."""
    with _open_text(path) as handle:
        reader = dict_rows(handle, str(path), KNOWN_FIELDS, "\t" if _format_of(path) == "tsv" else None)
        decimal_comma = reader.reader.dialect.delimiter == ";"
        for row, raw in enumerate(reader, start=1):
            if decimal_comma and isinstance(raw.get("price"), str):
                raw["price"] = number_text(raw["price"], decimal_comma=True)
            yield row, _flat_record(raw)


def _parquet_records(path: Path) -> Iterator[Record]:
    import pyarrow.parquet as pq

    table = pq.read_table(path)
    for row, raw in enumerate(table.to_pylist(), start=1):
        yield row, _flat_record(raw)


def _format_of(path: Path) -> str:
    suffixes = [s for s in path.suffixes if s != ".gz"]
    return suffixes[-1].lstrip(".") if suffixes else ""


READERS = {"jsonl": jsonl_records, "csv": _csv_records, "tsv": _csv_records, "parquet": _parquet_records}


def load_catalog(path: str | Path, skip_invalid: bool = False) -> CatalogReport:
    """Load and validate a catalog file; the format comes from its extension.

    Raises CatalogValidationError listing every bad row unless skip_invalid is set,
    in which case the report still carries them so the caller can print them.
    """
    path = Path(path)
    fmt = _format_of(path)
    if fmt == "json":
        fmt = "jsonl"
    if fmt not in READERS:
        raise ValueError(
            f"{path}: unknown catalog format {fmt!r}; expected one of .jsonl, .csv, .tsv, .parquet "
            "(optionally .gz)"
        )
    if not path.exists():
        raise FileNotFoundError(f"catalog file not found: {path}")
    try:
        report = validate_records(str(path), READERS[fmt](path))
    except UnicodeDecodeError:
        raise undecodable(path) from None
    return finish(report, skip_invalid)


def write_jsonl(products, path: str | Path) -> None:
    path = Path(path)
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "wt", encoding="utf-8") as out:
        for product in products:
            out.write(json.dumps(product.to_dict(), ensure_ascii=False) + "\n")
