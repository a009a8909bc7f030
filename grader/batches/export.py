"""Batch results as CSV, XLSX and JSON: one row per answer, and a summary per candidate.

Every text cell that a spreadsheet could read as a formula (one starting with = + - @, a tab or a
carriage return) gets a leading single quote, as OWASP recommends against CSV injection: candidates
write the answers, and a recruiter opens the file in Excel. CSV is UTF-8 with a BOM, so Excel shows
Chinese correctly. JSON is data for programs, not a spreadsheet, and carries the text unchanged.

Rows the upload refused are in the answers too, with status `rejected`, their row in the sheet and the
reason in `error` (a failed grading's reason is there as well). Times are ISO 8601 with their UTC offset.
"""

from __future__ import annotations

import csv
import io
import json
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any, Literal

from grader.scoring.types import KeyPointResult

FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")
# A key point with less credit than this is reported as missed.
MISSED_BELOW = 0.5
XLSX_MAX_CELL_CHARS = 32_767
SCORED_STATUSES = frozenset({"graded", "needs_review"})
# A row of the sheet that was not imported (bad question, empty answer, duplicate…): never graded.
REJECTED = "rejected"

Format = Literal["csv", "xlsx", "json"]
View = Literal["answers", "summary"]


@dataclass(frozen=True)
class AnswerResult:
    candidate_id: str
    question_id: str
    status: str  # pending | running | graded | failed | needs_review | rejected
    row: int | None = None  # the row in the uploaded sheet
    candidate_name: str | None = None
    candidate_email: str | None = None
    question: str | None = None  # the question's text
    answer: str | None = None  # the answer as submitted (a rejected row's up to 2,000 characters)
    score: float | None = None
    confidence: float | None = None
    flags: Sequence[str] = ()
    missed_key_points: Sequence[str] = ()
    feedback: str | None = None
    error: str | None = None  # why grading failed, or why the row was not imported
    submission_id: str | None = None
    graded_at: datetime | None = None
    error_code: str | None = None  # a rejected row's RowErrorCode (empty_answer, duplicate, …)


@dataclass(frozen=True)
class CandidateSummary:
    candidate_id: str
    candidate_name: str | None
    candidate_email: str | None
    answers: int
    scored: int
    needs_review: int
    failed: int
    pending: int
    rejected: int
    total: float  # sum of the scores so far, out of 100 × answers
    average: float | None
    per_question: dict[str, float | None] = field(default_factory=dict)


def missed_key_points(key_points: Iterable[KeyPointResult]) -> list[str]:
    missed = []
    for kp in key_points:
        if kp.contradicted:
            missed.append(f"{kp.id} {kp.text} (contradicted)")
        elif kp.credit < MISSED_BELOW:
            missed.append(f"{kp.id} {kp.text}")
    return missed


# What a spreadsheet may pass over before it decides a cell is a formula, or a reader would not see:
# whitespace (ASCII or not), and any character of these categories — format characters (zero-width
# ones, byte-order mark, soft hyphen, direction marks and overrides, invisible operators, the Mongolian
# vowel separator), controls, combining marks (the grapheme joiner), separators, unassigned and
# private-use code points — plus the letters and symbols that draw as blank.
_INVISIBLE_CATEGORIES = frozenset({"Cf", "Cc", "Cs", "Co", "Cn", "Mn", "Me", "Zs", "Zl", "Zp"})
_BLANK_LOOKING = frozenset("\u115f\u1160\u3164\uffa0\u2800\u17b4\u17b5")


def _invisible(char: str) -> bool:
    return char.isspace() or char in _BLANK_LOOKING or unicodedata.category(char) in _INVISIBLE_CATEGORIES


def escape_cell(value: str) -> str:
    """The one rule for every exported text cell: a leading `'` when the cell could start a formula —
    an ASCII trigger first, or one behind any run of whitespace or invisible characters, or a full-width
    ＝＋－＠ (NFKC folds it to the ASCII trigger, and so may the spreadsheet)."""
    if value.startswith(FORMULA_TRIGGERS):
        return "'" + value
    index = 0
    while index < len(value) and _invisible(value[index]):
        index += 1
    first = unicodedata.normalize("NFKC", value[index : index + 1])
    return "'" + value if first.startswith(FORMULA_TRIGGERS) else value


def summarize(results: Iterable[AnswerResult]) -> list[CandidateSummary]:
    by_candidate: dict[str, list[AnswerResult]] = {}
    for r in results:
        if r.candidate_id or r.status != REJECTED:  # a refused row without a candidate belongs to no one
            by_candidate.setdefault(r.candidate_id, []).append(r)
    summaries = []
    for candidate_id, all_rows in by_candidate.items():
        rows = [r for r in all_rows if r.status != REJECTED]
        scored = [r for r in rows if r.status in SCORED_STATUSES and r.score is not None]
        total = round(sum(r.score for r in scored if r.score is not None), 1)
        # A question left blank scores 0 in the average: 2 of 3 answered averages over 3, not 2.
        blank = sum(1 for r in all_rows if r.status == REJECTED and r.error_code == "empty_answer")
        summaries.append(
            CandidateSummary(
                candidate_id=candidate_id,
                candidate_name=next((r.candidate_name for r in all_rows if r.candidate_name), None),
                candidate_email=next((r.candidate_email for r in all_rows if r.candidate_email), None),
                answers=len(rows),
                scored=len(scored),
                needs_review=sum(r.status == "needs_review" for r in rows),
                failed=sum(r.status == "failed" for r in rows),
                pending=sum(r.status in ("pending", "running") for r in rows),
                rejected=len(all_rows) - len(rows),
                total=total,
                average=round(total / (len(scored) + blank), 1) if scored else None,
                per_question={r.question_id: (r.score if r.status in SCORED_STATUSES else None) for r in rows},
            )
        )
    return summaries


