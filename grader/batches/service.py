"""Batch use cases: accept a parsed sheet, report progress, read results, grade a chunk, sweep stalls.

Every answer becomes an ordinary `Submission` (so review, retries and idempotency work as for one sent
over REST); the batch only records where it came from. Work is sent in chunks on a queue of its own
(`<queue>.batch`): a worker takes its interactive queue first, so a submission sent over REST waits at
most for the chunk in hand, never for the rest of the batch.

As in `grader.service`, functions take the caller's session and never commit; `run_chunk` is the
background job and owns its two short transactions, with the engine running outside both.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Literal, Protocol

from sqlalchemy import and_, func, insert, select, update
from sqlalchemy.orm import Session

from grader import metrics, service
from grader.auth import SYSTEM, Principal
from grader.batches.export import AnswerResult, missed_key_points
from grader.batches.parsing import ParsedSheet
from grader.db.base import utcnow
from grader.db.batch_models import Batch, BatchItem
from grader.db.models import Grade, Status, Submission
from grader.db.review_models import ResultRow
from grader.db.session import SessionFactory, on_commit, session_scope
from grader.errors import BatchNotFound, GraderError
from grader.scoring.types import KeyPointResult, Reference, ScoreResult

if TYPE_CHECKING:
    from grader.grading import Grader

log = logging.getLogger(__name__)

# About one second of engine time (~20 ms an answer, graded in one call): short enough that an interactive
# submission barely waits behind it, long enough that the per-chunk overhead (a message, two transactions of
# about ten statements, ~40 ms of worker CPU) stays near 1 ms an answer.
CHUNK_SIZE = 50
ROW_ERRORS_KEPT = 5_000
FINISHED = (Status.GRADED.value, Status.NEEDS_REVIEW.value, Status.FAILED.value)
OPEN = (Status.PENDING.value, Status.RUNNING.value)


class BatchDispatcher(Protocol):
    """Sends a chunk of committed batch submissions to whatever grades them."""

    def enqueue_chunk(self, batch_id: uuid.UUID, submission_ids: Sequence[uuid.UUID]) -> None: ...


def chunks(ids: Sequence[uuid.UUID], size: int = CHUNK_SIZE) -> list[Sequence[uuid.UUID]]:
    return [ids[i:i + size] for i in range(0, len(ids), size)]


# --- creating ----------------------------------------------------------------------------------------------


def find_existing(session: Session, actor: Principal, content_hash: str) -> Batch | None:
    """The caller's latest batch from the same bytes: re-uploading a file does not grade it twice."""
    return session.scalar(select(Batch).where(Batch.submitted_by == actor.key_id,
                                              Batch.content_hash == content_hash)
                          .order_by(Batch.created_at.desc()).limit(1))


def create_batch(session: Session, sheet: ParsedSheet, *, filename: str | None, actor: Principal,
                 bank: Mapping[str, Reference], dispatcher: BatchDispatcher) -> Batch:
    """Store the batch and one pending submission per accepted answer; dispatch chunks after commit."""
    for question_id in sorted({a.question_id for a in sheet.answers}):
        service.sync_question(session, bank[question_id])
    now = utcnow()
    batch = Batch(
        id=uuid.uuid4(), content_hash=sheet.content_hash, filename=(filename or None) and filename[:255],
        file_format=sheet.file_format, layout=sheet.layout, encoding=sheet.encoding,
        sheet_name=sheet.sheet_name, data_rows=sheet.data_rows, accepted=len(sheet.answers),
        rejected=len(sheet.errors), row_errors=[row_error_json(e) for e in sheet.errors[:ROW_ERRORS_KEPT]],
        columns={"mapping": sheet.columns, "ignored": sheet.ignored_columns, "header_row": sheet.header_row,
                 "delimiter": sheet.delimiter},
        submitted_by=actor.key_id, created_at=now,
        finished_at=now if not sheet.answers else None,
    )
    session.add(batch)
    session.flush()
    ids = [uuid.uuid4() for _ in sheet.answers]
    if ids:
        # Core bulk inserts: tens of thousands of ORM objects would take longer than the parse itself.
        session.execute(insert(Submission), [{
            "id": sid, "candidate_id": a.candidate_id, "candidate_name": a.candidate_name,
            "candidate_email": a.candidate_email, "question_id": a.question_id, "answer": a.answer,
            "status": Status.PENDING.value, "attempts": 0, "submitted_by": actor.key_id,
            "created_at": now, "updated_at": now,
        } for sid, a in zip(ids, sheet.answers, strict=True)])
        session.execute(insert(BatchItem), [
            {"submission_id": sid, "batch_id": batch.id, "position": i, "row": a.row}
            for i, (sid, a) in enumerate(zip(ids, sheet.answers, strict=True))])
    service.audit(session, actor, "batch.created", "batch", batch.id, filename=filename,
                  content_hash=sheet.content_hash, accepted=len(ids), rejected=len(sheet.errors))
    batch_id = batch.id
    on_commit(session, lambda: _dispatch(dispatcher, batch_id, ids))
    return batch


