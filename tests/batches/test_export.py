"""Exported results: what a recruiter opens in Excel, and what a program reads as JSON."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime

from hypothesis import given, settings
from hypothesis import strategies as st
from openpyxl import load_workbook

from grader.batches.export import (
    FORMULA_TRIGGERS,
    REJECTED,
    AnswerResult,
    escape_cell,
    missed_key_points,
    summarize,
    to_csv,
    to_json,
    to_xlsx,
)
from grader.scoring.types import KeyPointResult

RESULTS = [
    AnswerResult(
        "c001",
        "q01",
        "graded",
        row=2,
        candidate_name="张三",
        question="RLHF 的代价是什么？",
        answer="=1+1 需要人类标注，成本高",
        score=82.456,
        confidence=0.913,
        missed_key_points=["kp3 数据风险"],
        feedback="覆盖了 RLHF 与资源消耗。",
        graded_at=datetime(2026, 11, 29, 8, 5, tzinfo=UTC),
    ),
    AnswerResult(
        "c001",
        "q02",
        "needs_review",
        row=3,
        candidate_name="张三",
        score=40.0,
        confidence=0.3,
        flags=["too_short"],
        feedback="回答过短",
    ),
    AnswerResult("c002", "q01", "failed", row=4, candidate_name="=cmd|' /C calc'!A0", error="timeout"),
    AnswerResult("c002", "q02", "pending", row=5, candidate_email="@evil.example"),
    AnswerResult("c002", "q99", "rejected", row=6, error="unknown question 'q99'"),
]


def read_csv(data: bytes) -> list[list[str]]:
    assert data.startswith(b"\xef\xbb\xbf"), "Excel needs the BOM to show Chinese"
    return list(csv.reader(io.StringIO(data.decode("utf-8-sig"), newline="")))


def test_csv_answers_one_row_per_answer():
    rows = read_csv(to_csv(RESULTS))

    assert rows[0] == [
        "row",
        "candidate_id",
        "candidate_name",
        "candidate_email",
        "question_id",
        "question",
        "answer",
        "status",
        "score",
        "confidence",
        "flags",
        "missed_key_points",
        "feedback",
        "error",
        "graded_at",
    ]
    assert rows[1] == [
        "2",
        "c001",
        "张三",
        "",
        "q01",
        "RLHF 的代价是什么？",
        "'=1+1 需要人类标注，成本高",  # the answer is escaped like every other text cell
        "graded",
        "82.5",
        "0.91",
        "",
        "kp3 数据风险",
        "覆盖了 RLHF 与资源消耗。",
        "",
        "2026-11-29T08:05:00+00:00",  # ISO 8601 with its offset: the zone is never guessed
    ]
    assert rows[2][7:11] == ["needs_review", "40.0", "0.3", "too_short"]
    assert rows[3][2] == "'=cmd|' /C calc'!A0"
    assert rows[3][13] == "timeout"  # a failed grading's reason
    assert rows[4][3] == "'@evil.example"
    # A row the upload refused: its row in the sheet and the reason.
    assert [rows[5][i] for i in (0, 1, 4, 7, 13)] == ["6", "c002", "q99", "rejected", "unknown question 'q99'"]
    assert len(rows) == 6


def test_csv_summary_one_row_per_candidate_with_total_and_per_question():
    rows = read_csv(to_csv(RESULTS, view="summary"))

    assert rows[0] == [
        "candidate_id",
        "candidate_name",
        "candidate_email",
        "answers",
        "scored",
        "needs_review",
        "failed",
        "pending",
        "rejected",
        "total",
        "average",
        "q01",
        "q02",
    ]
    assert rows[1] == ["c001", "张三", "", "2", "2", "1", "0", "0", "0", "122.5", "61.2", "82.5", "40.0"]
    # The refused q99 row counts as rejected, not as an answer, and adds no question column.
    assert rows[2] == ["c002", "'=cmd|' /C calc'!A0", "'@evil.example", "2", "0", "0", "1", "1", "1", "0", "", "", ""]


def test_summary_totals():
    [first, second] = summarize(RESULTS)

    assert (first.total, first.average, first.per_question) == (122.5, 61.2, {"q01": 82.456, "q02": 40.0})
    assert (second.scored, second.failed, second.pending, second.average) == (0, 1, 1, None)


def test_xlsx_has_answers_and_summary_sheets_and_no_formulas():
    workbook = load_workbook(io.BytesIO(to_xlsx(RESULTS)))

    assert workbook.sheetnames == ["answers", "summary"]
    answers = [[c.value for c in row] for row in workbook["answers"].iter_rows()]
    assert answers[1][:10] == [
        2,
        "c001",
        "张三",
        None,
        "q01",
        "RLHF 的代价是什么？",
        "'=1+1 需要人类标注，成本高",
        "graded",
        82.5,
        0.91,
    ]
    assert answers[5][0] == 6 and answers[5][7] == "rejected" and answers[5][13] == "unknown question 'q99'"
    assert answers[3][2] == "'=cmd|' /C calc'!A0"
    summary = [[c.value for c in row] for row in workbook["summary"].iter_rows()]
    assert summary[1][:4] == ["c001", "张三", None, 2]
    assert all(c.data_type != "f" for sheet in workbook for row in sheet.iter_rows() for c in row)


def test_json_keeps_text_unchanged():
    document = json.loads(to_json(RESULTS, batch={"id": "b1"}))

    assert document["batch"] == {"id": "b1"}
    assert document["answers"][2]["candidate_name"] == "=cmd|' /C calc'!A0"
    assert document["answers"][1]["flags"] == ["too_short"]
    assert document["summary"][0]["per_question"] == {"q01": 82.456, "q02": 40.0}
    assert document["answers"][0]["answer"] == "=1+1 需要人类标注，成本高"
    assert document["answers"][0]["graded_at"] == "2026-11-29T08:05:00+00:00"
    assert document["answers"][4]["status"] == "rejected" and document["answers"][4]["row"] == 6


def test_missed_key_points_lists_low_credit_and_contradicted():
    def kp(id_, credit, contradicted=False):
        return KeyPointResult(
            id=id_,
            text=f"要点{id_}",
            weight=0.5,
            credit=credit,
            similarity=0.5,
            keywords_hit=[],
            keywords_missed=[],
            evidence=None,
            contradicted=contradicted,
        )

    assert missed_key_points([kp("kp1", 0.9), kp("kp2", 0.2), kp("kp3", 0.8, contradicted=True)]) == [
        "kp2 要点kp2",
        "kp3 要点kp3 (contradicted)",
    ]


def test_escape_cell():
    assert escape_cell("=1+1") == "'=1+1"
    assert escape_cell("+86 138") == "'+86 138"
    assert escape_cell("-1") == "'-1"
    assert escape_cell("@SUM(A1)") == "'@SUM(A1)"
    assert escape_cell("\tx") == "'\tx"
    assert escape_cell("\rx") == "'\rx"
    assert escape_cell("答案 = 42") == "答案 = 42"
    assert escape_cell("") == ""


# --- property: no text a candidate writes comes out of an export as a live formula ----------------

texts = st.text(max_size=40) | st.builds(lambda t, s: t + s, st.sampled_from(FORMULA_TRIGGERS), st.text(max_size=20))


def _unescape(cell: str, original: str) -> str:
    return cell[1:] if escape_cell(original) != original else cell


@settings(max_examples=200, deadline=None)
@given(candidate=texts.filter(str.strip), name=texts, feedback=texts, flag=texts, answer=texts)
def test_csv_never_starts_a_cell_with_a_formula_trigger(candidate, name, feedback, flag, answer):
    result = AnswerResult(
        candidate,
        "q01",
        "graded",
        candidate_name=name or None,
        answer=answer or None,
        score=50.0,
        confidence=0.5,
        flags=[flag] if flag else [],
        feedback=feedback or None,
    )

    for view in ("answers", "summary"):
        rows = read_csv(to_csv([result], view=view))
        for row in rows[1:]:
            assert not any(cell.startswith(FORMULA_TRIGGERS) for cell in row)
    [cells] = read_csv(to_csv([result]))[1:]
    assert _unescape(cells[1], candidate) == candidate
    assert _unescape(cells[2], name) == name
    assert _unescape(cells[6], answer) == answer
    assert _unescape(cells[12], feedback) == feedback
    assert _unescape(cells[10], flag) == flag


@settings(max_examples=40, deadline=None)
@given(candidate=texts.filter(str.strip), feedback=texts)
def test_xlsx_never_holds_a_formula_or_a_cell_starting_with_a_trigger(candidate, feedback):
    result = AnswerResult(candidate, "q01", "graded", score=50.0, feedback=feedback or None)

    workbook = load_workbook(io.BytesIO(to_xlsx([result])))

    for sheet in workbook:
        for row in sheet.iter_rows(min_row=2):
            for cell in row:
                assert cell.data_type != "f"
                assert not (isinstance(cell.value, str) and cell.value.startswith(FORMULA_TRIGGERS))


def test_a_blank_answer_counts_as_zero_in_the_candidates_average() -> None:
    rows = [
        AnswerResult("c1", "q01", "graded", row=2, score=80.0),
        AnswerResult("c1", "q02", "graded", row=2, score=60.0),
        AnswerResult("c1", "q03", REJECTED, row=2, error="the answer is empty", error_code="empty_answer"),
        AnswerResult("c2", "q01", "graded", row=3, score=50.0),
        AnswerResult("c2", "q02", REJECTED, row=3, error="duplicate", error_code="duplicate"),
    ]
    by_id = {s.candidate_id: s for s in summarize(rows)}
    assert by_id["c1"].average == round(140 / 3, 1)  # 2 of 3 answered averages over 3
    assert by_id["c2"].average == 50.0  # a refused duplicate is not a question left blank


def test_a_refused_row_keeps_the_candidates_name_and_answer() -> None:
    from grader.batches.parsing import parse_sheet
    from tests.support.sheets import QUESTIONS, csv_bytes

    data = csv_bytes(
        [
            ("候选人编号", "姓名", "q01", "q02"),
            ("c-1", "张三", "RLHF 是基于人类反馈的强化学习", ""),
            ("c-1", "张三", "重复的一行", "x"),
        ]
    )
    sheet = parse_sheet(data, QUESTIONS, filename="s.csv")
    empty = next(e for e in sheet.errors if e.code == "empty_answer")
    assert empty.candidate_name == "张三" and empty.answer is None
    duplicate = next(e for e in sheet.errors if e.code == "duplicate")
    assert duplicate.candidate_name == "张三" and duplicate.answer == "重复的一行"
