"""Batch use cases: accept a parsed sheet, report progress, read and download results.

Every answer becomes an ordinary `Submission` (so review, retries and idempotency work as for one sent
over REST); the batch only records where it came from. Work is queued in chunks (`Queue.enqueue_chunk`):
with Celery on a queue of its own (`<queue>.batch`) that a worker takes only when no interactive
submission waits; the embedded queue does the same in its thread. The chunks are graded by
`grader.grading.run.run_chunk`.

Functions take the caller's session and never commit.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from sqlalchemy import func, insert, select
from sqlalchemy.orm import Session

from grader.audit import audit
from grader.batches.export import (
    MEDIA_TYPES,
    REJECTED,
    AnswerResult,
    Format,
    View,
    export,
    missed_key_points,
    timestamp,
)
from grader.batches.interviews import group_sheet_interviews
from grader.batches.parsing import ParsedSheet, content_hash, parse_sheet
from grader.batches.schemas import PATH, BatchCounts, BatchOut, RowErrorOut
from grader.db.base import utcnow
from grader.db.batch_models import Batch, BatchItem
from grader.db.models import Question, Status, Submission
from grader.db.review_models import ResultRow
from grader.db.session import on_commit
from grader.errors import BatchNotFound
from grader.keys.principal import Principal
from grader.questions.pins import latest_pins, published_questions
from grader.queue.port import Queue
from grader.review.feedback import shown_feedback
from grader.scoring.types import KeyPointResult
from grader.submissions.reads import latest_grades
from grader.submissions.statuses import FINISHED, GRADED, OPEN, values

# About one second of engine time (~40 ms an answer measured on the shared 2-core machine, graded in one
# call): an interactive submission waits behind at most the chunk in hand (docs/performance.md), and the
# per-chunk overhead (a message, two transactions of about a dozen statements, ~40 ms of worker CPU) stays
# under 2 ms an answer.
CHUNK_SIZE = 25
ROW_ERRORS_KEPT = 5_000


def chunks(ids: Sequence[uuid.UUID], size: int = CHUNK_SIZE) -> list[Sequence[uuid.UUID]]:
    return [ids[i : i + size] for i in range(0, len(ids), size)]


# --- creating ----------------------------------------------------------------------------------------------


def gradable_questions(session: Session) -> dict[str, str]:
    """Question id → text of every question in a published bank's latest version: what a sheet may name."""
    return published_questions(session)


def find_existing(session: Session, actor: Principal, content_hash: str) -> Batch | None:
    """The caller's latest batch from the same bytes: re-uploading a file does not grade it twice."""
    return session.scalar(
        select(Batch)
        .where(Batch.submitted_by == actor.key_id, Batch.content_hash == content_hash)
        .order_by(Batch.created_at.desc())
        .limit(1)
    )


def create_batch(
    session: Session,
    sheet: ParsedSheet,
    *,
    filename: str | None,
    actor: Principal,
    queue: Queue,
) -> Batch:
    """Store the batch and one pending submission per accepted answer, each pinned to its question's
    latest published reference version; queue its chunks after commit."""
    pins = latest_pins(session, {a.question_id for a in sheet.answers})
    now = utcnow()
    batch = Batch(
        id=uuid.uuid4(),
        content_hash=sheet.content_hash,
        filename=(filename or None) and filename[:255],
        file_format=sheet.file_format,
        layout=sheet.layout,
        encoding=sheet.encoding,
        sheet_name=sheet.sheet_name,
        data_rows=sheet.data_rows,
        accepted=len(sheet.answers),
        rejected=len(sheet.errors),
        row_errors=[row_error_json(e) for e in sheet.errors[:ROW_ERRORS_KEPT]],
        columns={
            "mapping": sheet.columns,
            "ignored": sheet.ignored_columns,
            "ignored_reasons": _with_banks(session, sheet.ignored_reasons),
            "header_row": sheet.header_row,
            "delimiter": sheet.delimiter,
        },
        submitted_by=actor.key_id,
        created_at=now,
        finished_at=now if not sheet.answers else None,
    )
    session.add(batch)
    session.flush()
    ids = [uuid.uuid4() for _ in sheet.answers]
    if ids:
        # Core bulk inserts: tens of thousands of ORM objects would take longer than the parse itself.
        session.execute(
            insert(Submission),
            [
                {
                    "id": sid,
                    "candidate_id": a.candidate_id,
                    "candidate_name": a.candidate_name,
                    "candidate_email": a.candidate_email,
                    "question_id": a.question_id,
                    "reference_hash": pins[a.question_id].content_hash,
                    "answer": a.answer,
                    "status": Status.PENDING.value,
                    "attempts": 0,
                    "submitted_by": actor.key_id,
                    "created_at": now,
                    "updated_at": now,
                }
                for sid, a in zip(ids, sheet.answers, strict=True)
            ],
        )
        session.execute(
            insert(BatchItem),
            [
                {"submission_id": sid, "batch_id": batch.id, "position": i, "row": a.row}
                for i, (sid, a) in enumerate(zip(ids, sheet.answers, strict=True))
            ],
        )
        # One candidate's rows of a sheet are that candidate's interview (scorecards, interview.completed).
        group_sheet_interviews(
            session,
            batch_id=batch.id,
            actor=actor,
            rows=[
                (sid, a.candidate_id, a.candidate_name, a.candidate_email)
                for sid, a in zip(ids, sheet.answers, strict=True)
            ],
        )
    audit(
        session,
        actor,
        "batch.created",
        "batch",
        batch.id,
        filename=filename,
        content_hash=sheet.content_hash,
        accepted=len(ids),
        rejected=len(sheet.errors),
    )
    batch_id = batch.id
    on_commit(session, lambda: enqueue_chunks(queue, batch_id, ids))
    return batch


