"""Reading banks from documents and tables: every format, ids, and errors numbered by row."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest
from openpyxl import Workbook

from grader.errors import InvalidBankFile
from grader.questions.documents import derive_question_id, parse_bank_document

ROOT = Path(__file__).resolve().parents[2]
LE = ROOT / "eval/external/le"
ADS = ROOT / "eval/external/ads"
SEED = ROOT / "reference_answers/seed/000_709401c734af0223.txt"


def csv_bytes(rows: list[list[str]], encoding: str = "utf-8") -> bytes:
    out = io.StringIO()
    csv.writer(out).writerows(rows)
    return out.getvalue().encode(encoding)


def xlsx_bytes(rows: list[list[object]]) -> bytes:
    book = Workbook()
    sheet = book.active
    for row in rows:
        sheet.append(row)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def errors_of(data: bytes, filename: str) -> list[dict[str, object]]:
    with pytest.raises(InvalidBankFile) as caught:
        parse_bank_document(data, filename)
    return caught.value.errors


def test_the_100_question_jsonl_bank_keeps_its_ids() -> None:
    doc = parse_bank_document(LE.joinpath("questions.jsonl").read_bytes(), "questions.jsonl")
    assert doc.file_format == "jsonl"
    assert len(doc.rows) == 100
    assert doc.rows[-1].question_id == "le-100"
    assert [r.row for r in doc.rows[:3]] == [1, 2, 3]


def test_markdown_bank_reads_headers_and_answers_without_ids() -> None:
    doc = parse_bank_document(ADS.joinpath("bank.md").read_bytes(), "bank.md")
    jsonl = parse_bank_document(ADS.joinpath("questions.jsonl").read_bytes(), "questions.jsonl")
    assert doc.file_format == "markdown"
    assert [(r.question, r.reference_answer) for r in doc.rows] == [
        (r.question, r.reference_answer) for r in jsonl.rows
    ]
    assert all(r.question_id is None for r in doc.rows)
    assert doc.rows[0].row == 1  # the header's line


def test_the_seed_reads_as_twelve_questions() -> None:
    doc = parse_bank_document(SEED.read_bytes(), SEED.name)
    assert len(doc.rows) == 12
    assert doc.rows[0].question == "说一下 chatgpt 的优缺点"


def test_markdown_takes_an_explicit_id_as_a_header_attribute() -> None:
    doc = parse_bank_document("## 盘点方式有哪些？ {#le-005}\n定期盘点和临时盘点。\n".encode(), "b.md")
    assert (doc.rows[0].question_id, doc.rows[0].question) == ("le-005", "盘点方式有哪些？")


def test_gbk_csv_with_chinese_headers() -> None:
    data = csv_bytes(
        [
            ["题号", "题目", "参考答案"],
            ["ads-001", "什么是栈？", "后进先出的线性表，只在栈顶插入删除。"],
            ["", "什么是队列？", "先进先出的线性表。"],
        ],
        encoding="gbk",
    )
    doc = parse_bank_document(data, "bank.csv")
    assert doc.encoding == "gb18030"
    assert [(r.row, r.question_id, r.question) for r in doc.rows] == [
        (2, "ads-001", "什么是栈？"),
        (3, None, "什么是队列？"),
    ]


def test_xlsx_table() -> None:
    data = xlsx_bytes(
        [
            ["question_id", "question", "reference_answer"],
            ["x-1", "什么是堆？", "完全二叉树。"],
            [None, None, None],
            ["x-2", "什么是图？", "顶点和边的集合。"],
        ]
    )
    doc = parse_bank_document(data, "bank.xlsx")
    assert doc.file_format == "xlsx"
    assert [(r.row, r.question_id) for r in doc.rows] == [(2, "x-1"), (4, "x-2")]


def test_every_bad_row_is_reported_with_its_number_and_field() -> None:
    data = csv_bytes(
        [
            ["question_id", "question", "reference_answer"],
            ["ok-1", "好问题？", "好答案。"],
            ["Bad Id!", "问题二？", "答案二。"],
            ["ok-3", "", "答案三。"],
            ["ok-4", "问题四？", ""],
            ["ok-1", "问题五？", "答案五。"],
            ["ok-6", "好问题？", "重复的问题。"],
        ]
    )
    errors = errors_of(data, "bank.csv")
    assert [(e["row"], e["field"]) for e in errors] == [
        (3, "question_id"),
        (4, "question"),
        (5, "reference_answer"),
        (6, "question_id"),
        (7, "question"),
    ]
    assert "lower-case" in str(errors[0]["message"])
    assert "is empty" in str(errors[1]["message"])
    assert "row 2" in str(errors[3]["message"])


def test_a_table_without_the_needed_columns_says_which() -> None:
    errors = errors_of(csv_bytes([["id", "text"], ["a", "b"]]), "bank.csv")
    assert {e["field"] for e in errors} == {"question", "reference_answer"}


def test_jsonl_lines_that_are_not_objects_are_numbered() -> None:
    data = b'{"question": "q?", "reference_answer": "a."}\n\nnot json\n[1]\n{"question": "q2?"}\n'
    errors = errors_of(data, "bank.jsonl")
    assert [(e["row"], e["field"]) for e in errors] == [(3, "(line)"), (4, "(line)"), (5, "reference_answer")]


def test_markdown_question_without_an_answer() -> None:
    errors = errors_of("## 问题一？\n答案。\n\n## 问题二？\n\n## 问题三？\n答案三。\n".encode(), "b.md")
    assert [(e["row"], e["field"]) for e in errors] == [(4, "reference_answer")]


def test_derived_ids_depend_on_the_question_not_its_position() -> None:
    a = derive_question_id("logistics", "盘点方式有哪些？")
    assert a == derive_question_id("logistics", "  盘点方式有哪些？ ")
    assert a.startswith("logisti-") and len(a) <= 16
    assert a != derive_question_id("other", "盘点方式有哪些？")


def test_format_is_recognised_without_a_file_name() -> None:
    assert parse_bank_document(LE.joinpath("questions.jsonl").read_bytes()).file_format == "jsonl"
    assert parse_bank_document(LE.joinpath("bank.md").read_bytes()).file_format == "markdown"
    assert parse_bank_document(json.dumps({"question": "q?", "reference_answer": "a."}).encode()).rows


def test_a_markdown_banks_title_line_names_the_bank() -> None:
    text = (
        "# 后端工程师面试题\n\n说明文字\n\n## 什么是幂等？\n同一请求执行多次结果相同。\n\n"
        "## 什么是 CAP？\n一致性、可用性、分区容错。\n"
    )
    doc = parse_bank_document(text.encode("utf-8"), "backend.md")
    assert doc.title == "后端工程师面试题" and len(doc.rows) == 2
    untitled = parse_bank_document("## 什么是幂等？\n同一请求执行多次结果相同。\n# 不是标题\n".encode(), "b.md")
    assert untitled.title is None  # a `#` line below the first question is part of an answer
