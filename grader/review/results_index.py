"""Keeps the `results` table (see `grader.db.review_models`) in step with grading.

Called by `grader.grading.record.record_many` (as `index_results`, one upsert for a whole chunk) with the
submission rows already locked (`SELECT … FOR UPDATE`), so two runs recording the same submission take turns.
`index_result` is the same rule for one ORM submission, written out as a read-then-write. A re-grade
(new engine or reference) refreshes the grader's side of the row; a reviewer's final score and decision
survive it.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from types import SimpleNamespace
from typing import Any

from sqlalchemy import bindparam, case, func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from grader.db.batch_models import BatchItem
from grader.db.models import Grade, Submission
from grader.db.review_models import ResultRow
from grader.review import aggregates
from grader.submissions.reads import latest_grades, pick_latest
from grader.submissions.statuses import GRADED


def encode_flags(flags: Iterable[str]) -> str:
    values = sorted(set(flags))
    return "|" + "|".join(values) + "|" if values else ""


def decode_flags(encoded: str) -> list[str]:
    return [f for f in encoded.split("|") if f]


def index_result(session: Session, submission: Submission) -> ResultRow | None:
    """Write the submission's result row from its latest grade; None when it has no result to show."""
    if submission.status not in GRADED:
        return None
    grade = latest_grades(session, [submission.id]).get(submission.id)
    if grade is None:
        return None
    row = session.get(ResultRow, submission.id)
    before = [aggregates.counted(row)] if row is not None else []
    if row is None:
        batch_id = session.scalar(select(BatchItem.batch_id).where(BatchItem.submission_id == submission.id))
        row = ResultRow(
            submission_id=submission.id,
            question_id=submission.question_id,
            candidate_id=submission.candidate_id,
            batch_id=batch_id,
            reviewed=False,
            overridden=False,
            review_count=0,
            key_point_corrections=[],
        )
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
    aggregates.apply(session, before, [aggregates.counted(row)])
    return row


@dataclass(frozen=True)
class IndexedSubmission:
    """What `index_results` needs of a submission (read by the caller along with its row lock)."""

    submission_id: uuid.UUID
    status: str
    graded_at: datetime | None
    question_id: str
    candidate_id: str
    batch_id: uuid.UUID | None


@dataclass(frozen=True)
class LatestGrade:
    id: int
    submission_id: uuid.UUID
    score: float
    confidence: float
    flags: list[str]
    created_at: datetime


def index_results(
    session: Session, submissions: Sequence[IndexedSubmission], known: Mapping[uuid.UUID, LatestGrade] | None = None
) -> None:
    """`index_result` for many submissions in two statements (their grades, one upsert), with the same
    outcome row for row: the grader's side follows the latest grade, a reviewer's decision survives.
    `known` holds latest grades the caller already has (a first grade it just wrote): not read again."""
    showing = {s.submission_id: s for s in submissions if s.status in GRADED}
    if not showing:
        return
    latest: dict[uuid.UUID, Any] = {sid: grade for sid, grade in (known or {}).items() if sid in showing}
    unknown = [sid for sid in showing if sid not in latest]
    if unknown:
        latest.update(pick_latest(session.execute(_GRADES_OF, {"ids": unknown})))
    if not latest:
        return
    # The rows as they were (a re-grade), for the statistics' running sums; a first grade has none.
    before = {row.submission_id: row for row in session.execute(_COUNTED_OF, {"ids": unknown})} if unknown else {}
    rows = [
        {
            "submission_id": sid,
            "question_id": showing[sid].question_id,
            "candidate_id": showing[sid].candidate_id,
            "batch_id": showing[sid].batch_id,
            "reviewed": False,
            "overridden": False,
            "review_count": 0,
            "key_point_corrections": [],
            "grade_id": grade.id,
            "grader_score": grade.score,
            "confidence": grade.confidence,
            "flags": encode_flags(grade.flags),
            "flagged": bool(grade.flags),
            "graded_at": showing[sid].graded_at or grade.created_at,
            "final_score": grade.score,
            "status": showing[sid].status,
        }
        for sid, grade in latest.items()
    ]
    session.execute(_upsert(session.get_bind().dialect.name), rows)
    aggregates.apply(
        session,
        [aggregates.counted(row) for row in before.values()],
        [aggregates.counted(_as_upserted(row, before.get(row["submission_id"]))) for row in rows],
    )


def _as_upserted(new: dict[str, Any], old: Any) -> SimpleNamespace:
    """The row as `_upsert` leaves it (its rule, in Python): a reviewer's final score and decision survive."""
    if old is None or not old.reviewed:
        return SimpleNamespace(**new)
    overridden = abs(old.final_score - new["grader_score"]) > 1e-9
    return SimpleNamespace(
        **{
            **new,
            "question_id": old.question_id,
            "reviewed": True,
            "final_score": old.final_score,
            "overridden": overridden,
        }
    )


_COUNTED_OF = select(*aggregates.COUNTED_COLUMNS).where(ResultRow.submission_id.in_(bindparam("ids", expanding=True)))
_GRADES_OF = select(Grade.id, Grade.submission_id, Grade.score, Grade.confidence, Grade.flags, Grade.created_at).where(
    Grade.submission_id.in_(bindparam("ids", expanding=True))
)


@lru_cache(maxsize=4)
def _upsert(dialect: str) -> Any:
    """INSERT … ON CONFLICT (submission_id) DO UPDATE with `index_result`'s rule, built once per dialect."""
    results = ResultRow.metadata.tables[ResultRow.__tablename__]
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    statement = insert(results)
    new, old = statement.excluded, results.c
    return statement.on_conflict_do_update(
        index_elements=[old.submission_id],
        set_={
            "grade_id": new.grade_id,
            "grader_score": new.grader_score,
            "confidence": new.confidence,
            "flags": new.flags,
            "flagged": new.flagged,
            "graded_at": new.graded_at,
            # Every right-hand side reads the row as it was: `reviewed` and `final_score` before this update.
            "overridden": case(
                (old.reviewed, func.abs(old.final_score - new.grader_score) > 1e-9), else_=old.overridden
            ),
            "final_score": case((old.reviewed, old.final_score), else_=new.final_score),
            "status": case((old.reviewed, old.status), else_=new.status),
        },
    )
