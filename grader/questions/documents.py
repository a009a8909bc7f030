"""Read a question bank from a document or a table: bytes in, `BankDocument` out, no database.

Formats, chosen by file name (then by content):
- Markdown or plain text: `## question` then its reference answer (the seed's layout). An explicit id
  may follow the question as a Pandoc header attribute: `## 盘点方式有哪些？ {#le-005}`.
- JSONL: one `{"question_id", "question", "reference_answer"}` object per line.
- CSV (UTF-8 or GBK, as Excel writes it) and XLSX: columns `question_id`, `question`,
  `reference_answer` (or 题号 / 题目 / 参考答案); `question_id` may be left out.
- YAML, as `export_bank` writes it: questions with their key points, imported as they are.

Every row is checked before anything is returned: one bad row makes the whole file fail with
`InvalidBankFile`, whose `errors` name each bad row, the field and what to do, so a bank is never
half-imported. Rows are numbered as the author sees them: the line of a `##` header or a JSONL
object, the sheet row (header = row 1), the position in a YAML `questions` list.
"""

from __future__ import annotations

import hashlib
import json
import re
import unicodedata
from collections.abc import Iterable, Iterator, Sequence
from contextlib import closing
from dataclasses import dataclass
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from grader.errors import GraderError, InvalidBankFile, UnreadableSheet, UploadTooLarge
from grader.questions.refbuild import _HEADER
from grader.scoring.types import QUESTION_ID_PATTERN, KeyPoint
from grader.tables import (
    DEFAULT_TABLE_LIMITS,
    MB,
    TableLimits,
    csv_records,
    decode_text,
    file_kind,
    header_key,
    worksheets,
)

Format = Literal["markdown", "jsonl", "csv", "xlsx", "yaml"]

MAX_QUESTIONS = 5_000
MAX_TEXT_CHARS = 20_000
_ID_RE = re.compile(QUESTION_ID_PATTERN)
_EXPLICIT_ID = re.compile(r"\s*\{#(?P<id>[^}\s]*)\}\s*$")
_ID_HELP = "use 1–16 lower-case letters, digits, '-' or '_', starting and ending with a letter or digit (e.g. le-100)"

# Table headers as people write them, compared after `header_key` (NFKC, case-folded, alphanumerics).
_COLUMNS: dict[str, tuple[str, ...]] = {
    "question_id": ("question_id", "question id", "id", "qid", "题号", "题目编号", "问题编号"),
    "question": ("question", "question_text", "题目", "问题", "题干"),
    "reference_answer": ("reference_answer", "reference answer", "reference", "answer", "参考答案", "标准答案", "答案"),
}
_COLUMN_INDEX = {header_key(alias): name for name, aliases in _COLUMNS.items() for alias in aliases}


class BankRow(BaseModel):
    """One question as read from the file, before ids are settled against the bank."""

    model_config = ConfigDict(frozen=True, str_strip_whitespace=True)

    row: int
    question_id: str | None = None
    question: str = Field(min_length=1, max_length=MAX_TEXT_CHARS)
    reference_answer: str = Field(min_length=1, max_length=MAX_TEXT_CHARS)
    # Only a YAML export carries key points; every other format gets generated ones.
    key_points: list[KeyPoint] | None = None

    @field_validator("question_id", mode="before")
    @classmethod
    def _blank_id_is_none(cls, value: object) -> object:
        if isinstance(value, str | int) and not str(value).strip():
            return None
        return str(value).strip() if isinstance(value, int) else value

    @field_validator("question_id")
    @classmethod
    def _slug(cls, value: str | None) -> str | None:
        if value is not None and not _ID_RE.fullmatch(value):
            raise ValueError(f"{value!r} is not a usable question id; {_ID_HELP}")
        return value


@dataclass(frozen=True)
class BankDocument:
    file_format: Format
    rows: list[BankRow]
    title: str | None = None  # a YAML export names its bank's title
    encoding: str | None = None


def normalise_question(text: str) -> str:
    """The form two spellings of one question share: NFKC, case-folded, whitespace collapsed."""
    return " ".join(unicodedata.normalize("NFKC", text).casefold().split())


def derive_question_id(bank: str, question: str) -> str:
    """A stable id for a question the document gives none: the bank's prefix and a hash of the
    question's text, so reordering the document never moves an id (or its key points) to another
    question. Two banks asking the same question get different ids, since ids are global."""
    digest = hashlib.sha256(f"{bank}\n{normalise_question(question)}".encode()).hexdigest()[:8]
    prefix = re.sub(r"[^a-z0-9]+", "-", bank.lower()).strip("-_")[:7].strip("-_") or "q"
    return f"{prefix}-{digest}"


