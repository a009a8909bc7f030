"""A question bank for `grader eval` / `grader calibrate`, given by name or by file, built in memory.

A bank to measure against is either the shipped one (`llm`, reference_answers/*.yaml) or a document
read and given key points exactly as `grader banks import` does (`questions.documents` parses it,
`questions.drafts` generates the drafts; ids the document does not give are derived from the bank name
and the question, as on import), without a database. `ads` and `le` name the two external sets under
eval/external/, `fe`, `jv` and `ml` the interview banks under eval/interview/.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from grader.errors import InvalidBankFile, InvalidInput
from grader.questions.documents import derive_question_id, parse_bank_document
from grader.questions.drafts import generate_drafts
from grader.questions.references import DEFAULT_DIR, cached_bank
from grader.scoring.types import Reference

EXTERNAL_DIR = DEFAULT_DIR.parent / "eval" / "external"
INTERVIEW_DIR = DEFAULT_DIR.parent / "eval" / "interview"
SHIPPED = "llm"


def bank_name(spec: str | None) -> str:
    """A short name for reports and for keying a bank's own calibration."""
    if not spec or spec == SHIPPED:
        return SHIPPED
    path = Path(spec)
    if path.suffix:  # a document (questions.jsonl, bank.md, a sheet): named after its folder
        return path.parent.name or path.stem
    return spec


@lru_cache(maxsize=8)
def build_bank_from_file(path: Path, name: str) -> dict[str, Reference]:
    """The drafts an import of the document into bank `name` would create: generated key points, as for
    a bank nobody has curated yet."""
    try:
        document = parse_bank_document(path.read_bytes(), path.name)
        rows = [(row.question_id or derive_question_id(name, row.question), row) for row in document.rows]
        return {draft.id: draft for draft in generate_drafts(rows, {})}
    except InvalidBankFile as exc:  # its message names every bad row
        raise InvalidInput(f"{path}: cannot build a bank: {exc.message}") from exc


def load_eval_bank(spec: str | None, references_dir: Path = DEFAULT_DIR) -> dict[str, Reference]:
    """`llm` (or nothing): the shipped bank; `ads`/`le`, `fe`/`jv`/`ml`: the labelled sets; else a file path."""
    if not spec or spec == SHIPPED:
        return dict(cached_bank(references_dir))
    path = Path(spec)
    if not path.exists():
        named = [d / spec / "questions.jsonl" for d in (EXTERNAL_DIR, INTERVIEW_DIR)]
        path = next((p for p in named if p.exists()), path)
    if not path.is_file():
        raise InvalidInput(
            f"bank {spec!r}: not 'llm', a labelled set's name (ads, le, fe, jv, ml) or a bank document "
            "(questions.jsonl, bank.md, CSV, XLSX)"
        )
    return build_bank_from_file(path.resolve(), bank_name(spec))
