"""Read an uploaded answer sheet (CSV or .xlsx) into answers to grade and rows to report.

Pure: bytes in, a `ParsedSheet` out, no database. The API, the CLI and the benchmark all call
`parse_sheet`, so every path applies the same rules.

A problem with the file as a whole (not a table, no usable columns, over the size or answer cap)
raises `UnreadableSheet` (422) or `UploadTooLarge` (413) before any work starts. A problem with one
row (unknown question, empty, over-long or duplicate answer) becomes a `RowError` with the row number
the recruiter sees in Excel, and only that row is skipped.
"""

from __future__ import annotations

import difflib
import hashlib
import re
import unicodedata
from collections.abc import Iterator, Mapping, Sequence
from contextlib import closing
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Literal

from grader.errors import UnreadableSheet, UploadTooLarge
from grader.questions.ids import normalise_question_id
from grader.submissions.answers import answer_problem
from grader.tables import MB, TableLimits, csv_records, file_kind, header_key, worksheets

__all__ = [
    "DEFAULT_LIMITS",
    "HEADER_ALIASES",
    "MB",
    "Column",
    "Limits",
    "ParsedAnswer",
    "ParsedSheet",
    "QuestionMatcher",
    "RowError",
    "RowErrorCode",
    "content_hash",
    "parse_sheet",
]


@dataclass(frozen=True)
class Limits(TableLimits):
    """The table's budget (`grader.tables`: bytes, rows, columns, cells, the workbook's parts) and the
    sheet's own caps."""

    max_answers: int = 50_000
    max_candidate_chars: int = 128
    max_name_chars: int = 200
    max_email_chars: int = 254


DEFAULT_LIMITS = Limits()


class Column(StrEnum):
    CANDIDATE_ID = "candidate_id"
    CANDIDATE_NAME = "candidate_name"
    CANDIDATE_EMAIL = "candidate_email"
    QUESTION = "question_id"
    ANSWER = "answer"


# Headers as recruiters write them, compared after `header_key` (NFKC, lower case, letters and digits
# only), so "Candidate ID", "candidate_id" and "候选人 ID" are the same header.
HEADER_ALIASES: dict[Column, tuple[str, ...]] = {
    Column.CANDIDATE_ID: (
        "candidate_id",
        "candidate",
        "candidate_no",
        "candidate_number",
        "applicant_id",
        "applicant",
        "user_id",
        "id",
        "候选人",
        "候选人编号",
        "候选人id",
        "候选人号",
        "考生",
        "考生编号",
        "考生号",
        "考生id",
        "应聘者",
        "应聘者编号",
        "应聘者id",
        "编号",
        "工号",
        "学号",
        "准考证号",
    ),
    Column.CANDIDATE_NAME: (
        "candidate_name",
        "name",
        "full_name",
        "姓名",
        "名字",
        "候选人姓名",
        "考生姓名",
        "应聘者姓名",
    ),
    Column.CANDIDATE_EMAIL: (
        "candidate_email",
        "email",
        "e-mail",
        "email_address",
        "mail",
        "邮箱",
        "电子邮箱",
        "邮箱地址",
        "电子邮件",
        "邮件",
    ),
    Column.QUESTION: (
        "question_id",
        "question",
        "question_no",
        "question_number",
        "qid",
        "题号",
        "题目",
        "题目编号",
        "题目id",
        "问题",
        "问题编号",
        "问题id",
        "试题",
        "试题编号",
        "题",
    ),
    Column.ANSWER: (
        "answer",
        "answer_text",
        "response",
        "reply",
        "答案",
        "回答",
        "作答",
        "作答内容",
        "回答内容",
        "答题内容",
        "答题",
        "候选人回答",
        "候选人答案",
        "考生答案",
        "考生回答",
    ),
}


# A refused row's answer is kept up to this many characters (shown in the downloads, stored with the batch).
KEPT_ANSWER_CHARS = 2_000


class RowErrorCode(StrEnum):
    UNKNOWN_QUESTION = "unknown_question"
    EMPTY_ANSWER = "empty_answer"
    ANSWER_TOO_LONG = "answer_too_long"
    DUPLICATE = "duplicate"
    MISSING_CANDIDATE = "missing_candidate"
    FIELD_TOO_LONG = "field_too_long"


