"""Claiming submissions for grading and recording their grades: the grading path's SQL.

A claim marks submissions running (or fails those out of attempts or whose question is in no published
bank);
a record writes grades idempotently (one row per submission, scoring version and reference hash),
finishes the submissions, refreshes their result rows and audits the grades actually written. Both
take a whole chunk in a fixed handful of statements. Functions take the caller's session and never
commit; `grader.grading.run` owns the transactions.
"""

from __future__ import annotations

import logging
import os
import socket
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from functools import lru_cache
from typing import Any

from sqlalchemy import Integer, and_, bindparam, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from grader.audit import audit
from grader.db.base import Base, utcnow
from grader.db.batch_models import BatchItem
from grader.db.models import Grade, Status, Submission
from grader.errors import SubmissionNotFound
from grader.grading.gather import lease_check
from grader.keys.principal import SYSTEM
from grader.questions.pins import latest_pins
from grader.review.results_index import IndexedSubmission, LatestGrade, index_results
from grader.scoring.calibration import routed
from grader.scoring.types import ScoreResult
from grader.submissions.statuses import GRADED, OPEN
from grader.webhooks import events as webhook_events

log = logging.getLogger(__name__)

# A submission claimed this many times without a grade (worker killed mid-task, poison input) is failed
# instead of being handed out again: `task_reject_on_worker_lost` would otherwise redeliver it forever.
MAX_ATTEMPTS = 3
# A claim is a lease: the worker renews it while it grades (grader.grading.run); once it has run out the
# worker is taken for dead and the sweep (every `lease_sweep_seconds`) hands the work to another.
DEFAULT_LEASE_SECONDS = 20.0


def worker_id() -> str:
    """Who holds a claim: host and process (a pool child has its own pid)."""
    return f"{socket.gethostname()}:{os.getpid()}"[:200]


# The grading path's statements are built once: a task only binds its ids and values, so SQLAlchemy
# neither rebuilds nor recompiles them, and the inserts go out as one multi-row statement however many
# rows they carry (`insertmanyvalues`).
_CLAIM_READ = (
    # One row per submission and grade under this engine version (usually none): the lock and the
    # "already graded" check in one round trip. Rows are locked in id order, as every grading run takes them.
    select(
        Submission.id,
        Submission.question_id,
        Submission.answer,
        Submission.status,
        Submission.attempts,
        Submission.reference_hash.label("pinned_hash"),
        Submission.claimed_by,
        Submission.lease_until,
        Grade.reference_hash,
    )
    .outerjoin(Grade, and_(Grade.submission_id == Submission.id, Grade.scoring_version == bindparam("version")))
    .where(Submission.id.in_(bindparam("ids", expanding=True)))
    .order_by(Submission.id)
    .with_for_update(of=Submission)
)
_MARK_RUNNING = (
    update(Submission)
    .where(Submission.id.in_(bindparam("ids", expanding=True)))
    .values(
        status=Status.RUNNING.value,
        updated_at=bindparam("now"),
        attempts=Submission.attempts + bindparam("charge", type_=Integer),
        claimed_by=bindparam("worker"),
        lease_until=bindparam("lease_until"),
    )
    .execution_options(synchronize_session=False)
)
_RENEW = (
    update(Submission)
    .where(
        Submission.id.in_(bindparam("ids", expanding=True)),
        Submission.status == Status.RUNNING.value,
        Submission.claimed_by == bindparam("worker"),
    )
    .values(lease_until=bindparam("lease_until"))
    .execution_options(synchronize_session=False)
)
_RECORD_LOCK = (
    select(
        Submission.id,
        Submission.status,
        Submission.graded_at,
        Submission.question_id,
        Submission.candidate_id,
        BatchItem.batch_id,
        # No grade yet (the usual case): the one written now is the latest, no need to read it back.
        select(Grade.id).where(Grade.submission_id == Submission.id).exists().label("has_grades"),
    )
    .outerjoin(BatchItem, BatchItem.submission_id == Submission.id)
    .where(Submission.id.in_(bindparam("ids", expanding=True)))
    .order_by(Submission.id)
    .with_for_update(of=Submission)
)
_FINISH = (
    update(Submission)
    .where(Submission.id.in_(bindparam("ids", expanding=True)))
    .values(
        status=bindparam("new_status"), failure_reason=None, updated_at=bindparam("now"), graded_at=bindparam("now")
    )
    .execution_options(synchronize_session=False)
)


_PIN = (
    update(Base.metadata.tables["submissions"])
    .where(Base.metadata.tables["submissions"].c.id == bindparam("sid"))
    .values(reference_hash=bindparam("pinned"))
)


@dataclass(frozen=True)
class _Inserts:
    grade: Any
    audit: Any


