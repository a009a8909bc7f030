"""CSV bytes -> rows of text: the encoding (as Excel and WPS write it) and the delimiter found, a quote
left open or a row over the column cap refused with the row it happened on."""

from __future__ import annotations

import csv
import io
import unicodedata
from collections.abc import Callable, Iterable, Iterator, Sequence

from grader.errors import UnreadableSheet, UploadTooLarge
from grader.tables.limits import TableLimits


def header_key(text: str) -> str:
    """The form a header is compared in: NFKC, case-folded, letters and digits only, so "Candidate ID",
    "candidate_id" and "候选人 ID" (with its space) meet."""
    return "".join(c for c in unicodedata.normalize("NFKC", text).casefold() if c.isalnum())


def decode_text(data: bytes) -> tuple[str, str]:
    """The text and the codec it was decoded with: a BOM's, else strict UTF-8, else GB18030 (GBK's superset)."""
    if data.startswith(b"\xef\xbb\xbf"):
        candidates: tuple[str, ...] = ("utf-8-sig",)
    elif data.startswith((b"\xff\xfe", b"\xfe\xff")):
        candidates = ("utf-16",)  # Excel's "Unicode Text" export
    else:
        # Strict UTF-8 first: GBK bytes are almost never valid UTF-8, while the reverse is common.
        candidates = ("utf-8", "gb18030")
    for encoding in candidates:
        try:
            return data.decode(encoding), encoding
        except UnicodeDecodeError:
            continue
    raise UnreadableSheet(
        "the file is neither UTF-8 nor GBK/GB18030 text; in Excel use 'Save As → CSV UTF-8', "
        "or upload the .xlsx file itself",
        details={"tried": list(candidates)},
    )


DELIMITERS = (",", ";", "\t")
# How many cells of a row a reader recognises as its headers (or questions): ranks candidate delimiters.
Recognised = Callable[[Sequence[str]], int]


def csv_records(data: bytes, limits: TableLimits, recognised: Recognised) -> tuple[Iterator[list[str]], str, str]:
    """The rows (lazily, as lists of cell text), the encoding and the delimiter. `recognised` counts the
    cells of a row the caller knows as headers: the delimiter under which early rows read as the most
    recognisable, regular table wins."""
    if b"\x00" in data[:8192] and not data.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise UnreadableSheet(
            "the file is not a table: it is binary, not CSV text; upload a .csv or .xlsx answer sheet"
        )
    text, encoding = decode_text(data)
    if "\x00" in text:
        # Past the first 8 KB the check above does not look; no text column can store a NUL character.
        line = text.count("\n", 0, text.index("\x00")) + 1
        raise UnreadableSheet(
            f"the file holds a NUL character on line {line}: it is not a text table; "
            "export the sheet again as CSV or upload the .xlsx",
            details={"line": line},
        )
    delimiter = _sniff_delimiter(text, recognised)
    # A cell can legitimately be long (an over-long answer is reported per row); the file cap bounds it.
    csv.field_size_limit(max(csv.field_size_limit(), limits.max_bytes))
    # strict: a quote left open would otherwise swallow the rest of the file into one answer.
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True)
    return _reported(reader, limits.max_columns), encoding, delimiter


def _sniff_delimiter(text: str, recognised: Recognised) -> str:
    """csv.Sniffer guesses from character frequencies and is thrown off by commas inside Chinese
    answers and by multi-line cells, so each candidate is tried on the first records instead."""
    sample = text[:65536]
    best: tuple[int, float, int] | None = None
    chosen = ","
    for delimiter in DELIMITERS:
        try:
            records = [r for r in _take(csv.reader(io.StringIO(sample), delimiter=delimiter), 30) if any(r)]
        except csv.Error:
            continue
        if not records:
            continue
        known = max(recognised(r) for r in records[:10])
        width = len(records[0])
        regular = sum(len(r) == width for r in records) / len(records)
        rank = (known, regular if width > 1 else 0.0, width)
        if best is None or rank > best:
            best, chosen = rank, delimiter
    return chosen


def _take(rows: Iterable[list[str]], n: int) -> list[list[str]]:
    out: list[list[str]] = []
    for row in rows:
        out.append(row)
        if len(out) >= n:
            break
    return out


def _reported(reader: Iterator[list[str]], max_columns: int) -> Iterator[list[str]]:
    number = 0
    try:
        for number, row in enumerate(reader, start=1):
            if len(row) > max_columns:
                # Trailing empty cells (a sheet exported wider than it is) are dropped, as for xlsx.
                if any(cell.strip() for cell in row[max_columns:]):
                    raise UploadTooLarge(
                        f"row {number} has more than {max_columns} columns; an answer sheet "
                        f"needs at most {max_columns}",
                        details={"max_columns": max_columns, "row": number},
                    )
                row = row[:max_columns]
            yield row
    except csv.Error as exc:
        raise UnreadableSheet(
            f"the CSV could not be read from row {number + 1} on ({exc}); most likely a quote opened "
            "there is never closed. Quote a cell that holds commas or line breaks, and double the "
            "quotes inside it",
            details={"row": number + 1},
        ) from exc