def _dispatch(dispatcher: BatchDispatcher, batch_id: uuid.UUID, ids: Sequence[uuid.UUID]) -> None:
    for chunk in chunks(ids):
        dispatcher.enqueue_chunk(batch_id, chunk)


def row_error_json(error: Any) -> dict[str, Any]:
    return {"row": error.row, "code": str(error.code), "reason": error.reason, "column": error.column,
            "candidate_id": error.candidate_id, "question_id": error.question_id}


# --- reading -----------------------------------------------------------------------------------------------


def get_batch(session: Session, batch_id: uuid.UUID, actor: Principal) -> Batch:
    batch = session.get(Batch, batch_id)
    # Like submissions: another recruiter's batch is not even said to exist.
    if batch is None or not (actor.sees_everything or batch.submitted_by == actor.key_id):
        raise BatchNotFound(batch_id)
    return batch


@dataclass(frozen=True)
class Progress:
    status: Literal["queued", "running", "done"]
    counts: dict[str, int]  # pending (incl. running), graded, needs_review, failed
    total: int
    finished: int
    progress: float  # 0..1
    answers_per_second: float | None
    eta_seconds: float | None
    finished_at: datetime | None


def progress(session: Session, batch: Batch, now: datetime | None = None) -> Progress:
    now = now or utcnow()
    rows = session.execute(
        select(Submission.status, func.count(), func.max(Submission.updated_at))
        .join(BatchItem, BatchItem.submission_id == Submission.id)
        .where(BatchItem.batch_id == batch.id).group_by(Submission.status)
    ).all()
    by_status = {status: count for status, count, _ in rows}
    counts = {
        "pending": by_status.get(Status.PENDING.value, 0) + by_status.get(Status.RUNNING.value, 0),
        "graded": by_status.get(Status.GRADED.value, 0),
        "needs_review": by_status.get(Status.NEEDS_REVIEW.value, 0),
        "failed": by_status.get(Status.FAILED.value, 0),
    }
    # Answers the batch says it accepted but that have no row (never expected: batch and items commit
    # together) count as pending, so a batch can never look done while any of its answers is missing.
    missing = max(batch.accepted - sum(by_status.values()), 0)
    counts["pending"] += missing
    total = sum(by_status.values()) + missing
    finished = total - counts["pending"]
    last = max((when for status, _, when in rows if status in FINISHED and when is not None), default=None)
    if finished == total and batch.finished_at is None:
        batch.finished_at = last or now  # the caller's transaction keeps it
    rate = None
    if finished and last is not None and last > batch.created_at:
        rate = finished / (last - batch.created_at).total_seconds()
    eta = None if rate is None or finished == total else (total - finished) / rate
    if finished == total:
        status: Literal["queued", "running", "done"] = "done"
    elif finished or by_status.get(Status.RUNNING.value):
        status = "running"
    else:
        status = "queued"
    return Progress(status, counts, total, finished, finished / total if total else 1.0, rate,
                    eta if eta is None else round(eta, 1), batch.finished_at)