@dataclass(frozen=True, slots=True)
class ParsedAnswer:
    row: int  # 1-based row number as Excel shows it
    candidate_id: str
    question_id: str
    answer: str
    candidate_name: str | None = None
    candidate_email: str | None = None


@dataclass(frozen=True, slots=True)
class RowError:
    row: int
    code: RowErrorCode
    reason: str
    column: str | None = None  # the header of the offending cell (wide format)
    candidate_id: str | None = None
    question_id: str | None = None
    # Kept so a refused row still shows whose it was and what was written (capped: it may be the over-long one).
    candidate_name: str | None = None
    answer: str | None = None


@dataclass(frozen=True)
class ParsedSheet:
    file_format: Literal["csv", "xlsx"]
    layout: Literal["long", "wide"]
    encoding: str | None  # codec the CSV was decoded with; None for xlsx
    delimiter: str | None
    sheet_name: str | None
    header_row: int
    columns: dict[str, str]  # header as written -> field or question id it was read as
    ignored_columns: list[str]
    ignored_reasons: list[dict[str, Any]]
    answers: list[ParsedAnswer]
    errors: list[RowError]
    data_rows: int  # non-blank rows under the header
    content_hash: str

    @property
    def total_answers(self) -> int:
        return len(self.answers) + len(self.errors)


