"""Fitting a bank's calibration: on a labelled file or on its reviewers' final scores.

The answers are measured against the bank's latest published version (with its questions as peers),
the current calibration's agreement on them is the "before" figure (it was not fitted on them), the
new fit's 5-fold cross-validated agreement the "after"; the fit becomes a new, unpublished calibration
version of the bank for an admin to publish. Takes the caller's session and never commits.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

from pydantic import BaseModel, Field, ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from grader.db.models import Submission
from grader.db.review_models import ResultRow
from grader.errors import InvalidBankFile, InvalidInput
from grader.grading.grader import Grader
from grader.keys.principal import Principal
from grader.questions.banks import published_references
from grader.questions.calibrations import add_calibration, bank_calibration, fit_bank_calibration
from grader.scoring.calibration import Calibration, final_score
from grader.scoring.engine import embed_answers, measure_signals
from grader.scoring.metrics import summarise

MIN_EXAMPLES = 10  # five folds of at least two answers


class LabelledAnswer(BaseModel):
    question_id: str
    answer: str = Field(min_length=1)
    score: float = Field(ge=0, le=10)  # the interviewer's (or reviewer's) score, 0–10


class CalibrationReport(BaseModel):
    bank: str
    examples: int
    current: str  # the calibration version graded with so far
    before: dict[str, float]  # the current calibration's agreement on these answers
    after: dict[str, float]  # the new fit's, 5-fold cross-validated
    version: int  # the new (unpublished) calibration version
    calibration: Calibration


def read_labelled(path: Path) -> list[LabelledAnswer]:
    """JSON lines with question_id, answer, score (0–10); every bad line is reported by number."""
    rows: list[LabelledAnswer] = []
    errors: list[dict[str, object]] = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            rows.append(LabelledAnswer.model_validate(json.loads(line)))
        except (ValidationError, json.JSONDecodeError, TypeError) as exc:
            if isinstance(exc, ValidationError):
                for err in exc.errors():
                    field = ".".join(str(p) for p in err["loc"])
                    errors.append({"row": number, "field": field, "message": err["msg"]})
            else:
                errors.append({"row": number, "field": "(line)", "message": f"not a JSON object: {exc}"})
    if errors:
        raise InvalidBankFile(f"{path.name}: {len(errors)} bad line(s); nothing was fitted", errors)
    return rows


def reviewed_answers(session: Session, bank: str) -> list[LabelledAnswer]:
    """The reviewers' final scores (0–100, stored per result) of the bank's questions, as 0–10 labels."""
    questions = list(published_references(session, bank).references)
    rows = session.execute(
        select(Submission.question_id, Submission.answer, ResultRow.final_score)
        .join(ResultRow, ResultRow.submission_id == Submission.id)
        .where(ResultRow.reviewed.is_(True), Submission.question_id.in_(questions))
        .order_by(Submission.created_at)
    )
    return [LabelledAnswer(question_id=q, answer=a, score=round(s / 10, 2)) for q, a, s in rows]


def calibrate_bank(
    session: Session,
    grader: Grader,
    bank: str,
    rows: Sequence[LabelledAnswer],
    *,
    source: str,
    command: str,
    actor: Principal,
) -> CalibrationReport:
    published = published_references(session, bank)
    unknown = [
        {"row": i, "field": "question_id", "message": f"{r.question_id!r} is not in bank '{bank}' v{published.version}"}
        for i, r in enumerate(rows, start=1)
        if r.question_id not in published.references
    ]
    if unknown:
        raise InvalidBankFile(f"{len(unknown)} answer(s) name questions outside bank '{bank}'", unknown[:200])
    if len(rows) < MIN_EXAMPLES:
        raise InvalidInput(
            f"calibrating bank '{bank}' needs at least {MIN_EXAMPLES} labelled answers; {source} has {len(rows)}"
        )
    peers = grader.prepare(published.references.values())
    by_id = {p.reference.id: p for p in peers}
    embedded = embed_answers([r.answer for r in rows], grader.embedder)
    examples = [
        measure_signals(e, by_id[r.question_id], peers).model_copy(update={"label": r.score})
        for e, r in zip(embedded, rows, strict=True)
    ]
    own = bank_calibration(session, bank)
    current = own.calibration if own is not None else grader.calibration
    labels = [r.score for r in rows]
    before = summarise([final_score(current, e) for e in examples], labels)
    fitted = fit_bank_calibration(
        examples, grader.calibration, bank=bank, embedder=grader.embedder.name, source=source, command=command
    )
    info = add_calibration(session, bank, fitted, source=source, actor=actor)
    return CalibrationReport(
        bank=bank,
        examples=len(rows),
        current=current.version,
        before={k: round(v, 4) for k, v in before.items()},
        after={k.removeprefix(f"cv_{bank}_"): v for k, v in fitted.cv_metrics.items() if k.startswith(f"cv_{bank}_")},
        version=info.version,
        calibration=fitted,
    )