# ---------------------------------------------------------------------------------------------------
# Errors, collected over the whole file


class _Errors:
    def __init__(self) -> None:
        self.items: list[dict[str, Any]] = []

    def add(self, row: int, field: str, message: str) -> None:
        self.items.append({"row": row, "field": field, "message": message})

    def from_validation(self, row: int, exc: ValidationError) -> None:
        for err in exc.errors():
            field = ".".join(str(p) for p in err["loc"]) or "(row)"
            message = err["msg"].removeprefix("Value error, ")
            if err["type"] == "missing":
                message = f"is missing; give every question its {field}"
            elif err["type"] == "string_too_short":
                message = f"is empty; write the {field.replace('_', ' ')} or delete the row"
            elif err["type"] == "string_too_long":
                message = f"is longer than {MAX_TEXT_CHARS} characters; shorten it"
            self.add(row, field, message)


def _row(errors: _Errors, row: int, values: dict[str, Any]) -> BankRow | None:
    try:
        return BankRow.model_validate({**values, "row": row})
    except ValidationError as exc:
        errors.from_validation(row, exc)
        return None


def _check_unique(rows: list[BankRow], errors: _Errors) -> None:
    seen_ids: dict[str, int] = {}
    seen_questions: dict[str, int] = {}
    for r in rows:
        if r.question_id is not None:
            if r.question_id in seen_ids:
                errors.add(
                    r.row,
                    "question_id",
                    f"{r.question_id!r} is already used on row "
                    f"{seen_ids[r.question_id]}; give each question its own id",
                )
            seen_ids.setdefault(r.question_id, r.row)
        key = normalise_question(r.question)
        if key in seen_questions:
            errors.add(r.row, "question", f"repeats the question on row {seen_questions[key]}; keep one of them")
        seen_questions.setdefault(key, r.row)


# ---------------------------------------------------------------------------------------------------
# Formats


def _markdown(text: str, errors: _Errors) -> list[BankRow]:
    headers = list(_HEADER.finditer(text))
    if not headers:
        raise InvalidBankFile(
            "the document holds no '## question' header; write each question as a "
            "'## ' line followed by its reference answer"
        )
    rows: list[BankRow] = []
    for n, header in enumerate(headers):
        line = text.count("\n", 0, header.start()) + 1
        end = headers[n + 1].start() if n + 1 < len(headers) else len(text)
        question = header.group("question")
        explicit = _EXPLICIT_ID.search(question)
        values: dict[str, Any] = {"question": question, "reference_answer": text[header.end() : end].strip()}
        if explicit:
            values["question"] = question[: explicit.start()]
            values["question_id"] = explicit.group("id")
        if (r := _row(errors, line, values)) is not None:
            rows.append(r)
    return rows


def _jsonl(text: str, errors: _Errors) -> list[BankRow]:
    rows: list[BankRow] = []
    for line_no, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            errors.add(line_no, "(line)", f"is not valid JSON ({exc.msg}); write one JSON object per line")
            continue
        if not isinstance(obj, dict):
            errors.add(
                line_no,
                "(line)",
                'is not a JSON object; write {"question_id": …, "question": …, "reference_answer": …}',
            )
            continue
        values = {name: obj[key] for key in obj if (name := _COLUMN_INDEX.get(header_key(str(key))))}
        if (r := _row(errors, line_no, values)) is not None:
            rows.append(r)
    return rows


def _table(records: Iterable[list[str]], errors: _Errors) -> list[BankRow]:
    numbered = ((n, rec) for n, rec in enumerate(records, start=1) if any(c.strip() for c in rec))
    first = next(numbered, None)
    if first is None:
        raise InvalidBankFile("the table is empty; it needs a header row: question_id, question, reference_answer")
    header_row, header = first
    columns = {i: _COLUMN_INDEX.get(header_key(cell)) for i, cell in enumerate(header)}
    found = {name for name in columns.values() if name}
    missing = sorted({"question", "reference_answer"} - found)
    if missing:
        raise InvalidBankFile(
            "the table's header lacks a column",
            [
                {
                    "row": header_row,
                    "field": name,
                    "message": f"no '{name}' column; the header needs "
                    "question_id (optional), question and reference_answer",
                }
                for name in missing
            ],
        )
    rows: list[BankRow] = []
    for count, (number, record) in enumerate(numbered, start=1):
        if count > MAX_QUESTIONS:
            raise UploadTooLarge(f"the table holds more than {MAX_QUESTIONS} questions; split the bank")
        values = {name: record[i] for i, name in columns.items() if name and i < len(record)}
        if (r := _row(errors, number, values)) is not None:
            rows.append(r)
    return rows


