"""Reading CSV files as spreadsheets write them: a UTF-8 byte-order mark (Excel's "CSV UTF-8")
and a ';' or tab separator (Excel in locales whose decimal mark is a comma) are both common."""
from __future__ import annotations

import csv
import itertools
from typing import Iterable, TextIO

ENCODING = "utf-8-sig"  # UTF-8, with or without a byte-order mark
DELIMITERS = (",", ";", "\t")


def header_delimiter(header: str) -> str:
    """The separator that splits a header line into the most columns (',' on a tie: a
    one-column file has no separator to find)."""
    return max(DELIMITERS, key=lambda delimiter: len(next(csv.reader([header], delimiter=delimiter), [])))


def dict_rows(lines: Iterable[str] | TextIO) -> csv.DictReader:
    """A DictReader over CSV lines whose separator is read from the header line."""
    lines = iter(lines)
    header = next(lines, "")
    return csv.DictReader(itertools.chain([header], lines), delimiter=header_delimiter(header))
