"""Adapter for the Icecat catalog as published by the Chorus project (JSON arrays in zips).

Mapping: brand <- supplier, price <- price in cents / 100, description <- short_description,
attributes <- attr_t_* / attr_n_* / attr_b_* with the prefix dropped, plus the model code
(`name`) and EANs, which shoppers type verbatim ("brother tn-2110 toner").

Icecat has no category field. Its generated titles read "<brand> <model code> <category>
<specs...>" with the category in lower case ("HP C8091A power adapter/inverter Indoor 50 W"),
so the category is the lower-case run right after the model code, falling back to the
`product_type` attribute; about 39% of products get one this way, the rest stay empty
rather than guessed.
"""
from __future__ import annotations

import json
import re
import zipfile
from pathlib import Path
from typing import Any, Iterator

from indexer.attributes import AttributeConfig
from indexer.validation import CatalogReport, finish, validate_records

ATTRIBUTE_PREFIXES = ("attr_t_", "attr_n_", "attr_b_")
# What a shopper of this catalog filters by: attributes many products share with few distinct
# values (facets), and measured quantities (numeric: grams, metres, GB, inches, cores).
ICECAT_ATTRIBUTES = AttributeConfig(
    facets=("product_colour", "connectivity_technology", "print_technology", "printing_colours", "form_factor",
            "material", "processor_manufacturer", "storage_media", "interface"),
    numeric=("weight", "cable_length", "internal_memory", "display_diagonal", "total_storage_capacity",
             "processor_cores"))
CATEGORY_WORD = re.compile(r"[a-z][a-z/\-]*")


def icecat_category(raw: dict[str, Any]) -> str:
    title, model = raw.get("title") or "", raw.get("name") or ""
    start = title.lower().find(model.lower()) if model else -1
    words: list[str] = []
    if start >= 0:
        for word in title[start + len(model):].split():
            if not CATEGORY_WORD.fullmatch(word):
                break
            words.append(word)
    category = " ".join(words) or str(raw.get("attr_t_product_type") or "")
    return category.strip().lower()


def icecat_record(raw: dict[str, Any]) -> dict[str, Any]:
    attributes: dict[str, Any] = {}
    if raw.get("name"):
        attributes["model"] = raw["name"]
    if raw.get("ean"):
        attributes["ean"] = " ".join(raw["ean"]) if isinstance(raw["ean"], list) else raw["ean"]
    for key, value in raw.items():
        for prefix in ATTRIBUTE_PREFIXES:
            if key.startswith(prefix):
                attributes[key[len(prefix):]] = value
    price = raw.get("price")
    return {
        "id": raw.get("id"),
        "title": raw.get("title"),
        "description": raw.get("short_description") or "",
        "brand": raw.get("supplier") or "",
        "category": icecat_category(raw),
        # Icecat prices are integer cents; anything else is passed on for validation to report.
        "price": price / 100 if isinstance(price, (int, float)) and not isinstance(price, bool) else price,
        "attributes": attributes,
    }


def _icecat_files(path: Path) -> list[Path]:
    if path.is_dir():
        files = sorted(path.glob("*.json.zip")) or sorted(path.glob("products/*.json.zip"))
        files += sorted(path.glob("*.json")) if not files else []
        if not files:
            raise FileNotFoundError(f"no Icecat *.json.zip files in {path}")
        return files
    if not path.exists():
        raise FileNotFoundError(f"Icecat file not found: {path}")
    return [path]


def _raw_products(path: Path) -> Iterator[dict[str, Any]]:
    for file in _icecat_files(path):
        if file.suffix == ".zip":
            with zipfile.ZipFile(file) as archive:
                for member in archive.namelist():
                    yield from json.loads(archive.read(member))
        else:
            yield from json.loads(file.read_text(encoding="utf-8"))


def load_icecat(path: str | Path, skip_invalid: bool = False) -> CatalogReport:
    """Load an Icecat folder (the *.json.zip files, or their products/ subfolder) or one file."""
    records = ((row, icecat_record(raw)) for row, raw in enumerate(_raw_products(Path(path)), 1))
    return finish(validate_records(str(path), records), skip_invalid)
