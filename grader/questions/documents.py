"""Read a question bank from a document or a table: bytes in, `BankDocument` out, no database.

Formats, chosen by file name (then by content):
- Markdown or plain text: `## question` then its reference answer (the seed's layout). An explicit id
  may follow the question as a Pandoc header attribute: `## 盘点方式有哪些？ {#le-005}`.
- JSONL: one `{"question_id", "question", "reference_answer"}` object per line.
- CSV (UTF-8 or GBK, as Excel writes it) and XLSX: columns `question_id`, `question`,
  `reference_answer` (or 题号 / 题目 / 参考答案); `question_id` may be left out.
- YAML, as `export_bank` writes it: questions with their key points, imported as they are.

Every row is checked before anything is returned: one bad row makes the whole file fail with
`InvalidBankFile`, whose `errors` name the bad rows (the first `ERRORS_KEPT`, and how many in all),
the field and what to do, so a bank is never half-imported.

Budgets decided before the work (issue 18): at most `MAX_QUESTIONS` questions, counted while reading
(a file with more is refused at the first one over, not after parsing it all); Markdown read in one
pass; JSON and YAML nested at most `MAX_NESTING` deep (a bank row is flat: an export nests 6 deep),
refused with a 422 naming the limit, never a RecursionError; YAML at most `MAX_YAML_VALUES` values,
counted on the parser's events before anything is built.

Rows are numbered as the author sees them: the line of a `##` header or a JSONL object, the sheet row
(header = row 1), the position in a YAML `questions` list.
"""

from __future__ import annotations

import hashlib
import io
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
# The errors an upload's answer lists (with the count of all): 1,000 of ~150 bytes stay far under 1 MB.
ERRORS_KEPT = 1_000
MAX_NESTING = 32
MAX_YAML_VALUES = 1_000_000
# Question lines: `## ` then the question, read with a pattern that cannot backtrack across a line.
_MD_HEADER = re.compile(r"^##(?!#)(?P<question>[^\n]*)", re.MULTILINE)
# libyaml when the wheel has it (C, iterative parser): 10x faster than the pure-Python one.
_YAML_LOADER: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
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
            raise ValueError(f"{_clip(value)!r} is not a usable question id; {_ID_HELP}")
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


def _clip(text: str, chars: int = 60) -> str:
    """A value quoted back in an error, cut: an error list must not carry the upload back."""
    return text if len(text) <= chars else text[:chars] + "…"


class _Errors:
    """The first `ERRORS_KEPT` errors, and how many there were."""

    def __init__(self) -> None:
        self.items: list[dict[str, Any]] = []
        self.total = 0

    def add(self, row: int, field: str, message: str) -> None:
        self.total += 1
        if len(self.items) < ERRORS_KEPT:
            self.items.append({"row": row, "field": _clip(field, 100), "message": _clip(message, 400)})

    def from_validation(self, row: int, exc: ValidationError) -> None:
        for err in exc.errors(include_input=False, include_url=False):
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


def _too_many(what: str) -> UploadTooLarge:
    return UploadTooLarge(
        f"the {what} holds more than {MAX_QUESTIONS} questions; split the bank", details={"max": MAX_QUESTIONS}
    )


def _markdown(text: str, errors: _Errors) -> list[BankRow]:
    """One pass: each header's line number is counted on from the previous header's, and the question
    cap is checked as headers are found (it was a count from the start per header, after all of them)."""
    headers = _MD_HEADER.finditer(text)
    header = next(headers, None)
    if header is None:
        raise InvalidBankFile(
            "the document holds no '## question' header; write each question as a "
            "'## ' line followed by its reference answer"
        )
    rows: list[BankRow] = []
    line, counted_to, count = 1, 0, 0
    while header is not None:
        following = next(headers, None)
        count += 1
        if count > MAX_QUESTIONS:
            raise _too_many("document")
        line += text.count("\n", counted_to, header.start())
        counted_to = header.start()
        end = following.start() if following is not None else len(text)
        question = header.group("question").strip()
        explicit = _EXPLICIT_ID.search(question)
        values: dict[str, Any] = {"question": question, "reference_answer": text[header.end() : end].strip()}
        if explicit:
            values["question"] = question[: explicit.start()]
            values["question_id"] = explicit.group("id")
        if (r := _row(errors, line, values)) is not None:
            rows.append(r)
        header = following
    return rows


