"""The sweep: re-enqueue submissions left pending/running past a deadline (a lost message, a crash
between commit and enqueue) or running on a lease that ran out (a killed worker stops renewing it), and
fail those that have used up their attempts. Celery beat runs it every `lease_sweep_seconds`; the
embedded queue runs it in its own thread."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import and_, or_, select
from sqlalchemy.orm import Session

from grader.audit import audit
from grader.db.base import utcnow
from grader.db.models import Status, Submission
from grader.db.session import on_commit
from grader.grading.record import MAX_ATTEMPTS, fail
from grader.keys.principal import SYSTEM
from grader.queue.port import Queue
from grader.submissions.statuses import OPEN, values


@dataclass(frozen=True)
class SweepResult:
    requeued: list[uuid.UUID]
    failed: list[uuid.UUID]


def sweep_stuck(
    session: Session, queue: Queue, *, stuck_after: timedelta, now: datetime | None = None, batch: int = 500
) -> SweepResult:
    """Re-enqueue submissions left pending/running past the deadline (lost message, crash between commit
    and enqueue, killed worker); fail those that have used up their attempts."""
    now = now or utcnow()
    stuck = session.scalars(
        select(Submission)
        .where(
            Submission.status.in_(values(OPEN)),
            or_(
                Submission.updated_at < now - stuck_after,
                and_(Submission.status == Status.RUNNING.value, Submission.lease_until < now),
            ),
        )
        .order_by(Submission.updated_at)
        .limit(batch)
        .with_for_update(skip_locked=True)
    ).all()
    result = SweepResult([], [])
    for submission in stuck:
        if submission.attempts >= MAX_ATTEMPTS:
            fail(session, submission.id, f"gave up after {submission.attempts} attempts without a grade")
            result.failed.append(submission.id)
            continue
        submission.updated_at = now  # restarts its clock, so the next sweep does not enqueue it again
        submission.lease_until = None  # the dead worker's lease is over; the next claim takes a new one
        result.requeued.append(submission.id)
    if result.requeued:
        audit(
            session,
            SYSTEM,
            "submission.requeued",
            "sweep",
            now.isoformat(),
            submission_ids=[str(i) for i in result.requeued],
        )
        on_commit(session, _enqueue_all(queue, list(result.requeued)))
    return result


def _enqueue_all(queue: Queue, ids: list[uuid.UUID]) -> Callable[[], None]:
    def enqueue() -> None:
        for submission_id in ids:
            queue.enqueue(submission_id)

    return enqueue