def _xlsx_records(data: bytes, limits: TableLimits) -> Iterator[list[str]]:
    """The first worksheet's rows, read within the same budget as an answer sheet's (`grader.tables`)."""
    with closing(worksheets(data, limits)) as sheets:
        for _title, rows in sheets:
            yield from rows
            return
    raise UnreadableSheet("the workbook has no worksheets")


def _known_columns(row: Sequence[str]) -> int:
    """How many cells of a row read as a bank table's headers (ranks the CSV delimiters)."""
    return sum(1 for cell in row if header_key(cell) in _COLUMN_INDEX)


def _yaml(text: str, errors: _Errors) -> tuple[list[BankRow], str | None]:
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise InvalidBankFile(f"the file is not valid YAML: {exc}") from exc
    questions = raw.get("questions") if isinstance(raw, dict) else None
    if not isinstance(questions, list):
        raise InvalidBankFile("a YAML bank needs a 'questions' list, as `export_bank` writes it")
    rows: list[BankRow] = []
    for n, item in enumerate(questions, start=1):
        if not isinstance(item, dict):
            errors.add(n, "(question)", "is not a mapping with id, question, reference_answer, key_points")
            continue
        values = {
            "question_id": item.get("id"),
            "question": item.get("question"),
            "reference_answer": item.get("reference_answer"),
            "key_points": item.get("key_points"),
        }
        if (r := _row(errors, n, values)) is not None:
            rows.append(r)
    title = raw.get("title") if isinstance(raw.get("title"), str) else None
    return rows, title


def detect_format(data: bytes, filename: str | None) -> Format:
    name = (filename or "").lower()
    if name.endswith((".yaml", ".yml")):
        return "yaml"
    if name.endswith((".jsonl", ".ndjson")):
        return "jsonl"
    if name.endswith((".md", ".markdown", ".txt")):
        return "markdown"
    if name.endswith(".csv"):
        return "csv"
    if file_kind(data, filename) == "xlsx":  # also refuses an old .xls with its own advice
        return "xlsx"
    head = data.lstrip()[:1]
    if head == b"{":
        return "jsonl"
    return "markdown" if re.search(rb"^##[^#]", data, re.MULTILINE) else "csv"


def parse_bank_document(
    data: bytes, filename: str | None = None, *, limits: TableLimits = DEFAULT_TABLE_LIMITS
) -> BankDocument:
    if len(data) > limits.max_bytes:
        raise UploadTooLarge(
            f"the file is {len(data) / MB:.1f} MB, over the {limits.max_bytes // MB} MB limit; split the bank",
            details={"bytes": len(data)},
        )
    if not data.strip():
        raise InvalidBankFile("the file is empty")
    file_format = detect_format(data, filename)
    errors = _Errors()
    encoding: str | None = None
    title: str | None = None
    try:
        if file_format == "xlsx":
            rows = _table(_xlsx_records(data, limits), errors)
        elif file_format == "csv":
            records, encoding, _ = csv_records(data, limits, _known_columns)
            rows = _table(records, errors)
        else:
            text, encoding = decode_text(data)
            if file_format == "markdown":
                rows = _markdown(text, errors)
            elif file_format == "jsonl":
                rows = _jsonl(text, errors)
            else:
                rows, title = _yaml(text, errors)
    except (UnreadableSheet, UploadTooLarge, InvalidBankFile):
        raise
    except GraderError as exc:
        raise InvalidBankFile(exc.message) from exc
    if len(rows) > MAX_QUESTIONS:
        raise UploadTooLarge(f"the file holds {len(rows)} questions, over {MAX_QUESTIONS}; split the bank")
    _check_unique(rows, errors)
    if errors.items:
        errors.items.sort(key=lambda e: e["row"])
        raise InvalidBankFile(
            f"{len(errors.items)} problem(s) in the {file_format} file; nothing was imported", errors.items
        )
    if not rows:
        raise InvalidBankFile("the file holds no questions")
    return BankDocument(file_format=file_format, rows=rows, title=title, encoding=encoding)