_MD_TITLE = re.compile(r"^#(?!#)[ \t]*(?P<title>\S[^\n]*?)[ \t#]*$", re.MULTILINE)


def _markdown_title(text: str) -> str | None:
    """A `# Title` line above the first question names the bank (it was dropped, and the bank's name shown)."""
    found = _MD_TITLE.search(text)
    first_question = _MD_HEADER.search(text)
    if found is None or (first_question is not None and found.start() > first_question.start()):
        return None
    return found.group("title")[:200]


def _too_deep(row: int, where: str) -> InvalidBankFile:
    return InvalidBankFile(
        f"the file nests deeper than {MAX_NESTING} levels; a bank's rows are flat",
        [{"row": row, "field": where, "message": f"nests deeper than {MAX_NESTING} levels; write flat rows"}],
    )


def _depth(value: Any) -> int:
    """How deep lists and objects nest in a parsed value (without recursion)."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, level = stack.pop()
        if isinstance(item, dict | list):
            deepest = max(deepest, level)
            if level > MAX_NESTING:
                return level
            stack.extend((child, level + 1) for child in (item.values() if isinstance(item, dict) else item))
    return deepest


def _jsonl(text: str, errors: _Errors) -> list[BankRow]:
    rows: list[BankRow] = []
    count = 0
    # Lazily, one line at a time (splitlines() made a list of every line first: 7 M strings for 20 MB
    # of `{}`); and on \n, \r\n or \r only, since a JSON string may hold a raw U+2028 or U+0085.
    for line_no, line in enumerate(io.StringIO(text, newline=None), start=1):
        if not line.strip():
            continue
        count += 1
        if count > MAX_QUESTIONS:
            raise _too_many("file")
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            errors.add(line_no, "(line)", f"is not valid JSON ({exc.msg}); write one JSON object per line")
            continue
        except RecursionError:  # json's C parser stops (cleanly) at the interpreter's depth
            raise _too_deep(line_no, "(line)") from None
        if _depth(obj) > MAX_NESTING:
            raise _too_deep(line_no, "(line)")
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


def _yaml_budget(text: str) -> None:
    """Nesting and size from the parser's events (an iterative state machine), before any value is
    built: building recurses once per level (`[` x 900 was a RecursionError, a 500)."""
    depth = values = 0
    for event in yaml.parse(text, Loader=_YAML_LOADER):
        if isinstance(event, yaml.NodeEvent):
            values += 1
            if values > MAX_YAML_VALUES:
                raise UploadTooLarge(
                    f"the YAML holds more than {MAX_YAML_VALUES:,} values; split the bank",
                    details={"max_values": MAX_YAML_VALUES},
                )
        if isinstance(event, yaml.CollectionStartEvent):
            depth += 1
            if depth > MAX_NESTING:
                raise _too_deep(event.start_mark.line + 1 if event.start_mark else 0, "(yaml)")
        elif isinstance(event, yaml.CollectionEndEvent):
            depth -= 1


def _yaml(text: str, errors: _Errors) -> tuple[list[BankRow], str | None]:
    try:
        _yaml_budget(text)
        raw = yaml.load(text, Loader=_YAML_LOADER)
    except yaml.YAMLError as exc:
        raise InvalidBankFile(f"the file is not valid YAML: {_clip(str(exc), 300)}") from exc
    questions = raw.get("questions") if isinstance(raw, dict) else None
    if not isinstance(questions, list):
        raise InvalidBankFile("a YAML bank needs a 'questions' list, as `export_bank` writes it")
    if len(questions) > MAX_QUESTIONS:
        raise _too_many("file")
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
                title = _markdown_title(text)
            elif file_format == "jsonl":
                rows = _jsonl(text, errors)
            else:
                rows, title = _yaml(text, errors)
    except (UnreadableSheet, UploadTooLarge, InvalidBankFile):
        raise
    except GraderError as exc:
        raise InvalidBankFile(exc.message) from exc
    if len(rows) > MAX_QUESTIONS:
        raise _too_many("file")
    _check_unique(rows, errors)
    if errors.total:
        errors.items.sort(key=lambda e: e["row"])
        raise InvalidBankFile(
            f"{errors.total} problem(s) in the {file_format} file; nothing was imported",
            errors.items,
            total=errors.total,
        )
    if not rows:
        raise InvalidBankFile("the file holds no questions")
    return BankDocument(file_format=file_format, rows=rows, title=title, encoding=encoding)
