"""A question bank for `grader eval` / `grader calibrate`, given by name or by file, built in memory.

Until imported banks live in the database, a bank to measure against is either the shipped one
(`llm`, reference_answers/*.yaml) or a document: a `questions.jsonl` (`question_id`, `question`,
`reference_answer`) or a `bank.md` (`## question` then its answer; ids q01, q02, … in file order),
whose key points are generated the way `grader refs build` generates them for an uncurated bank.
`ads` and `le` name the two external sets under eval/external/. This is the one place to point at
the database once banks are imported there.
"""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path

from pydantic import ValidationError

from grader.errors import InvalidInput
from grader.questions.references import DEFAULT_DIR, cached_bank
from grader.scoring.types import Reference

EXTERNAL_DIR = DEFAULT_DIR.parent / "eval" / "external"
SHIPPED = "llm"


def bank_name(spec: str | None) -> str:
    """A short name for reports and for keying a bank's own calibration."""
    if not spec or spec == SHIPPED:
        return SHIPPED
    path = Path(spec)
    if path.suffix in (".jsonl", ".md"):
        return path.parent.name or path.stem
    return spec


def _questions(path: Path) -> list[tuple[str, str, str]]:
    if path.suffix == ".md":
        from grader.questions.refbuild import read_seed

        return [(q.id, q.question, q.answer) for q in read_seed(path)]
    out = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
            out.append((str(row["question_id"]), str(row["question"]), str(row["reference_answer"])))
        except (ValueError, KeyError, TypeError) as exc:
            raise InvalidInput(f"{path} line {number}: expected question_id, question, reference_answer") from exc
    return out


@lru_cache(maxsize=8)
def build_bank_from_file(path: Path) -> dict[str, Reference]:
    """Key points generated from each reference answer, as for a bank nobody has curated yet."""
    from grader.questions.refbuild import _Corpus, build_reference

    questions = _questions(path)
    if not questions:
        raise InvalidInput(f"{path} holds no questions")
    corpus = _Corpus(answer for _, _, answer in questions)
    try:
        return {qid: Reference.model_validate(build_reference(qid, q, a, None, corpus)) for qid, q, a in questions}
    except ValidationError as exc:
        raise InvalidInput(f"{path}: cannot build a bank: {exc.errors()[0]['msg']}") from exc


def load_eval_bank(spec: str | None, references_dir: Path = DEFAULT_DIR) -> dict[str, Reference]:
    """`llm` (or nothing): the shipped bank; `ads`/`le`: the external sets; else a file path."""
    if not spec or spec == SHIPPED:
        return dict(cached_bank(references_dir))
    path = Path(spec)
    if not path.exists() and (EXTERNAL_DIR / spec / "questions.jsonl").exists():
        path = EXTERNAL_DIR / spec / "questions.jsonl"
    if not path.is_file():
        raise InvalidInput(f"bank {spec!r}: not 'llm', an external set name or a questions.jsonl / bank.md file")
    return build_bank_from_file(path.resolve())
