"""XLSX bytes -> worksheets of rows of text, within the budget: the zip's directory checked, then the
worksheets and shared strings streamed and counted before openpyxl reads a byte; openpyxl then streams
the rows (read-only), nothing evaluated."""

from __future__ import annotations

import datetime as dt
import io
import re
import zipfile
from collections.abc import Generator, Iterator
from typing import Any, Literal

from grader.errors import GraderError, UnreadableSheet, UploadTooLarge
from grader.tables.limits import MB, TableLimits, mb


def file_kind(data: bytes, filename: str | None) -> Literal["csv", "xlsx"]:
    """A workbook by its zip signature or name; an old .xls is refused with what to do instead."""
    name = (filename or "").lower()
    if data.startswith(b"\xd0\xcf\x11\xe0"):
        raise UnreadableSheet(
            "this is an old Excel .xls (or other OLE) file; in Excel use 'Save As → Excel Workbook "
            "(.xlsx)' or 'CSV UTF-8' and upload that"
        )
    if data.startswith(b"PK\x03\x04") or name.endswith((".xlsx", ".xlsm")):
        return "xlsx"
    return "csv"


def cell_text(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))  # candidate number 1001 typed in Excel arrives as 1001.0
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    return str(value)


def check_workbook(data: bytes, limits: TableLimits) -> None:
    """Refuse a workbook over the budget before any of it is parsed: 422 if it is not a workbook, 413
    naming the limit it passes."""
    _check_zip(data, limits)
    try:
        _check_parts(data, limits)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, ValueError, OSError, EOFError) as exc:
        raise unreadable_workbook(exc) from exc


def worksheets(data: bytes, limits: TableLimits) -> Generator[tuple[str, Iterator[list[str]]], None, None]:
    """Each worksheet (chartsheets skipped) as its title and its rows, lazily, in file order, once
    `check_workbook` passed. Close the iterator (`contextlib.closing`) to close the workbook early."""
    check_workbook(data, limits)
    # Imported here: openpyxl is only needed for workbooks, and loads slowly.
    from openpyxl import load_workbook

    try:
        # data_only=False keeps a cell that starts with "=" as the text typed; nothing is evaluated.
        # read_only streams rows instead of building the whole sheet in memory.
        workbook = load_workbook(io.BytesIO(data), read_only=True, data_only=False)
    except Exception as exc:  # openpyxl raises many kinds for a bad file; all mean "unreadable"
        raise unreadable_workbook(exc) from exc
    try:
        for sheet in workbook.worksheets:
            if not hasattr(sheet, "reset_dimensions"):
                continue  # a chartsheet
            # The stored dimensions are often wrong (and may be forged); read what is really there (the
            # budget already counted the rows it reaches).
            sheet.reset_dimensions()
            yield sheet.title, _rows(sheet, limits)
    finally:
        workbook.close()


def _rows(sheet: Any, limits: TableLimits) -> Iterator[list[str]]:
    try:
        for row in sheet.iter_rows(max_col=limits.max_columns, values_only=True):
            # openpyxl yields every blank row up to the next one used: skip converting their cells.
            yield [] if row.count(None) == len(row) else [cell_text(v) for v in row]
    except GraderError:
        raise
    except Exception as exc:
        raise unreadable_workbook(exc) from exc


def unreadable_workbook(exc: Exception) -> UnreadableSheet:
    return UnreadableSheet(
        f"the .xlsx workbook could not be read ({type(exc).__name__}); open it in Excel and save it "
        "again, or export it as CSV UTF-8"
    )


def _check_zip(data: bytes, limits: TableLimits) -> None:
    """Refuse a zip that would expand past the caps, using the sizes its directory declares.

    Python's zipfile stops at the declared size and then fails the CRC check, so a member cannot
    expand beyond what is checked here.
    """
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            members = archive.infolist()
    except (zipfile.BadZipFile, zipfile.LargeZipFile, ValueError, OSError) as exc:
        raise UnreadableSheet(
            "the file looks like an .xlsx workbook but is damaged; open it in Excel and save it again "
            "(or export it as CSV UTF-8)"
        ) from exc
    names = {m.filename for m in members}
    if "xl/workbook.xml" not in names:
        raise UnreadableSheet(
            "the file is a zip archive but not an Excel workbook; upload a .xlsx or .csv answer sheet"
        )
    if len(members) > 10_000:
        raise UploadTooLarge("the workbook holds too many parts to be an answer sheet")
    total = sum(m.file_size for m in members)
    if total > limits.max_uncompressed_bytes:
        raise UploadTooLarge(
            f"the workbook unpacks to {total / MB:.0f} MB, over the {mb(limits.max_uncompressed_bytes)} this "
            "server parses; split the answers over several files or save them as CSV UTF-8",
            details={"uncompressed_bytes": total, "max_uncompressed_bytes": limits.max_uncompressed_bytes},
        )
    for m in members:
        if m.file_size > MB and m.file_size > limits.max_compression_ratio * max(m.compress_size, 1):
            raise UploadTooLarge(
                f"the workbook part '{m.filename}' expands {m.file_size // max(m.compress_size, 1)}-fold, "
                "which no answer sheet does; it is refused as a possible zip bomb",
                details={"member": m.filename},
            )