@lru_cache(maxsize=4)
def _inserts(dialect: str) -> _Inserts:
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    tables = Base.metadata.tables
    grades = tables["grades"]
    return _Inserts(
        grade=insert(grades)
        .on_conflict_do_nothing(index_elements=["submission_id", "scoring_version", "reference_hash"])
        .returning(grades.c.submission_id, grades.c.id),
        audit=insert(tables["audit_log"]),
    )


@dataclass(frozen=True)
class Job:
    submission_id: uuid.UUID
    question_id: str
    answer: str
    reference_hash: str  # the pinned reference version it is graded against


def _finish(submission: Submission, status: Status, reason: str | None = None) -> None:
    submission.status = status.value
    submission.failure_reason = reason
    submission.updated_at = utcnow()
    if status in GRADED:
        submission.graded_at = submission.updated_at


def fail(session: Session, submission_id: uuid.UUID, reason: str) -> None:
    submission = session.get(Submission, submission_id)
    if submission is None:
        raise SubmissionNotFound(submission_id)
    _finish(submission, Status.FAILED, reason)
    audit(session, SYSTEM, "submission.failed", "submission", submission_id, reason=reason)
    webhook_events.finished(session, [submission_id])  # the last open answer of an interview or batch


def claim(
    session: Session,
    submission_id: uuid.UUID,
    scoring_version: str,
    *,
    charge_attempt: bool = True,
    lease_seconds: float = DEFAULT_LEASE_SECONDS,
) -> Job | None:
    """Mark the submission running and return what to grade, or None when there is nothing to do
    (already graded with this engine and reference, finished, or given up on).

    `charge_attempt=False` is for a task's own retry after a database error: that run is known to have
    failed to reach the database, not to have lost the worker, and the task bounds those retries itself;
    counting them as attempts would fail healthy answers after a few dropped connections."""
    jobs, missing = claim_many(
        session, [submission_id], scoring_version, charge_attempt=charge_attempt, lease_seconds=lease_seconds
    )
    if missing:
        raise SubmissionNotFound(submission_id)
    return jobs[0] if jobs else None


def claim_many(
    session: Session,
    submission_ids: Iterable[uuid.UUID],
    scoring_version: str,
    *,
    charge_attempt: bool = True,
    lease_seconds: float = DEFAULT_LEASE_SECONDS,
    leave_leased: bool = False,
) -> tuple[list[Job], list[uuid.UUID]]:
    """`claim` for several submissions in two statements (read and lock, mark running), plus a few per
    submission that has to be failed. Returns the jobs in id order and the ids that do not exist.

    A submission is graded against the reference version it pinned at submit; one submitted before
    pinning is pinned now to its question's latest published version. `leave_leased` skips those another
    live worker holds (`grader.grading.gather`: answers gathered together are not graded twice)."""
    leased_elsewhere = lease_check(worker_id(), utcnow())
    ids = sorted(set(submission_ids))
    rows = session.execute(_CLAIM_READ, {"ids": ids, "version": scoring_version}).all()
    unpinned = {row.question_id for row in rows if row.pinned_hash is None and row.status in OPEN}
    latest = latest_pins(session, unpinned) if unpinned else {}
    pinning: list[dict[str, Any]] = []
    graded = {(row.id, row.reference_hash) for row in rows if row.reference_hash is not None}
    seen: set[uuid.UUID] = set()
    jobs: list[Job] = []
    skipped: dict[str, int] = {}
    for row in rows:
        if row.id in seen:
            continue
        seen.add(row.id)
        if row.status not in OPEN or (leave_leased and leased_elsewhere(row)):
            if log.isEnabledFor(logging.DEBUG):
                why = row.status if row.status not in OPEN else f"leased by {row.claimed_by} to {row.lease_until}"
                skipped[why] = skipped.get(why, 0) + 1
            continue
        pinned = row.pinned_hash
        if pinned is None and row.question_id in latest:
            pinned = latest[row.question_id].content_hash
            pinning.append({"sid": row.id, "pinned": pinned})
        if pinned is None:
            fail(session, row.id, f"question '{row.question_id}' is in no published question bank")
        elif (row.id, pinned) in graded:
            continue  # graded by a run that died before it could update the status: sweep-proof no-op
        elif charge_attempt and row.attempts >= MAX_ATTEMPTS:
            fail(
                session,
                row.id,
                f"gave up after {row.attempts} attempts without a grade (the worker was lost or timed out each time)",
            )
        else:
            jobs.append(Job(row.id, row.question_id, row.answer, pinned))
    if skipped:
        log.debug("claim by %s skipped %d of %d: %s", worker_id(), sum(skipped.values()), len(ids), skipped)
    if pinning:
        session.execute(_PIN, pinning)
    if jobs:
        now = utcnow()
        session.execute(
            _MARK_RUNNING,
            {
                "ids": [job.submission_id for job in jobs],
                "now": now,
                "charge": 1 if charge_attempt else 0,
                "worker": worker_id(),
                "lease_until": now + timedelta(seconds=lease_seconds),
            },
        )
    return jobs, [sid for sid in ids if sid not in seen]