def results(session: Session, batch: Batch) -> list[AnswerResult]:
    """One row per answer, in sheet order, with its latest grade."""
    items = session.execute(
        select(BatchItem.row, Submission).join(Submission, BatchItem.submission_id == Submission.id)
        .where(BatchItem.batch_id == batch.id).order_by(BatchItem.position)
    ).all()
    latest: dict[uuid.UUID, Grade] = {}
    grades = session.scalars(
        select(Grade).where(Grade.submission_id.in_(
            select(BatchItem.submission_id).where(BatchItem.batch_id == batch.id)))
        .order_by(Grade.created_at.desc(), Grade.id.desc()))
    for g in grades:
        latest.setdefault(g.submission_id, g)
    # A reviewer's final score replaces the grader's (grader.review); the audit log keeps both.
    reviewed = {sid: final for sid, final in session.execute(
        select(ResultRow.submission_id, ResultRow.final_score)
        .where(ResultRow.batch_id == batch.id, ResultRow.reviewed.is_(True)))}
    out = []
    for row, s in items:
        found = latest.get(s.id)
        grade = found if s.status in (Status.GRADED.value, Status.NEEDS_REVIEW.value) else None
        out.append(AnswerResult(
            candidate_id=s.candidate_id, question_id=s.question_id, status=s.status, row=row,
            candidate_name=s.candidate_name, candidate_email=s.candidate_email,
            score=reviewed.get(s.id, grade.score) if grade else None,
            confidence=grade.confidence if grade else None,
            flags=list(grade.flags) if grade else [],
            missed_key_points=_missed(grade.key_points) if grade else [],
            feedback=grade.feedback if grade else None,
            error=s.failure_reason, submission_id=str(s.id),
        ))
    return out


def _missed(key_points: Iterable[dict[str, Any]]) -> list[str]:
    return missed_key_points(KeyPointResult.model_validate(kp) for kp in key_points)


# --- grading a chunk (background) -----------------------------------------------------------------------


def run_chunk(factory: SessionFactory, submission_ids: Sequence[uuid.UUID], grader: Callable[[], Grader],
              review_confidence_below: float, *, retry: bool = False) -> dict[str, int]:
    """Grade a chunk with one transaction to claim it and one to record it, a fixed handful of statements
    each (`service.claim_many`, `service.record_many`), and one engine call for the whole chunk.

    Per answer this is the same claim → engine → record as `service.run_grading`, so a chunk that runs
    twice, or overlaps a sweep's re-enqueue, writes each grade once. A database error propagates (the
    task retries the chunk); an engine error fails only the submission it came from, with the reason.
    """
    from grader.grading import SCORING_VERSION

    engine = grader()
    with session_scope(factory) as session:
        jobs, _deleted = service.claim_many(session, submission_ids, engine.bank, SCORING_VERSION,
                                            charge_attempt=not retry)
    results, problems = _grade(engine, jobs)
    counts = {"graded": 0, "needs_review": 0, "failed": 0, "skipped": len(submission_ids) - len(jobs)}
    with session_scope(factory) as session:
        for job in jobs:
            if job.submission_id in problems:
                service.fail(session, job.submission_id, f"grading failed: {problems[job.submission_id]}")
                counts["failed"] += 1
        statuses = service.record_many(session, [(job, results[job.submission_id]) for job in jobs
                                                 if job.submission_id in results], review_confidence_below)
    for status in statuses.values():
        counts[status.value] = counts.get(status.value, 0) + 1
    return counts


def _grade(engine: Grader,
           jobs: Sequence[service.Job]) -> tuple[dict[uuid.UUID, ScoreResult], dict[uuid.UUID, str]]:
    """Grade the jobs with one `grade_many` call (the answers are embedded together); when it raises,
    grade them one by one so that only the answer at fault fails."""
    if not jobs:
        return {}, {}
    started = time.perf_counter()
    try:
        graded = engine.grade_many([(job.question_id, job.answer) for job in jobs])
    except Exception:
        log.warning("grading a chunk of %d together failed; grading its answers one by one", len(jobs))
    else:
        metrics.record_grading_many(time.perf_counter() - started, len(jobs))
        return {job.submission_id: result for job, result in zip(jobs, graded, strict=True)}, {}
    results: dict[uuid.UUID, ScoreResult] = {}
    problems: dict[uuid.UUID, str] = {}
    for job in jobs:
        started = time.perf_counter()
        try:
            results[job.submission_id] = engine.grade(job.question_id, job.answer)
            metrics.record_grading(time.perf_counter() - started)
        except Exception as exc:
            log.exception("grading submission %s failed", job.submission_id)
            problems[job.submission_id] = (exc.message if isinstance(exc, GraderError)
                                           else f"{type(exc).__name__}: {exc}")
    return results, problems