_PREFIX = rb"<(?:[A-Za-z_][\w.-]*:)?"
_CELL_TAG = re.compile(_PREFIX + rb"c[\s/>]")
_STRING_TAG = re.compile(_PREFIX + rb"si[\s/>]")
# A row's opening tag with its attributes (its number in r="…", which may be left out), and the sheet's
# declared extent (<dimension ref="A1:E1048576"/>).
_ROW_TAG = re.compile(_PREFIX + rb"row(?=[\s/>])([^>]*)>")
_ROW_NUMBER = re.compile(rb'\sr\s*=\s*["\'](\d{1,9})["\']')
_DIMENSION = re.compile(_PREFIX + rb'dimension\s[^>]*ref\s*=\s*["\'][A-Za-z]{0,3}\d*:?[A-Za-z]{0,3}(\d{1,9})["\']')


class _Count:
    """What the streamed parts hold so far; refused (413) the moment one passes its cap."""

    def __init__(self, limits: TableLimits) -> None:
        self.limits = limits
        self.cells = self.strings = 0

    def sheet(self, chunk: bytes, rows: _SheetRows) -> None:
        self.cells += len(_CELL_TAG.findall(chunk))
        rows.add(chunk)
        self.check()

    def shared(self, chunk: bytes) -> None:
        self.strings += len(_STRING_TAG.findall(chunk))
        self.check()

    def check(self) -> None:
        limits = self.limits
        if self.cells > limits.max_cell_elements:
            raise UploadTooLarge(
                f"the workbook holds more than {limits.max_cell_elements:,} cells, the most this server parses; "
                "split the answers over several files",
                details={"max_cell_elements": limits.max_cell_elements},
            )
        if self.strings > limits.max_shared_strings:
            raise UploadTooLarge(
                f"the workbook holds more than {limits.max_shared_strings:,} distinct texts, the most this server "
                "parses; split the answers over several files",
                details={"max_shared_strings": limits.max_shared_strings},
            )


class _SheetRows:
    """The highest row a worksheet declares (its dimension) or reaches (a row numbered r, or the next after
    the last when r is left out): openpyxl yields every row up to it, blank or not."""

    def __init__(self, max_rows: int) -> None:
        self.max_rows = max_rows
        self.last = 0

    def add(self, chunk: bytes) -> None:
        for declared in _DIMENSION.finditer(chunk):
            self._reach(int(declared.group(1)))
        for row in _ROW_TAG.finditer(chunk):
            number = _ROW_NUMBER.search(row.group(1))
            self._reach(int(number.group(1)) if number else self.last + 1)

    def _reach(self, number: int) -> None:
        self.last = max(self.last, number)
        if self.last > self.max_rows:
            raise UploadTooLarge(
                f"the sheet has more than {self.max_rows:,} rows (it reaches row {self.last:,}; blank rows "
                "count, each is read); delete the empty rows below the table or split it into several files",
                details={"max_rows": self.max_rows},
            )


def _check_parts(data: bytes, limits: TableLimits) -> None:
    """Stream the worksheets and the shared strings through the budget before openpyxl reads them:
    unpacked bytes (as really inflated, not as declared), cell elements, shared strings and each sheet's
    highest row, refused (413) the moment one passes its cap. Nothing is kept but the counts, so this
    costs one inflate of at most `max_uncompressed_bytes` and no memory to speak of."""
    unpacked = 0
    count = _Count(limits)
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        for member in archive.infolist():
            name = member.filename
            is_sheet = name.startswith("xl/worksheets/") and name.endswith(".xml")
            if not (is_sheet or name == "xl/sharedStrings.xml"):
                continue
            rows = _SheetRows(limits.max_rows)
            carry = b""
            with archive.open(member) as part:
                while chunk := part.read(MB):
                    unpacked += len(chunk)
                    if unpacked > limits.max_uncompressed_bytes:
                        raise UploadTooLarge(
                            f"the workbook unpacks to more than {mb(limits.max_uncompressed_bytes)}, the most "
                            "this server parses; split the answers over several files or save them as CSV UTF-8",
                            details={"max_uncompressed_bytes": limits.max_uncompressed_bytes},
                        )
                    # Every tag starts with "<" (text holds "&lt;"): cut at the last one, so no tag is split.
                    text = carry + chunk
                    cut = text.rfind(b"<")
                    head, carry = (text[:cut], text[cut:]) if cut > 0 else (b"", text)
                    _counted(count, rows, head, is_sheet)
            _counted(count, rows, carry, is_sheet)


def _counted(count: _Count, rows: _SheetRows, chunk: bytes, is_sheet: bool) -> None:
    if is_sheet:
        count.sheet(chunk, rows)
    else:
        count.shared(chunk)