def renew_leases(session: Session, submission_ids: Sequence[uuid.UUID], lease_seconds: float) -> None:
    """Extend this worker's leases on the submissions it is still grading."""
    session.execute(
        _RENEW,
        {
            "ids": list(submission_ids),
            "worker": worker_id(),
            "lease_until": utcnow() + timedelta(seconds=lease_seconds),
        },
    )


def needs_review(result: ScoreResult, review_confidence_below: float) -> bool:
    """Low confidence, or a flag that does not cap the score (a capped non-answer is graded 0):
    `calibration.routed`, the rule the evaluation reports by."""
    return routed(result.confidence, [f.value for f in result.flags], review_confidence_below)


def record(session: Session, job: Job, result: ScoreResult, review_confidence_below: float) -> Status:
    """Write the grade idempotently (one row per submission, scoring version and reference hash)."""
    statuses = record_many(session, [(job, result)], review_confidence_below)
    if job.submission_id not in statuses:
        raise SubmissionNotFound(job.submission_id)
    return statuses[job.submission_id]


def record_many(
    session: Session, graded: Sequence[tuple[Job, ScoreResult]], review_confidence_below: float
) -> dict[uuid.UUID, Status]:
    """`record` for several grades in a fixed handful of statements, whatever their number: lock the
    submissions, insert the grades (ON CONFLICT DO NOTHING), finish the open submissions, refresh their
    result rows, audit the grades actually written. Submissions deleted since their claim are skipped
    (absent from the returned statuses)."""
    if not graded:
        return {}
    return _record(session, _inserts(session.get_bind().dialect.name), graded, review_confidence_below)


def _record(
    session: Session, inserts: _Inserts, graded: Sequence[tuple[Job, ScoreResult]], review_confidence_below: float
) -> dict[uuid.UUID, Status]:
    # Lock in id order (as claims do), then write: a concurrent run of the same answers waits here.
    locked = {
        row.id: row for row in session.execute(_RECORD_LOCK, {"ids": sorted({job.submission_id for job, _ in graded})})
    }
    graded = [(job, result) for job, result in graded if job.submission_id in locked]
    if not graded:
        return {}
    now = utcnow()
    written = dict(
        session.execute(
            inserts.grade,
            [
                {
                    "submission_id": job.submission_id,
                    "question_id": job.question_id,
                    "scoring_version": result.provenance.scoring_version,
                    "reference_hash": result.provenance.reference_hash,
                    "embedder": result.provenance.embedder,
                    "calibration": result.provenance.calibration,
                    "score": result.score,
                    "confidence": result.confidence,
                    "flags": [flag.value for flag in result.flags],
                    "key_points": [kp.model_dump(mode="json") for kp in result.key_points],
                    "feedback": result.feedback,
                    "signals": result.signals,
                    "created_at": now,
                }
                for job, result in graded
            ],
        ).all()
    )
    statuses = {
        job.submission_id: Status.NEEDS_REVIEW if needs_review(result, review_confidence_below) else Status.GRADED
        for job, result in graded
    }
    current = {sid: (row.status, row.graded_at) for sid, row in locked.items()}
    finishing: dict[Status, list[uuid.UUID]] = {}
    for sid, status in statuses.items():
        if current[sid][0] in OPEN:
            finishing.setdefault(status, []).append(sid)
            current[sid] = (status.value, now)
    for status, ids in finishing.items():
        session.execute(_FINISH, {"ids": ids, "new_status": status.value, "now": now})
    first = {
        job.submission_id: LatestGrade(
            written[job.submission_id],
            job.submission_id,
            result.score,
            result.confidence,
            [flag.value for flag in result.flags],
            now,
        )
        for job, result in graded
        if job.submission_id in written and not locked[job.submission_id].has_grades
    }
    index_results(
        session,
        [
            IndexedSubmission(sid, current[sid][0], current[sid][1], row.question_id, row.candidate_id, row.batch_id)
            for sid, row in locked.items()
            if sid in statuses
        ],
        known=first,
    )
    audits = [
        {
            "actor_key_id": SYSTEM.key_id,
            "actor": SYSTEM.name,
            "action": "submission.graded",
            "entity_type": "submission",
            "entity_id": str(job.submission_id),
            "at": now,
            "details": {
                "score": result.score,
                "confidence": result.confidence,
                "status": statuses[job.submission_id].value,
                "scoring_version": result.provenance.scoring_version,
                "reference_hash": result.provenance.reference_hash,
            },
        }
        for job, result in graded
        if job.submission_id in written
    ]
    if audits:
        session.execute(inserts.audit, audits)
    # Events for receivers (an outbox row per subscriber, sent later by the webhooks queue) and the
    # interviews and batches these grades complete.
    webhook_events.graded(session, [job.submission_id for job, _ in graded if job.submission_id in written])
    return statuses