def content_hash(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


# ---------------------------------------------------------------------------------------------------
# Matching headers and question labels


_ALIAS_INDEX: dict[str, Column] = {
    header_key(alias): fld for fld, aliases in HEADER_ALIASES.items() for alias in aliases
}

_NOTE_RE = re.compile(r"[(\[【].*?[)\]】]")


def _column_kind(header: str) -> Column | None:
    """`候选人编号*` and `答案（必填）` are templates' ways of writing 候选人编号 and 答案."""
    key = header_key(header)
    if key in _ALIAS_INDEX:
        return _ALIAS_INDEX[key]
    return _ALIAS_INDEX.get(header_key(_NOTE_RE.sub("", unicodedata.normalize("NFKC", header))))


_QUESTION_ID_RE = re.compile(r"^(?:q|question|no|题|第)?0*(\d{1,3})(?:题)?$")
# "q01 什么是RAG？", "Q1. ...", "第1题：..." : an id at the start followed by the question text.
_QUESTION_PREFIX_RE = re.compile(r"^\s*(?:q|question\s*|第)\s*0*(\d{1,3})\s*(?:题)?\s*[.:、：)\]\-—\s]")


class QuestionMatcher:
    """Resolves what a sheet calls a question (q01, Q1, 1, 第1题, or its text) to a bank id."""

    def __init__(self, questions: Mapping[str, str]) -> None:
        self.questions = dict(questions)
        self._texts = {qid: header_key(text) for qid, text in questions.items()}
        self._cache: dict[str, str | None] = {}

    def match(self, label: str) -> str | None:
        if label not in self._cache:
            self._cache[label] = self._match(label)
        return self._cache[label]

    def why_not(self, label: str) -> tuple[str, list[str]]:
        """Why a header names no question: the reason, and the questions it could be (shared texts)."""
        text = unicodedata.normalize("NFKC", label).strip()
        key = header_key(text)
        shared = sorted(qid for qid, question in self._texts.items() if question == key and len(key) >= 4)
        if len(shared) > 1:
            return (
                f"its text is the question of {', '.join(shared)}, which several questions share; "
                "name the column by question id instead",
                shared,
            )
        if _QUESTION_ID_RE.match(key) or _QUESTION_PREFIX_RE.match(text.casefold()):
            return f"no question '{label}' in any published bank", []
        return "matches no question of a published bank, by id or by text", []

    def _by_number(self, number: str) -> str | None:
        qid = f"q{int(number):02d}"
        return qid if qid in self.questions else None

    def _match(self, label: str) -> str | None:
        text = unicodedata.normalize("NFKC", label).strip()
        if not text:
            return None
        # The id rule every door shares (`q3`, ` Q03 `, `LE-005`); then the sheet's own ways of naming one.
        typed = normalise_question_id(text, self.questions)
        if typed in self.questions:
            return typed
        key = header_key(text)
        found = _QUESTION_ID_RE.match(key)
        if found:
            return self._by_number(found.group(1))
        found = _QUESTION_PREFIX_RE.match(text.casefold())
        if found and (qid := self._by_number(found.group(1))):
            return qid
        return self._by_text(key)

    def _by_text(self, key: str) -> str | None:
        if len(key) < 4:
            return None
        exact = [qid for qid, text in self._texts.items() if text == key]
        if len(exact) == 1:
            return exact[0]
        # A header cut short by the spreadsheet, or the question with a few words changed.
        prefix = [
            qid for qid, text in self._texts.items() if len(key) >= 8 and (text.startswith(key) or key.startswith(text))
        ]
        if len(prefix) == 1:
            return prefix[0]
        scored = sorted(
            ((difflib.SequenceMatcher(None, key, text).ratio(), qid) for qid, text in self._texts.items()), reverse=True
        )
        if scored and scored[0][0] >= 0.8 and (len(scored) == 1 or scored[1][0] < scored[0][0] - 0.05):
            return scored[0][1]
        return None


@dataclass
class _Layout:
    kind: Literal["long", "wide"]
    fields: dict[Column, int]  # column kind -> column index
    question_columns: dict[int, str]  # wide: column index -> question id
    columns: dict[str, str]
    ignored: list[str]
    # Why each ignored column was ignored: {"column", "reason", "questions"} (questions: a shared text's).
    ignored_reasons: list[dict[str, Any]] = field(default_factory=list)


def _read_header(header: Sequence[str], matcher: QuestionMatcher) -> _Layout | None:
    fields: dict[Column, int] = {}
    question_columns: dict[int, str] = {}
    columns: dict[str, str] = {}
    ignored: list[str] = []
    reasons: list[dict[str, Any]] = []
    for index, name in enumerate(header):
        if not name.strip():
            continue
        fld = _column_kind(name)
        if fld is not None and fld not in fields:
            fields[fld] = index
            columns[name] = fld.value
            continue
        qid = matcher.match(name) if fld is None else None
        if qid is not None and qid not in question_columns.values():
            question_columns[index] = qid
            columns[name] = qid
        else:
            ignored.append(name)
            if fld is not None:
                reasons.append({"column": name, "reason": f"a second {fld.value} column", "questions": []})
            elif qid is not None:
                reasons.append({"column": name, "reason": f"a second column for {qid}", "questions": []})
            else:
                reason, shared = matcher.why_not(name)
                reasons.append({"column": name, "reason": reason, "questions": shared})
    has_candidate = bool(fields.keys() & {Column.CANDIDATE_ID, Column.CANDIDATE_NAME, Column.CANDIDATE_EMAIL})
    if not has_candidate:
        return None
    if Column.QUESTION in fields and Column.ANSWER in fields:
        # Long format: question columns in the header are not answers then; report them as ignored.
        ignored += [header[i] for i in question_columns]
        reasons += [
            {"column": header[i], "reason": "a long-format sheet reads answers from its answer column", "questions": []}
            for i in question_columns
        ]
        for i in question_columns:
            columns.pop(header[i], None)
        return _Layout("long", fields, {}, columns, ignored, reasons)
    if question_columns:
        # Wide format: a lone question or answer column means nothing; report it as ignored.
        for fld in (Column.QUESTION, Column.ANSWER):
            if fld in fields:
                name = header[fields.pop(fld)]
                ignored.append(name)
                reasons.append(
                    {"column": name, "reason": f"a lone {fld.value} column in a wide-format sheet", "questions": []}
                )
                columns.pop(name, None)
        return _Layout("wide", fields, question_columns, columns, ignored, reasons)
    return None


def _recognised(row: Sequence[str], matcher: QuestionMatcher) -> int:
    """How many cells of a row read as a sheet's headers or questions (ranks the CSV delimiters)."""
    return sum(1 for c in row if c.strip() and (_column_kind(c) is not None or matcher.match(c)))


# ---------------------------------------------------------------------------------------------------
# Rows -> answers


@dataclass
class _Builder:
    layout: _Layout
    header: list[str]
    max_answer_chars: int
    limits: Limits
    answers: list[ParsedAnswer] = field(default_factory=list)
    errors: list[RowError] = field(default_factory=list)
    seen: dict[tuple[str, str], int] = field(default_factory=dict)
    data_rows: int = 0

    def cell(self, row: Sequence[str], fld: Column) -> str:
        index = self.layout.fields.get(fld)
        if index is None or index >= len(row):
            return ""
        return row[index].strip()

    def add_row(self, number: int, row: Sequence[str], matcher: QuestionMatcher) -> None:
        self.data_rows += 1
        name = self.cell(row, Column.CANDIDATE_NAME) or None
        email = self.cell(row, Column.CANDIDATE_EMAIL) or None
        # No id column: the email, else the name, identifies the candidate.
        candidate = self.cell(row, self.identity)
        if self.layout.kind == "long":
            label = self.cell(row, Column.QUESTION)
            index = self.layout.fields[Column.ANSWER]
            answer = row[index] if index < len(row) else ""
            self._add(number, candidate, name, email, label, matcher.match(label), answer, None)
        else:
            for index, qid in self.layout.question_columns.items():
                answer = row[index] if index < len(row) else ""
                self._add(number, candidate, name, email, qid, qid, answer, self.header[index])
        if self.total > self.limits.max_answers:
            raise UploadTooLarge(
                f"the sheet holds more than {self.limits.max_answers:,} answers; split it into several "
                "files and upload each",
                details={"max_answers": self.limits.max_answers},
            )

    @property
    def identity(self) -> Column:
        fields = self.layout.fields
        return next(c for c in (Column.CANDIDATE_ID, Column.CANDIDATE_EMAIL, Column.CANDIDATE_NAME) if c in fields)

    @property
    def total(self) -> int:
        return len(self.answers) + len(self.errors)

    def _add(
        self,
        number: int,
        candidate: str,
        name: str | None,
        email: str | None,
        label: str,
        qid: str | None,
        answer: str,
        column: str | None,
    ) -> None:
        def fail(code: RowErrorCode, reason: str) -> None:
            question = qid or label or None
            kept = answer if len(answer) <= KEPT_ANSWER_CHARS else answer[:KEPT_ANSWER_CHARS] + "…"
            self.errors.append(RowError(number, code, reason, column, candidate or None, question, name, kept or None))

        limits = self.limits
        if not candidate:
            return fail(RowErrorCode.MISSING_CANDIDATE, "no candidate id, email or name in this row")
        for what, value, cap in (
            ("candidate id", candidate, limits.max_candidate_chars),
            ("candidate name", name, limits.max_name_chars),
            ("candidate email", email, limits.max_email_chars),
        ):
            if value is not None and len(value) > cap:
                return fail(RowErrorCode.FIELD_TOO_LONG, f"{what} is {len(value):,} characters; the limit is {cap:,}")
        if qid is None:
            shown = label if len(label) <= 40 else label[:40] + "…"
            return fail(
                RowErrorCode.UNKNOWN_QUESTION, f"unknown question '{shown}'" if label else "no question id in this row"
            )
        problem = answer_problem(answer, self.max_answer_chars)
        if problem == "empty":
            return fail(RowErrorCode.EMPTY_ANSWER, "the answer is empty")
        if problem == "too_long":
            return fail(
                RowErrorCode.ANSWER_TOO_LONG,
                f"the answer is {len(answer):,} characters; the limit is {self.max_answer_chars:,}",
            )
        key = (candidate, qid)
        if key in self.seen:
            return fail(
                RowErrorCode.DUPLICATE,
                f"duplicate of row {self.seen[key]} (same candidate and question); only the first is graded",
            )
        self.seen[key] = number
        self.answers.append(ParsedAnswer(number, candidate, qid, answer.strip(), name, email))
        return None


_EXPECTED = (
    "long format: candidate_id / 候选人编号, question_id / 题号, answer / 答案; "
    "or wide format: candidate_id / 候选人编号 and one column per question (q01…q12 or the "
    "question text)"
)


def _find_header(rows: Iterator[list[str]], matcher: QuestionMatcher, limits: Limits) -> tuple[int, list[str], _Layout]:
    """The header is the first of the first ten non-blank rows that names usable columns (a title
    line above it, as exported reports often have, is passed over)."""
    first: list[str] | None = None
    widest = 0
    seen = 0
    for number, row in enumerate(rows, start=1):
        if number > limits.max_rows:
            break
        if not any(c.strip() for c in row):
            continue
        seen += 1
        first = first if first is not None else row
        widest = max(widest, sum(1 for c in row if c.strip()))
        layout = _read_header(row, matcher)
        if layout is not None:
            return number, row, layout
        if seen >= 10:
            break
    if first is None:
        raise UnreadableSheet("the file is empty: it has no rows; upload the answer sheet with a header row")
    if widest < 2:
        raise UnreadableSheet(
            f"the file is not a table (every row has a single cell); expected {_EXPECTED}",
            details={"first_row": [c for c in first if c.strip()][:20]},
        )
    found = [c.strip() for c in first if c.strip()][:30]
    raise UnreadableSheet(
        f"no usable columns: the header has {', '.join(found) or 'nothing'}; expected {_EXPECTED}",
        details={"header": found},
    )


def _build(
    rows: Iterator[list[str]], matcher: QuestionMatcher, max_answer_chars: int, limits: Limits
) -> tuple[int, _Builder]:
    header_row, header, layout = _find_header(rows, matcher, limits)
    builder = _Builder(layout, [c.strip() for c in header], max_answer_chars, limits)
    cells = 0
    # `rows` continues after the header; number rows as Excel does.
    for number, row in enumerate(rows, start=header_row + 1):
        if number > limits.max_rows:
            raise UploadTooLarge(
                f"the sheet has more than {limits.max_rows:,} rows; split it into several files",
                details={"max_rows": limits.max_rows},
            )
        filled = sum(1 for c in row if c.strip())
        if not filled:
            continue  # blank lines between candidates, or Excel's trailing empty rows
        cells += filled
        if cells > limits.max_cells:
            raise UploadTooLarge(
                f"the sheet has more than {limits.max_cells:,} filled cells; split it into several files",
                details={"max_cells": limits.max_cells},
            )
        builder.add_row(number, row, matcher)
    if builder.data_rows == 0:
        raise UnreadableSheet("the sheet has a header but no answers under it")
    return header_row, builder


def _parse_xlsx(
    data: bytes, matcher: QuestionMatcher, max_answer_chars: int, limits: Limits
) -> tuple[str, int, _Builder]:
    problem: UnreadableSheet | None = None
    with closing(worksheets(data, limits)) as sheets:
        for title, rows in sheets:
            try:
                header_row, builder = _build(rows, matcher, max_answer_chars, limits)
            except UnreadableSheet as exc:
                problem = problem or exc  # the first sheet's problem is the one worth reporting
                continue
            return title, header_row, builder
    raise problem or UnreadableSheet("the workbook has no worksheets")


def parse_sheet(
    data: bytes,
    questions: Mapping[str, str],
    *,
    filename: str | None = None,
    max_answer_chars: int = 10_000,
    limits: Limits = DEFAULT_LIMITS,
) -> ParsedSheet:
    """`questions` maps each bank id to its question text (wide headers may be either)."""
    if len(data) > limits.max_bytes:
        raise UploadTooLarge(
            f"the file is {len(data) / MB:.1f} MB, over the {limits.max_bytes // MB} MB limit; split the "
            "answers over several files",
            details={"bytes": len(data), "max_bytes": limits.max_bytes},
        )
    if not data.strip():
        raise UnreadableSheet("the file is empty; upload the answer sheet with a header row")
    matcher = QuestionMatcher(questions)
    kind = file_kind(data, filename)
    encoding: str | None = None
    delimiter: str | None = None
    sheet_name: str | None = None
    if kind == "csv":
        rows, encoding, delimiter = csv_records(data, limits, lambda row: _recognised(row, matcher))
        header_row, builder = _build(rows, matcher, max_answer_chars, limits)
    else:
        sheet_name, header_row, builder = _parse_xlsx(data, matcher, max_answer_chars, limits)
    return ParsedSheet(
        file_format=kind,
        layout=builder.layout.kind,
        encoding=encoding,
        delimiter=delimiter,
        sheet_name=sheet_name,
        header_row=header_row,
        columns=builder.layout.columns,
        ignored_columns=builder.layout.ignored,
        ignored_reasons=builder.layout.ignored_reasons,
        answers=builder.answers,
        errors=builder.errors,
        data_rows=builder.data_rows,
        content_hash=content_hash(data),
    )
