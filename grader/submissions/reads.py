"""Reading submissions back: one (with its latest grade), or a filtered page. A recruiter sees only the
submissions their own key sent; reviewers and admins see all. `submission_view` and `submission_page`
answer as the API shows it (the schemas of `grader.submissions.schemas`), so the endpoints see no ORM row."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol, TypeVar

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from grader.db.models import Grade, Status, Submission
from grader.errors import SubmissionNotFound
from grader.keys.principal import Principal
from grader.submissions.schemas import GradeOut, KeyPointGrade, SubmissionOut, SubmissionPage, SubmissionSummary


def get_submission(session: Session, submission_id: uuid.UUID, actor: Principal) -> tuple[Submission, Grade | None]:
    submission = session.get(Submission, submission_id)
    # A recruiter asking for someone else's submission learns nothing, not even that it exists.
    if submission is None or not (actor.sees_everything or submission.submitted_by == actor.key_id):
        raise SubmissionNotFound(submission_id)
    return submission, latest_grades(session, [submission_id]).get(submission_id)


class GradeLike(Protocol):
    """What `pick_latest` reads of a grade: an ORM `Grade` or a row of those columns."""

    @property
    def id(self) -> int: ...

    @property
    def submission_id(self) -> uuid.UUID: ...

    @property
    def created_at(self) -> datetime: ...


G = TypeVar("G", bound=GradeLike)


def pick_latest(grades: Iterable[G]) -> dict[uuid.UUID, G]:
    """The latest grade of each submission: the newest, and of grades written at the same instant the
    last inserted. The one definition of "latest grade"; a re-grade never overwrites an older row."""
    latest: dict[uuid.UUID, G] = {}
    for grade in grades:
        best = latest.get(grade.submission_id)
        if best is None or (grade.created_at, grade.id) > (best.created_at, best.id):
            latest[grade.submission_id] = grade
    return latest


def latest_grades(session: Session, ids: Sequence[uuid.UUID] | Select[Any]) -> dict[uuid.UUID, Grade]:
    """The latest grade of each submission in `ids` (a list, or a select of submission ids)."""
    if isinstance(ids, Sequence) and not ids:
        return {}
    return pick_latest(session.scalars(select(Grade).where(Grade.submission_id.in_(ids))))


@dataclass(frozen=True)
class SubmissionFilter:
    candidate_id: str | None = None
    question_id: str | None = None
    status: Status | None = None


def list_submissions(
    session: Session, actor: Principal, filters: SubmissionFilter, *, limit: int, offset: int
) -> tuple[list[tuple[Submission, Grade | None]], int]:
    query = select(Submission)
    if not actor.sees_everything:
        query = query.where(Submission.submitted_by == actor.key_id)
    if filters.candidate_id is not None:
        query = query.where(Submission.candidate_id == filters.candidate_id)
    if filters.question_id is not None:
        query = query.where(Submission.question_id == filters.question_id)
    if filters.status is not None:
        query = query.where(Submission.status == filters.status.value)
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    page = list(
        session.scalars(query.order_by(Submission.created_at.desc(), Submission.id).limit(limit).offset(offset))
    )
    grades = latest_grades(session, [s.id for s in page])
    return [(s, grades.get(s.id)) for s in page], total


def count_by_status(session: Session) -> dict[str, int]:
    """Submissions by status, every status present (zero when none is in it)."""
    rows = session.execute(select(Submission.status, func.count()).group_by(Submission.status)).all()
    counts = {status.value: 0 for status in Status}
    counts.update({str(status): int(count) for status, count in rows})
    return counts


# --- as the API shows them ---------------------------------------------------------------------------------


def grade_out(grade: Grade) -> GradeOut:
    return GradeOut(
        score=grade.score,
        confidence=grade.confidence,
        flags=list(grade.flags),
        feedback=grade.feedback,
        key_points=[KeyPointGrade.model_validate(kp) for kp in grade.key_points],
        scoring_version=grade.scoring_version,
        reference_hash=grade.reference_hash,
        embedder=grade.embedder,
        calibration=grade.calibration,
        graded_at=grade.created_at,
    )


def submission_out(submission: Submission, grade: Grade | None) -> SubmissionOut:
    return SubmissionOut(
        id=submission.id,
        status=Status(submission.status),
        candidate_id=submission.candidate_id,
        candidate_name=submission.candidate_name,
        candidate_email=submission.candidate_email,
        question_id=submission.question_id,
        reference_hash=submission.reference_hash,
        answer=submission.answer,
        created_at=submission.created_at,
        updated_at=submission.updated_at,
        failure_reason=submission.failure_reason,
        grade=grade_out(grade) if grade is not None else None,
    )


def submission_view(session: Session, submission_id: uuid.UUID, actor: Principal) -> SubmissionOut:
    """One submission with its latest grade, if the actor may see it."""
    return submission_out(*get_submission(session, submission_id, actor))


def submission_page(
    session: Session, actor: Principal, where: SubmissionFilter, *, limit: int, offset: int
) -> SubmissionPage:
    """A page of `list_submissions`, newest first, with each one's latest score."""
    rows, total = list_submissions(session, actor, where, limit=limit, offset=offset)
    items = [
        SubmissionSummary(
            id=s.id,
            status=Status(s.status),
            candidate_id=s.candidate_id,
            question_id=s.question_id,
            created_at=s.created_at,
            score=g.score if g is not None else None,
        )
        for s, g in rows
    ]
    return SubmissionPage(items=items, total=total, limit=limit, offset=offset)