# --- keeping batches moving -------------------------------------------------------------------------------


@dataclass(frozen=True)
class BatchSweep:
    kept_alive: int
    redispatched: int


def sweep_batches(session: Session, dispatcher: BatchDispatcher, *, stuck_after: timedelta,
                  now: datetime | None = None) -> BatchSweep:
    """Keep queued batch answers out of the interactive sweep while batches progress; re-dispatch them
    when no batch work has moved for `stuck_after` (chunk messages lost, every worker was down).

    A queued answer legitimately waits longer than the interactive deadline behind a large batch.
    `service.sweep_stuck` would then re-enqueue it on the interactive queue; refreshing its clock while
    any batch work progresses prevents that, and once nothing moves it goes back on the batch queue.
    """
    now = now or utcnow()
    open_items = (select(BatchItem.batch_id, Submission.id)
                  .join(Submission, BatchItem.submission_id == Submission.id)
                  .join(Batch, Batch.id == BatchItem.batch_id)
                  .where(Batch.finished_at.is_(None), Submission.status == Status.PENDING.value))
    moving = session.scalar(
        select(func.count()).select_from(
            select(Submission.id).join(BatchItem, BatchItem.submission_id == Submission.id)
            .where(Submission.status != Status.PENDING.value, Submission.updated_at >= now - stuck_after)
            .limit(1).subquery()))
    if moving:
        stale = open_items.where(Submission.updated_at < now - stuck_after / 2)
        ids = [sid for _, sid in session.execute(stale)]
        _touch(session, ids, now)
        return BatchSweep(kept_alive=len(ids), redispatched=0)
    stalled = session.execute(open_items.where(Submission.updated_at < now - stuck_after)
                              .order_by(BatchItem.batch_id, BatchItem.position)).all()
    if not stalled:
        return BatchSweep(0, 0)
    _touch(session, [sid for _, sid in stalled], now)
    by_batch: dict[uuid.UUID, list[uuid.UUID]] = {}
    for batch_id, sid in stalled:
        by_batch.setdefault(batch_id, []).append(sid)
    service.audit(session, SYSTEM, "batch.redispatched", "sweep", now.isoformat(),
                  batches={str(b): len(ids) for b, ids in by_batch.items()})

    def send() -> None:
        for batch_id, ids in by_batch.items():
            _dispatch(dispatcher, batch_id, ids)
    on_commit(session, send)
    return BatchSweep(kept_alive=0, redispatched=len(stalled))


def _touch(session: Session, ids: Sequence[uuid.UUID], now: datetime) -> None:
    for i in range(0, len(ids), 1000):
        session.execute(update(Submission)
                        .where(and_(Submission.id.in_(ids[i:i + 1000]),
                                    Submission.status == Status.PENDING.value))
                        .values(updated_at=now))


# --- dispatchers -------------------------------------------------------------------------------------------


class CeleryBatchDispatcher:
    def __init__(self, celery: Any, queue: str) -> None:
        self._celery = celery
        self._queue = queue

    def enqueue_chunk(self, batch_id: uuid.UUID, submission_ids: Sequence[uuid.UUID]) -> None:
        from grader.worker.celery_app import BATCH_CHUNK_TASK, request_headers

        self._celery.send_task(BATCH_CHUNK_TASK, args=[str(batch_id), [str(s) for s in submission_ids]],
                               queue=self._queue, headers=request_headers())


class EmbeddedBatchDispatcher:
    """Embedded mode has one grading thread: batch answers join its queue one by one."""

    def __init__(self, dispatcher: service.Dispatcher) -> None:
        self._dispatcher = dispatcher

    def enqueue_chunk(self, batch_id: uuid.UUID, submission_ids: Sequence[uuid.UUID]) -> None:
        for sid in submission_ids:
            self._dispatcher.enqueue(sid)
