"""Judgment lists: graded (query, product id, 0-3) rows, in the Icecat CSV format."""
from __future__ import annotations

import csv
from collections import defaultdict
from pathlib import Path
from typing import Callable, TextIO

from indexer.csv_files import ENCODING, dict_rows, undecodable
from indexer.filters import filter_key
from indexer.validation import number_text

Judgments = dict[str, dict[str, float]]  # query -> product id -> grade

COLUMNS = ("query", "docid", "rating")


def load_judgments(path: str | Path) -> Judgments:
    """Read `query,docid,rating` rows; bad rows fail with their row number."""
    with open(path, encoding=ENCODING, newline="") as handle:
        try:
            return read_judgments(handle, str(path))
        except UnicodeDecodeError:
            raise undecodable(Path(path)) from None


def products_not_held(judgments: Judgments, holds: Callable[[str], bool]) -> list[str]:
    """The judged product ids the catalog does not hold (holds(id) is False), sorted."""
    return sorted({doc for grades in judgments.values() for doc in grades if not holds(doc)})


def check_judged_products(judgments: Judgments, holds: Callable[[str], bool], source: str) -> str | None:
    """Refuse (ValueError) a judgment list none of whose judged products the catalog holds: it
    is another catalog's, and every figure over it would be a silent 0. A warning to show
    when fewer than half are held; else None."""
    judged = {doc for grades in judgments.values() for doc in grades}
    held = len(judged) - len(products_not_held(judgments, holds))
    if judged and not held:
        raise ValueError(f"none of the {len(judged)} products judged in {source} is in this index: the judgments "
                         f"are for another catalog (pass --judgments with this catalog's query,docid,rating CSV)")
    if held < len(judged) / 2:
        return (f"only {held} of the {len(judged)} products judged in {source} are in this index: "
                f"the figures count the others as never found")
    return None


def read_judgments(handle: TextIO, source: str) -> Judgments:
    """The rows of an open CSV (',', ';' or tab separated; column names in any case); errors
    name `source` and the row. A query is one query whatever its case and spacing, as search
    reads it (under its first spelling); a product graded twice for it must get one grade."""
    judgments: Judgments = defaultdict(dict)
    spelling: dict[str, str] = {}
    graded_on: dict[tuple[str, str], int] = {}
    reader = dict_rows(handle, source, COLUMNS)
    missing = [c for c in COLUMNS if c not in (reader.fieldnames or [])]
    if missing:
        raise ValueError(f"{source}: missing column(s) {', '.join(missing)}; expected {','.join(COLUMNS)}")
    for row, record in enumerate(reader, start=1):
        query, doc = (record["query"] or "").strip(), (record["docid"] or "").strip()
        if not query or not doc:
            raise ValueError(f"{source}: row {row}: query and docid must not be empty")
        rating = record["rating"] or ""
        if not rating.strip():  # as search-evaluate --unjudged leaves it to fill in
            raise ValueError(f"{source}: row {row}: {query!r}, {doc!r} has no rating; grade it 0-3 or leave the row out")
        try:
            grade = float(number_text(rating))
        except ValueError:
            raise ValueError(f"{source}: row {row}: rating {rating!r} is not a number") from None
        if not 0 <= grade <= 3:
            raise ValueError(f"{source}: row {row}: rating {grade} is outside 0-3")
        query = spelling.setdefault(filter_key(query), query)
        earlier = judgments[query].get(doc)
        if earlier is not None and earlier != grade:
            raise ValueError(f"{source}: row {row}: {query!r}, {doc!r} is graded {grade:g} here and {earlier:g} "
                             f"in row {graded_on[query, doc]}; keep one grade")
        graded_on.setdefault((query, doc), row)
        judgments[query][doc] = grade
    return dict(judgments)


def write_judgments(judgments: Judgments, path: str | Path) -> None:
    with open(path, "w", encoding="utf-8", newline="") as handle:
        write_judgments_to(judgments, handle)


def write_judgments_to(judgments: Judgments, handle: TextIO) -> None:
    writer = csv.writer(handle)
    writer.writerow(COLUMNS)
    for query, grades in judgments.items():
        for doc, grade in grades.items():
            writer.writerow([query, doc, int(grade) if float(grade).is_integer() else grade])