def timestamp(value: datetime | None) -> str | None:
    """ISO 8601 with the offset (`2026-11-29T08:05:00+00:00`): no reader has to guess the zone."""
    return None if value is None else value.isoformat(timespec="seconds")


ANSWER_HEADER = (
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
)


def _answer_cells(r: AnswerResult) -> list[object]:
    return [
        r.row,
        r.candidate_id,
        r.candidate_name,
        r.candidate_email,
        r.question_id,
        r.question,
        r.answer,
        r.status,
        None if r.score is None else round(r.score, 1),
        None if r.confidence is None else round(r.confidence, 2),
        "; ".join(r.flags),
        "; ".join(r.missed_key_points),
        r.feedback,
        r.error,
        timestamp(r.graded_at),
    ]


def _question_ids(summaries: Sequence[CandidateSummary]) -> list[str]:
    return sorted({q for s in summaries for q in s.per_question})


def _summary_header(question_ids: Sequence[str]) -> list[str]:
    return [
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
        *question_ids,
    ]


def _summary_cells(s: CandidateSummary, question_ids: Sequence[str]) -> list[object]:
    return [
        s.candidate_id,
        s.candidate_name,
        s.candidate_email,
        s.answers,
        s.scored,
        s.needs_review,
        s.failed,
        s.pending,
        s.rejected,
        s.total,
        s.average,
        *(None if (v := s.per_question.get(q)) is None else round(v, 1) for q in question_ids),
    ]


def _table(results: Sequence[AnswerResult], view: View) -> tuple[list[str], list[list[object]]]:
    if view == "answers":
        return list(ANSWER_HEADER), [_answer_cells(r) for r in results]
    summaries = summarize(results)
    question_ids = _question_ids(summaries)
    return _summary_header(question_ids), [_summary_cells(s, question_ids) for s in summaries]


def csv_bytes(header: Sequence[str], rows: Iterable[Sequence[object]]) -> bytes:
    """A CSV file a spreadsheet opens as written: UTF-8 with BOM, CRLF, formula-like cells escaped.
    Every CSV download (batch results, candidate rankings) is written here."""
    out = io.StringIO(newline="")
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(header)
    for row in rows:
        writer.writerow(["" if v is None else escape_cell(v) if isinstance(v, str) else v for v in row])
    return out.getvalue().encode("utf-8-sig")


def xlsx_bytes(sheets: Iterable[tuple[str, Sequence[str], Iterable[Sequence[object]]]]) -> bytes:
    """A workbook of (name, header, rows) sheets, text cells made safe (`xlsx_text`). Every XLSX download is
    written here."""
    from openpyxl import Workbook

    workbook = Workbook(write_only=True)
    for name, header, rows in sheets:
        sheet = workbook.create_sheet(name)
        sheet.append(list(header))
        for row in rows:
            sheet.append([xlsx_text(v) if isinstance(v, str) else v for v in row])
    out = io.BytesIO()
    workbook.save(out)
    return out.getvalue()


def to_csv(results: Sequence[AnswerResult], view: View = "answers") -> bytes:
    return csv_bytes(*_table(results, view))


def xlsx_text(value: str) -> str:
    from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE

    # Control characters cannot be stored in the sheet's XML at all; Excel caps a cell's length.
    text = ILLEGAL_CHARACTERS_RE.sub("", value)
    return escape_cell(text)[:XLSX_MAX_CELL_CHARS]


def to_xlsx(results: Sequence[AnswerResult]) -> bytes:
    """One workbook, two sheets: `answers` and `summary`."""
    return xlsx_bytes((view, *_table(results, view)) for view in ("answers", "summary"))


def to_json(results: Sequence[AnswerResult], batch: dict[str, Any] | None = None) -> bytes:
    summaries = summarize(results)
    document: dict[str, Any] = {
        **({"batch": batch} if batch is not None else {}),
        "answers": [
            asdict(r)
            | {
                "flags": list(r.flags),
                "missed_key_points": list(r.missed_key_points),
                "graded_at": timestamp(r.graded_at),
            }
            for r in results
        ],
        "summary": [asdict(s) for s in summaries],
    }
    return json.dumps(document, ensure_ascii=False, indent=1, default=str).encode("utf-8")


MEDIA_TYPES: dict[Format, str] = {
    "csv": "text/csv; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "json": "application/json",
}


def export(
    results: Sequence[AnswerResult], fmt: Format, view: View = "answers", batch: dict[str, Any] | None = None
) -> bytes:
    if fmt == "csv":
        return to_csv(results, view)
    if fmt == "xlsx":
        return to_xlsx(results)
    return to_json(results, batch)
