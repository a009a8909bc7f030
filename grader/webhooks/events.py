"""The events the service raises, called from the places where their cause is written (small calls from
`grader.grading.record` and `grader.review.results`, in the same transaction):

    submission.graded    a grade was written for a submission (status graded or needs_review)
    submission.reviewed  a reviewer set the final score
    interview.completed  no answer of the interview is pending, running or waiting for a reviewer
    batch.completed      no answer of the batch is pending or running (as the batch's own `done`)

Completion is decided under a lock on the interview (batch) row, so of two transactions finishing its
last answers at once the later one sees the other's answers finished and raises the event, exactly once.
The grading path pays one small query per chunk (who subscribes to what) when nobody subscribes; the
completion checks (two statements each) run only for an event someone subscribed to.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from grader.db.base import utcnow
from grader.db.batch_models import Batch, BatchItem
from grader.db.candidate_models import Interview, InterviewItem
from grader.db.models import Status, Submission
from grader.db.review_models import ResultRow
from grader.webhooks.outbox import emit, subscriptions

_INTERVIEW_OPEN = (Status.PENDING.value, Status.RUNNING.value, Status.NEEDS_REVIEW.value)
_BATCH_OPEN = (Status.PENDING.value, Status.RUNNING.value)


def _iso(value: Any) -> str | None:
    return value.isoformat() if value is not None else None


def graded(session: Session, submission_ids: Sequence[uuid.UUID]) -> None:
    """Grades were written for these submissions (by `record_many`, in its transaction)."""
    if not submission_ids:
        return
    subscribed = subscriptions(session)
    if not subscribed:
        return
    targets = subscribed.get("submission.graded")
    if targets:
        rows = session.execute(
            select(Submission, ResultRow, InterviewItem.interview_id, BatchItem.batch_id)
            .join(ResultRow, ResultRow.submission_id == Submission.id)
            .outerjoin(InterviewItem, InterviewItem.submission_id == Submission.id)
            .outerjoin(BatchItem, BatchItem.submission_id == Submission.id)
            .where(Submission.id.in_(list(submission_ids)))
            .order_by(Submission.id)
        ).all()
        emit(
            session,
            "submission.graded",
            [
                {
                    "submission_id": str(s.id),
                    "candidate_id": s.candidate_id,
                    "question_id": s.question_id,
                    "status": s.status,
                    "score": round(r.grader_score, 2),
                    "confidence": round(r.confidence, 3),
                    "flags": [f for f in r.flags.split("|") if f],  # stored "|a|b|" (grader.review.results_index)
                    "needs_review": s.status == Status.NEEDS_REVIEW.value,
                    "interview_id": str(iid) if iid else None,
                    "batch_id": str(bid) if bid else None,
                    "graded_at": _iso(s.graded_at),
                }
                for s, r, iid, bid in rows
            ],
            endpoints=targets,
        )
    _complete(session, submission_ids, subscribed)


def reviewed(session: Session, submission_id: uuid.UUID, row: ResultRow, reviewer: str) -> None:
    """A reviewer decided on the submission (in `review`'s transaction)."""
    subscribed = subscriptions(session)
    targets = subscribed.get("submission.reviewed")
    if targets:
        submission = session.get(Submission, submission_id)
        assert submission is not None
        emit(
            session,
            "submission.reviewed",
            [
                {
                    "submission_id": str(submission_id),
                    "candidate_id": submission.candidate_id,
                    "question_id": submission.question_id,
                    "final_score": round(row.final_score, 2),
                    "grader_score": round(row.grader_score, 2),
                    "overridden": row.overridden,
                    "review_count": row.review_count,
                    "reviewed_by": reviewer,
                    "reviewed_at": _iso(row.reviewed_at),
                }
            ],
            endpoints=targets,
        )
    _complete(session, [submission_id], subscribed)


def finished(session: Session, submission_ids: Sequence[uuid.UUID]) -> None:
    """These submissions left `pending`/`running` (failed): raise what they complete."""
    _complete(session, submission_ids, subscriptions(session))


def _complete(session: Session, submission_ids: Sequence[uuid.UUID], subscribed: dict[str, list[int]]) -> None:
    if subscribed.get("interview.completed"):
        _complete_interviews(session, submission_ids, subscribed["interview.completed"])
    if subscribed.get("batch.completed"):
        _complete_batches(session, submission_ids, subscribed["batch.completed"])


def _complete_interviews(session: Session, submission_ids: Sequence[uuid.UUID], targets: list[int]) -> None:
    locked = list(
        session.scalars(
            select(Interview.id)
            .where(
                Interview.completed_at.is_(None),
                Interview.id.in_(
                    select(InterviewItem.interview_id).where(InterviewItem.submission_id.in_(list(submission_ids)))
                ),
            )
            .order_by(Interview.id)
            .with_for_update()
        )
    )
    if not locked:
        return
    still_open = set(
        session.scalars(
            select(InterviewItem.interview_id)
            .join(Submission, Submission.id == InterviewItem.submission_id)
            .where(InterviewItem.interview_id.in_(locked), Submission.status.in_(_INTERVIEW_OPEN))
            .distinct()
        )
    )
    done = [iid for iid in locked if iid not in still_open]
    if not done:
        return
    now = utcnow()
    session.execute(update(Interview).where(Interview.id.in_(done)).values(completed_at=now))
    answers: dict[uuid.UUID, list[dict[str, Any]]] = {iid: [] for iid in done}
    people: dict[uuid.UUID, tuple[str, str | None]] = {}
    for iid, s, final in session.execute(
        select(InterviewItem.interview_id, Submission, ResultRow.final_score)
        .join(Submission, Submission.id == InterviewItem.submission_id)
        .outerjoin(ResultRow, ResultRow.submission_id == Submission.id)
        .where(InterviewItem.interview_id.in_(done))
        .order_by(InterviewItem.interview_id, InterviewItem.position)
    ):
        people.setdefault(iid, (s.candidate_id, s.candidate_name))
        scored = final is not None and s.status != Status.FAILED.value
        answers[iid].append(
            {
                "submission_id": str(s.id),
                "question_id": s.question_id,
                "status": s.status,
                "score": round(final, 2) if scored else None,
            }
        )
    items = []
    for iid in done:
        scores = [a["score"] for a in answers[iid] if a["score"] is not None]
        candidate_id, name = people.get(iid, ("", None))
        items.append(
            {
                "interview_id": str(iid),
                "candidate_id": candidate_id,
                "candidate_name": name,
                "overall_score": round(sum(scores) / len(scores), 2) if scores else None,
                "answered": len(answers[iid]),
                "failed": sum(1 for a in answers[iid] if a["status"] == Status.FAILED.value),
                "completed_at": now.isoformat(),
                "answers": answers[iid],
            }
        )
    emit(session, "interview.completed", items, endpoints=targets)


def _complete_batches(session: Session, submission_ids: Sequence[uuid.UUID], targets: list[int]) -> None:
    locked = list(
        session.scalars(
            select(Batch.id)
            .where(
                Batch.finished_at.is_(None),
                Batch.id.in_(select(BatchItem.batch_id).where(BatchItem.submission_id.in_(list(submission_ids)))),
            )
            .order_by(Batch.id)
            .with_for_update()
        )
    )
    if not locked:
        return
    counts: dict[uuid.UUID, dict[str, int]] = {bid: {} for bid in locked}
    last: dict[uuid.UUID, Any] = {}
    # When the batch finished: its last answer's grade (or failure), as the batch's progress says it.
    finished_when = func.max(func.coalesce(Submission.graded_at, Submission.updated_at))
    for bid, status, n, when in session.execute(
        select(BatchItem.batch_id, Submission.status, func.count(), finished_when)
        .join(Submission, Submission.id == BatchItem.submission_id)
        .where(BatchItem.batch_id.in_(locked))
        .group_by(BatchItem.batch_id, Submission.status)
    ):
        counts[bid][status] = int(n)
        last[bid] = max(when, last[bid]) if bid in last and when is not None else (when or last.get(bid))
    done = [bid for bid in locked if not any(counts[bid].get(s) for s in _BATCH_OPEN)]
    if not done:
        return
    now = utcnow()
    for bid in done:
        session.execute(update(Batch).where(Batch.id == bid).values(finished_at=last.get(bid) or now))
    emit(
        session,
        "batch.completed",
        [
            {
                "batch_id": str(bid),
                "answers": sum(counts[bid].values()),
                "graded": counts[bid].get(Status.GRADED.value, 0),
                "needs_review": counts[bid].get(Status.NEEDS_REVIEW.value, 0),
                "failed": counts[bid].get(Status.FAILED.value, 0),
                "finished_at": (last.get(bid) or now).isoformat(),
            }
            for bid in done
        ],
        endpoints=targets,
    )
