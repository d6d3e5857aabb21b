"""Reading CSV files as spreadsheets write them: a UTF-8 byte-order mark (Excel's "CSV UTF-8"),
a ';' or tab separator (Excel in locales whose decimal mark is a comma), and column names in
any case with spaces around them."""
from __future__ import annotations

import csv
import gzip
import itertools
from pathlib import Path
from typing import Iterable, Sequence, TextIO

ENCODING = "utf-8-sig"  # UTF-8, with or without a byte-order mark
DELIMITERS = (",", ";", "\t")


def header_delimiter(header: str, known: Sequence[str] = ()) -> str:
    """The separator under which the header line names the most known columns, then splits into
    the most columns (',' on a tie: a one-column file has no separator to find)."""
    def fit(delimiter: str) -> tuple[int, int]:
        names = [name.strip().lower() for name in next(csv.reader([header], delimiter=delimiter), [])]
        return len(set(names) & {k.lower() for k in known}), len(names)
    return max(DELIMITERS, key=fit)


def dict_rows(lines: Iterable[str] | TextIO, source: str, known: Sequence[str] = (), delimiter: str | None = None
              ) -> csv.DictReader:
    """A DictReader over CSV lines, its separator read from the header line unless given. Column
    names are trimmed, and a known one in another case ("Price", "DocID") reads as known; a
    header naming one twice is a ValueError naming `source`."""
    lines = iter(lines)
    header = next(lines, "")
    reader = csv.DictReader(itertools.chain([header], lines), delimiter=delimiter or header_delimiter(header, known))
    spelling = {name.lower(): name for name in known}
    names = [spelling.get(name.strip().lower(), name.strip()) for name in reader.fieldnames or []]
    twice = sorted({name for name in names if names.count(name) > 1})
    if twice:
        raise ValueError(f"{source}: the header names {', '.join(map(repr, twice))} more than once (names are "
                         f"read in any case, spaces trimmed): one column each")
    reader.fieldnames = names
    return reader


def undecodable(path: Path) -> ValueError:
    """The error for a file (.gz read through) that failed to decode as UTF-8: what it is instead
    and where, and the fix."""
    data = gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes()
    return ValueError(f"{path}: {decode_problem(data)}; save it as UTF-8")


def decode_problem(data: bytes) -> str:
    """Why a file's bytes, which failed to decode, are not UTF-8 text: UTF-16, or the line of
    the first byte that is not UTF-8."""
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return "is UTF-16 text, not UTF-8"
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        return f"is not UTF-8 text: line {line} holds byte {data[exc.start:exc.start + 1]!r} ({exc.reason})"
    return "is not UTF-8 text"
