"""One reader for every table people upload (`grader.tables`): answer sheets and bank imports get the same
decoding, the same rows and the same workbook budget."""

from __future__ import annotations

import io
from collections.abc import Sequence
from contextlib import closing

import pytest
from openpyxl import Workbook

from grader.batches.parsing import parse_sheet
from grader.errors import UploadTooLarge
from grader.questions.documents import parse_bank_document
from grader.tables import TableLimits, csv_records, worksheets
from tests.support.sheets import QUESTIONS, shared_strings_bomb, xlsx_bytes

ROWS = [
    ["question_id", "question", "reference_answer"],
    ["k-1", "什么是栈？", "后进先出的线性表，只在一端插入和删除。"],
]
LAST_ROW = 1_048_576  # Excel's last row


def _any_header(row: Sequence[str]) -> int:
    return sum(1 for cell in row if cell in ROWS[0])


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "gbk", "utf-16"])
def test_csv_in_every_encoding_people_save_reads_as_the_same_rows(encoding: str) -> None:
    data = "\r\n".join(",".join(row) for row in ROWS).encode(encoding)
    records, found, delimiter = csv_records(data, TableLimits(), _any_header)
    assert list(records) == ROWS
    assert delimiter == "," and found == {"gbk": "gb18030", "utf-8-sig": "utf-8-sig"}.get(encoding, encoding)


def test_a_workbook_reads_as_the_same_rows_as_its_csv() -> None:
    with closing(worksheets(xlsx_bytes(("bank", ROWS)), TableLimits())) as sheets:
        title, rows = next(sheets)
        read = list(rows)
    assert title == "bank" and [row[:3] for row in read] == ROWS
    assert not any(cell for row in read for cell in row[3:])  # a workbook's rows come padded with blanks


def _reaching_the_last_row() -> bytes:
    """Issue 18, hole 3: a workbook of about 1.5 KB, one cell at Excel's last row. Read row by row it cost
    13.8 s of API CPU on a bank import (openpyxl yields every blank row up to it)."""
    workbook = Workbook()
    sheet = workbook.active
    for row in ROWS:
        sheet.append(row)
    sheet.cell(row=LAST_ROW, column=1, value="x")
    out = io.BytesIO()
    workbook.save(out)
    return out.getvalue()


def test_a_workbook_reaching_the_last_row_is_refused_before_a_row_is_read_by_both_doors() -> None:
    data = _reaching_the_last_row()
    assert len(data) < 8 * 1024
    for read in (
        lambda: parse_bank_document(data, "bank.xlsx"),
        lambda: parse_sheet(data, QUESTIONS, filename="answers.xlsx"),
    ):
        with pytest.raises(UploadTooLarge, match=r"more than 120,000 rows \(it reaches row 1,048,576") as refused:
            read()
        assert refused.value.status_code == 413 and refused.value.details == {"max_rows": 120_000}


def test_a_bank_workbook_is_held_to_the_shared_strings_budget_as_an_answer_sheet_is(tmp_path) -> None:
    """Issue 18, hole 3: 2.7 M shared strings imported as a bank in 19.4 s (+340 MB); the bank import only
    checked the zip. Now both doors count the shared strings while streaming, before openpyxl reads them."""
    shared_strings_bomb(tmp_path / "small.xlsx", unpacked_mb=1)  # ~950 shared strings
    data = (tmp_path / "small.xlsx").read_bytes()
    with pytest.raises(UploadTooLarge, match="more than 100 distinct texts"):
        parse_bank_document(data, "bank.xlsx", limits=TableLimits(max_shared_strings=100))
