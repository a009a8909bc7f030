"""Reading submissions back: one (with its latest grade), or a filtered page. A recruiter sees only the
submissions their own key sent; reviewers and admins see all."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from grader.db.models import Grade, Status, Submission
from grader.errors import SubmissionNotFound
from grader.keys.principal import Principal


def get_submission(session: Session, submission_id: uuid.UUID,
                   actor: Principal) -> tuple[Submission, Grade | None]:
    submission = session.get(Submission, submission_id)
    # A recruiter asking for someone else's submission learns nothing, not even that it exists.
    if submission is None or not (actor.sees_everything or submission.submitted_by == actor.key_id):
        raise SubmissionNotFound(submission_id)
    return submission, latest_grades(session, [submission_id]).get(submission_id)


def latest_grades(session: Session, ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, Grade]:
    if not ids:
        return {}
    rows = session.scalars(select(Grade).where(Grade.submission_id.in_(ids))
                           .order_by(Grade.created_at.desc(), Grade.id.desc()))
    latest: dict[uuid.UUID, Grade] = {}
    for grade in rows:
        latest.setdefault(grade.submission_id, grade)
    return latest


@dataclass(frozen=True)
class SubmissionFilter:
    candidate_id: str | None = None
    question_id: str | None = None
    status: Status | None = None


def list_submissions(session: Session, actor: Principal, filters: SubmissionFilter, *, limit: int,
                     offset: int) -> tuple[list[tuple[Submission, Grade | None]], int]:
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
    page = list(session.scalars(query.order_by(Submission.created_at.desc(), Submission.id)
                                .limit(limit).offset(offset)))
    grades = latest_grades(session, [s.id for s in page])
    return [(s, grades.get(s.id)) for s in page], total


def count_by_status(session: Session) -> dict[str, int]:
    """Submissions by status, every status present (zero when none is in it)."""
    rows = session.execute(select(Submission.status, func.count()).group_by(Submission.status)).all()
    counts = {status.value: 0 for status in Status}
    counts.update({str(status): int(count) for status, count in rows})
    return counts
