"""Keeps the `results` table (see `grader.db.review_models`) in step with grading.

Called by `service.record` with the submission row already locked (`SELECT … FOR UPDATE`), so two runs
recording the same submission take turns and a plain read-then-write is safe. A re-grade (new engine or
reference) refreshes the grader's side of the row; a reviewer's final score and decision survive it.
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import select
from sqlalchemy.orm import Session

from grader.db.batch_models import BatchItem
from grader.db.models import Grade, Status, Submission
from grader.db.review_models import ResultRow

RESULT_STATUSES = (Status.GRADED.value, Status.NEEDS_REVIEW.value)


def encode_flags(flags: Iterable[str]) -> str:
    values = sorted(set(flags))
    return "|" + "|".join(values) + "|" if values else ""


def decode_flags(encoded: str) -> list[str]:
    return [f for f in encoded.split("|") if f]


def index_result(session: Session, submission: Submission) -> ResultRow | None:
    """Write the submission's result row from its latest grade; None when it has no result to show."""
    if submission.status not in RESULT_STATUSES:
        return None
    grade = session.scalars(select(Grade).where(Grade.submission_id == submission.id)
                            .order_by(Grade.created_at.desc(), Grade.id.desc()).limit(1)).first()
    if grade is None:
        return None
    row = session.get(ResultRow, submission.id)
    if row is None:
        batch_id = session.scalar(select(BatchItem.batch_id).where(BatchItem.submission_id == submission.id))
        row = ResultRow(submission_id=submission.id, question_id=submission.question_id,
                        candidate_id=submission.candidate_id, batch_id=batch_id, reviewed=False,
                        overridden=False, review_count=0, key_point_corrections=[])
        session.add(row)
    row.grade_id = grade.id
    row.grader_score = grade.score
    row.confidence = grade.confidence
    row.flags = encode_flags(grade.flags)
    row.flagged = bool(grade.flags)
    row.graded_at = submission.graded_at or grade.created_at
    if row.reviewed:
        row.overridden = abs(row.final_score - grade.score) > 1e-9
    else:
        row.final_score = grade.score
        row.status = submission.status
    return row
