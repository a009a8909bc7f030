"""Keeping batches moving: the batch sweep, run by Celery beat or by the embedded queue's thread.

A queued batch answer legitimately waits longer than the interactive deadline behind a large batch;
this sweep keeps such answers out of the interactive sweep (`grader.grading.sweep`) while batch work
progresses, and re-queues their chunks once nothing has moved for the deadline.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import and_, func, select, update
from sqlalchemy.orm import Session

from grader.audit import audit
from grader.batches.uploads import enqueue_chunks
from grader.db.base import utcnow
from grader.db.batch_models import Batch, BatchItem
from grader.db.models import Status, Submission
from grader.db.session import on_commit
from grader.keys.principal import SYSTEM
from grader.queue.port import Queue


@dataclass(frozen=True)
class BatchSweep:
    kept_alive: int
    redispatched: int


def sweep_batches(session: Session, queue: Queue, *, stuck_after: timedelta, now: datetime | None = None) -> BatchSweep:
    """Keep queued batch answers out of the interactive sweep while batches progress; re-dispatch them
    when no batch work has moved for `stuck_after` (chunk messages lost, every worker was down).

    A queued answer legitimately waits longer than the interactive deadline behind a large batch.
    `grader.grading.sweep.sweep_stuck` would then re-enqueue it on the interactive queue; refreshing its
    clock while any batch work progresses prevents that, and once nothing moves it goes back on the batch
    queue.
    """
    now = now or utcnow()
    open_items = (
        select(BatchItem.batch_id, Submission.id)
        .join(Submission, BatchItem.submission_id == Submission.id)
        .join(Batch, Batch.id == BatchItem.batch_id)
        .where(Batch.finished_at.is_(None), Submission.status == Status.PENDING.value)
    )
    moving = session.scalar(
        select(func.count()).select_from(
            select(Submission.id)
            .join(BatchItem, BatchItem.submission_id == Submission.id)
            .where(Submission.status != Status.PENDING.value, Submission.updated_at >= now - stuck_after)
            .limit(1)
            .subquery()
        )
    )
    if moving:
        stale = open_items.where(Submission.updated_at < now - stuck_after / 2)
        ids = [sid for _, sid in session.execute(stale)]
        _touch(session, ids, now)
        return BatchSweep(kept_alive=len(ids), redispatched=0)
    stalled = session.execute(
        open_items.where(Submission.updated_at < now - stuck_after).order_by(BatchItem.batch_id, BatchItem.position)
    ).all()
    if not stalled:
        return BatchSweep(0, 0)
    _touch(session, [sid for _, sid in stalled], now)
    by_batch: dict[uuid.UUID, list[uuid.UUID]] = {}
    for batch_id, sid in stalled:
        by_batch.setdefault(batch_id, []).append(sid)
    audit(
        session,
        SYSTEM,
        "batch.redispatched",
        "sweep",
        now.isoformat(),
        batches={str(b): len(ids) for b, ids in by_batch.items()},
    )

    def send() -> None:
        for batch_id, ids in by_batch.items():
            enqueue_chunks(queue, batch_id, ids)

    on_commit(session, send)
    return BatchSweep(kept_alive=0, redispatched=len(stalled))


def _touch(session: Session, ids: Sequence[uuid.UUID], now: datetime) -> None:
    for i in range(0, len(ids), 1000):
        session.execute(
            update(Submission)
            .where(and_(Submission.id.in_(ids[i : i + 1000]), Submission.status == Status.PENDING.value))
            .values(updated_at=now)
        )