def _with_banks(session: Session, reasons: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each ignored column's reason, with the banks of the questions a shared text could be."""
    wanted = {qid for r in reasons for qid in r.get("questions", [])}
    banks = {qid: pin.bank for qid, pin in latest_pins(session, wanted).items()} if wanted else {}
    out = []
    for r in reasons:
        shared = sorted({banks[q] for q in r.get("questions", []) if q in banks})
        reason = r["reason"] + (f" (banks: {', '.join(shared)})" if shared else "")
        out.append({**r, "reason": reason, "banks": shared})
    return out


def enqueue_chunks(queue: Queue, batch_id: uuid.UUID, ids: Sequence[uuid.UUID]) -> None:
    for chunk in chunks(ids):
        queue.enqueue_chunk(batch_id, chunk)


def row_error_json(error: Any) -> dict[str, Any]:
    return {
        "row": error.row,
        "code": str(error.code),
        "reason": error.reason,
        "column": error.column,
        "candidate_id": error.candidate_id,
        "question_id": error.question_id,
        "candidate_name": getattr(error, "candidate_name", None),
        "answer": getattr(error, "answer", None),
    }


def upload(
    session: Session,
    data: bytes,
    *,
    filename: str | None,
    actor: Principal,
    queue: Queue,
    max_answer_chars: int,
    force: bool,
) -> BatchOut:
    """The `POST /api/v1/batches` use case: the caller's earlier batch from the same bytes unless `force`
    (`created` false), else the sheet parsed against the published questions and stored as a new batch."""
    if not force:
        existing = find_existing(session, actor, content_hash(data))
        if existing is not None:
            return batch_view(session, existing, created=False)
    sheet = parse_sheet(data, gradable_questions(session), filename=filename, max_answer_chars=max_answer_chars)
    batch = create_batch(session, sheet, filename=filename, actor=actor, queue=queue)
    return batch_view(session, batch, created=True)


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
    # When each answer was finished by the grader: its grade's time, or the failure's. Not `updated_at`,
    # which a reviewer's decision moves long after the batch was done.
    finished_when = func.coalesce(Submission.graded_at, Submission.updated_at)
    rows = session.execute(
        select(Submission.status, func.count(), func.max(finished_when))
        .join(BatchItem, BatchItem.submission_id == Submission.id)
        .where(BatchItem.batch_id == batch.id)
        .group_by(Submission.status)
    ).all()
    by_status = {status: count for status, count, _ in rows}
    counts = {
        "pending": sum(by_status.get(status, 0) for status in values(OPEN)),
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
    # Grading time only, from the upload (its chunks are queued on commit) to the last answer graded.
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
    return Progress(
        status,
        counts,
        total,
        finished,
        finished / total if total else 1.0,
        rate,
        eta if eta is None else round(eta, 1),
        batch.finished_at,
    )


def batch_status(session: Session, batch_id: uuid.UUID, actor: Principal, *, errors_limit: int) -> BatchOut:
    """The `GET /api/v1/batches/{id}` use case: the batch with its first `errors_limit` row errors."""
    return batch_view(session, get_batch(session, batch_id, actor), created=False, errors_limit=errors_limit)


def batch_view(session: Session, batch: Batch, *, created: bool, errors_limit: int | None = None) -> BatchOut:
    """The batch as the API shows it: counts and progress so far, the first `errors_limit` row errors (all if None)."""
    now = progress(session, batch)
    errors = batch.row_errors if errors_limit is None else batch.row_errors[:errors_limit]
    return BatchOut(
        id=batch.id,
        created=created,
        status=now.status,
        filename=batch.filename,
        file_format=batch.file_format,
        layout=batch.layout,
        encoding=batch.encoding,
        sheet_name=batch.sheet_name,
        columns=batch.columns,
        content_hash=batch.content_hash,
        counts=BatchCounts(rows=batch.data_rows, accepted=batch.accepted, rejected=batch.rejected, **now.counts),
        progress=round(now.progress, 4),
        answers_per_second=now.answers_per_second,
        eta_seconds=now.eta_seconds,
        created_at=batch.created_at,
        finished_at=now.finished_at,
        row_errors=[RowErrorOut.model_validate(e) for e in errors],
        row_errors_total=batch.rejected,
        results_url=f"{PATH}/{batch.id}/results",
    )


def results(session: Session, batch: Batch) -> list[AnswerResult]:
    """One row per answer, in sheet order, with its latest grade; the rows the upload refused among
    them (status `rejected`, the reason in `error`)."""
    items = session.execute(
        select(BatchItem.row, Submission)
        .join(Submission, BatchItem.submission_id == Submission.id)
        .where(BatchItem.batch_id == batch.id)
        .order_by(BatchItem.position)
    ).all()
    latest = latest_grades(session, select(BatchItem.submission_id).where(BatchItem.batch_id == batch.id))
    # A reviewer's final score replaces the grader's (grader.review); the audit log keeps both.
    reviewed = {
        sid: (final, grader_score, comment)
        for sid, final, grader_score, comment in session.execute(
            select(
                ResultRow.submission_id, ResultRow.final_score, ResultRow.grader_score, ResultRow.review_comment
            ).where(ResultRow.batch_id == batch.id, ResultRow.reviewed.is_(True))
        )
    }
    question_ids = {s.question_id for _, s in items} | {e.get("question_id") or "" for e in batch.row_errors}
    questions: dict[str, str] = {
        qid: text
        for qid, text in session.execute(select(Question.id, Question.text).where(Question.id.in_(question_ids)))
    }
    out = []
    for row, s in items:
        found = latest.get(s.id)
        grade = found if s.status in GRADED else None
        decision = reviewed.get(s.id)
        feedback = None
        if grade is not None:
            feedback = shown_feedback(
                grade.feedback,
                grader_score=decision[1] if decision else grade.score,
                final_score=decision[0] if decision else None,
                reviewed=decision is not None,
                comment=decision[2] if decision else None,
            )
        out.append(
            AnswerResult(
                candidate_id=s.candidate_id,
                question_id=s.question_id,
                status=s.status,
                row=row,
                candidate_name=s.candidate_name,
                candidate_email=s.candidate_email,
                question=questions.get(s.question_id),
                answer=s.answer,
                score=(decision[0] if decision else grade.score) if grade else None,
                confidence=grade.confidence if grade else None,
                flags=list(grade.flags) if grade else [],
                missed_key_points=_missed(grade.key_points) if grade else [],
                feedback=feedback,
                error=s.failure_reason,
                submission_id=str(s.id),
                graded_at=s.graded_at if grade else None,
            )
        )
    for e in batch.row_errors:
        qid = e.get("question_id") or ""
        out.append(
            AnswerResult(
                candidate_id=e.get("candidate_id") or "",
                question_id=qid,
                status=REJECTED,
                row=e.get("row"),
                candidate_name=e.get("candidate_name"),
                question=questions.get(qid),
                answer=e.get("answer"),
                error=e.get("reason"),
                error_code=e.get("code"),
            )
        )
    # Sheet order; sorted() is stable, so a wide row keeps its answers in column order.
    return sorted(out, key=lambda r: r.row if r.row is not None else 0)


def _missed(key_points: Iterable[dict[str, Any]]) -> list[str]:
    return missed_key_points(KeyPointResult.model_validate(kp) for kp in key_points)


def recent_batches(session: Session, limit: int = 50) -> list[tuple[Batch, Progress]]:
    """The latest batches of every recruiter with their progress (the dashboard's list)."""
    batches = session.scalars(select(Batch).order_by(Batch.created_at.desc()).limit(limit))
    return [(batch, progress(session, batch)) for batch in batches]


@dataclass(frozen=True)
class Download:
    body: bytes
    media_type: str
    filename: str


def download(session: Session, batch: Batch, fmt: Format, view: View) -> Download:
    """The batch's results so far as a file: one row per answer, or one per candidate with
    view=summary (csv only: xlsx and json hold both)."""
    progress_now = progress(session, batch)
    meta = {
        "id": str(batch.id),
        "filename": batch.filename,
        "status": progress_now.status,
        "progress": progress_now.progress,
        "created_at": timestamp(batch.created_at),
        "finished_at": timestamp(progress_now.finished_at),
        "rows_rejected": batch.rejected,
    }
    body = export(results(session, batch), fmt, view, batch=meta)
    suffix = f"-{view}" if fmt == "csv" and view == "summary" else ""
    return Download(body, MEDIA_TYPES[fmt], f"batch-{batch.id}-results{suffix}.{fmt}")


def batch_download(session: Session, batch_id: uuid.UUID, actor: Principal, fmt: Format, view: View) -> Download:
    """The `GET /api/v1/batches/{id}/results` use case: the caller's batch's results as a file."""
    return download(session, get_batch(session, batch_id, actor), fmt, view)
