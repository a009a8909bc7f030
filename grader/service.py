"""Use cases of the grading service, shared by the API, the Celery worker, embedded mode and the CLI.

Every function takes the caller's `Session` and leaves the transaction to the caller (the request
dependency, a task, a CLI command), with one deliberate exception: `run_grading`, the background
job, spans three short transactions so that the slow part — the engine — runs outside any of them.

Enqueueing happens through a `Dispatcher` registered with `on_commit`, so a worker never receives
the id of a row it cannot see yet; if the process dies between commit and enqueue, `sweep_stuck`
re-enqueues the submission later.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache
from typing import TYPE_CHECKING, Any, Protocol

from sqlalchemy import Integer, and_, bindparam, func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from grader import metrics
from grader.auth import SYSTEM, Principal, create_key
from grader.db.base import Base, utcnow
from grader.db.batch_models import BatchItem
from grader.db.models import ApiKey, AuditEntry, Grade, Question, ReferenceVersion, Role, Status, Submission
from grader.db.session import SessionFactory, on_commit, session_scope
from grader.errors import Conflict, GraderError, InvalidInput, NotFound, QuestionNotFound, SubmissionNotFound
from grader.results_index import IndexedSubmission, LatestGrade, index_results
from grader.schemas import SubmissionCreate
from grader.scoring.calibration import review_flagged
from grader.scoring.types import Reference, ScoreResult

if TYPE_CHECKING:
    from grader.grading import Grader

log = logging.getLogger(__name__)

# A submission claimed this many times without a grade (worker killed mid-task, poison input) is failed
# instead of being handed out again: `task_reject_on_worker_lost` would otherwise redeliver it forever.
MAX_ATTEMPTS = 3
OPEN = (Status.PENDING, Status.RUNNING)


class Dispatcher(Protocol):
    """Hands a committed submission to whatever grades it: Celery, or the embedded thread."""

    def enqueue(self, submission_id: uuid.UUID) -> None: ...


# --- audit -----------------------------------------------------------------------------------------------


def audit(session: Session, actor: Principal, action: str, entity_type: str, entity_id: object,
          **details: Any) -> None:
    session.add(AuditEntry(actor_key_id=actor.key_id, actor=actor.name, action=action,
                           entity_type=entity_type, entity_id=str(entity_id), details=details))


# --- questions ---------------------------------------------------------------------------------------------


def _insert_ignore(session: Session, model: type[Any], values: dict[str, Any], keys: Sequence[str]) -> bool:
    """INSERT … ON CONFLICT DO NOTHING on Postgres and SQLite alike; True when a row was written."""
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    result = session.execute(insert(model).values(**values).on_conflict_do_nothing(index_elements=keys))
    return bool(getattr(result, "rowcount", 0))


def _store_reference_version(session: Session, ref: Reference) -> None:
    _insert_ignore(session, Question, {"id": ref.id, "text": ref.question, "current_hash": ref.content_hash},
                   ["id"])
    _insert_ignore(session, ReferenceVersion, {
        "question_id": ref.id, "content_hash": ref.content_hash,
        "reference_answer": ref.reference_answer,
        "key_points": ref.model_dump(mode="json")["key_points"],
    }, ["question_id", "content_hash"])


def sync_question(session: Session, ref: Reference) -> None:
    """Make the questions table show `ref` as current, keeping every earlier version for old grades."""
    _store_reference_version(session, ref)
    session.execute(update(Question)
                    .where(Question.id == ref.id, Question.current_hash != ref.content_hash)
                    .values(text=ref.question, current_hash=ref.content_hash, updated_at=utcnow()))


# (database, reference hash) pairs this process has stored: submit skips three statements per request.
_stored: set[tuple[str, str]] = set()


def _ensure_question(session: Session, ref: Reference) -> None:
    marker = (str(session.get_bind().engine.url), ref.content_hash)
    if marker not in _stored:
        sync_question(session, ref)
        on_commit(session, lambda: _stored.add(marker))


def sync_bank(session: Session, bank: Mapping[str, Reference]) -> None:
    for ref in bank.values():
        sync_question(session, ref)


# --- submitting --------------------------------------------------------------------------------------------


def check_answer(answer: str, limit: int) -> None:
    if not answer.strip():
        raise InvalidInput(f"answer is empty; send the candidate's answer as 1 to {limit:,} characters",
                           details={"field": "answer", "max_chars": limit})
    if len(answer) > limit:
        raise InvalidInput(f"answer is {len(answer):,} characters; the limit is {limit:,} characters",
                           details={"field": "answer", "max_chars": limit, "length": len(answer)})


def fingerprint(data: SubmissionCreate) -> str:
    canonical = json.dumps(data.model_dump(mode="json"), ensure_ascii=False, sort_keys=True)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def _by_idempotency_key(session: Session, actor: Principal, key: str) -> Submission | None:
    return session.scalar(select(Submission).where(Submission.submitted_by == actor.key_id,
                                                   Submission.idempotency_key == key))


def _replay(existing: Submission, request_hash: str, key: str) -> Submission:
    if existing.request_hash != request_hash:
        raise Conflict(f"Idempotency-Key '{key}' was already used for a different request; "
                       "send a new key for a new submission",
                       details={"idempotency_key": key, "submission_id": str(existing.id)})
    return existing


def submit(session: Session, data: SubmissionCreate, *, actor: Principal, bank: Mapping[str, Reference],
           max_answer_chars: int, dispatcher: Dispatcher,
           idempotency_key: str | None = None) -> tuple[Submission, bool]:
    """Store a submission and enqueue it once committed. Returns it and whether it is new: a retry with
    the same Idempotency-Key and body gets the first submission back."""
    check_answer(data.answer, max_answer_chars)
    ref = bank.get(data.question_id)
    if ref is None:
        raise QuestionNotFound(data.question_id, sorted(bank))
    request_hash = fingerprint(data)
    if idempotency_key is not None:
        if not 1 <= len(idempotency_key) <= 200:
            raise InvalidInput("Idempotency-Key must be 1 to 200 characters")
        existing = _by_idempotency_key(session, actor, idempotency_key)
        if existing is not None:
            return _replay(existing, request_hash, idempotency_key), False
    _ensure_question(session, ref)
    submission = Submission(
        candidate_id=data.candidate_id, candidate_name=data.candidate_name,
        candidate_email=data.candidate_email, question_id=data.question_id, answer=data.answer,
        status=Status.PENDING, submitted_by=actor.key_id, idempotency_key=idempotency_key,
        request_hash=request_hash,
    )
    try:
        with session.begin_nested():
            session.add(submission)
    except IntegrityError:
        # A concurrent retry with the same key won the race; answer as the replay would have.
        if idempotency_key is None:
            raise
        existing = _by_idempotency_key(session, actor, idempotency_key)
        if existing is None:
            raise
        return _replay(existing, request_hash, idempotency_key), False
    audit(session, actor, "submission.created", "submission", submission.id, question_id=data.question_id,
          candidate_id=data.candidate_id)
    submission_id = submission.id
    on_commit(session, lambda: dispatcher.enqueue(submission_id))
    return submission, True


# --- reading -----------------------------------------------------------------------------------------------


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


# --- grading (background) ----------------------------------------------------------------------------------

# The grading path's statements are built once: a task only binds its ids and values, so SQLAlchemy
# neither rebuilds nor recompiles them, and the inserts go out as one multi-row statement however many
# rows they carry (`insertmanyvalues`).
_CLAIM_READ = (
    # One row per submission and grade under this engine version (usually none): the lock and the
    # "already graded" check in one round trip. Rows are locked in id order, as every grading run takes them.
    select(Submission.id, Submission.question_id, Submission.answer, Submission.status, Submission.attempts,
           Grade.reference_hash)
    .outerjoin(Grade, and_(Grade.submission_id == Submission.id, Grade.scoring_version == bindparam("version")))
    .where(Submission.id.in_(bindparam("ids", expanding=True))).order_by(Submission.id)
    .with_for_update(of=Submission)
)
_MARK_RUNNING = (
    update(Submission).where(Submission.id.in_(bindparam("ids", expanding=True)))
    .values(status=Status.RUNNING.value, updated_at=bindparam("now"),
            attempts=Submission.attempts + bindparam("charge", type_=Integer))
    .execution_options(synchronize_session=False)
)
_RECORD_LOCK = (
    select(Submission.id, Submission.status, Submission.graded_at, Submission.question_id,
           Submission.candidate_id, BatchItem.batch_id,
           # No grade yet (the usual case): the one written now is the latest, no need to read it back.
           select(Grade.id).where(Grade.submission_id == Submission.id).exists().label("has_grades"))
    .outerjoin(BatchItem, BatchItem.submission_id == Submission.id)
    .where(Submission.id.in_(bindparam("ids", expanding=True))).order_by(Submission.id)
    .with_for_update(of=Submission)
)
_FINISH = (
    update(Submission).where(Submission.id.in_(bindparam("ids", expanding=True)))
    .values(status=bindparam("new_status"), failure_reason=None, updated_at=bindparam("now"),
            graded_at=bindparam("now"))
    .execution_options(synchronize_session=False)
)


@dataclass(frozen=True)
class _Inserts:
    reference_version: Any
    grade: Any
    audit: Any


@lru_cache(maxsize=4)
def _inserts(dialect: str) -> _Inserts:
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    tables = Base.metadata.tables
    grades = tables["grades"]
    return _Inserts(
        reference_version=insert(tables["reference_versions"]).on_conflict_do_nothing(
            index_elements=["question_id", "content_hash"]),
        grade=insert(grades).on_conflict_do_nothing(
            index_elements=["submission_id", "scoring_version", "reference_hash"])
        .returning(grades.c.submission_id, grades.c.id),
        audit=insert(tables["audit_log"]),
    )


@dataclass(frozen=True)
class Job:
    submission_id: uuid.UUID
    question_id: str
    answer: str
    reference: Reference


def _finish(submission: Submission, status: Status, reason: str | None = None) -> None:
    submission.status = status.value
    submission.failure_reason = reason
    submission.updated_at = utcnow()
    if status in (Status.GRADED, Status.NEEDS_REVIEW):
        submission.graded_at = submission.updated_at


def fail(session: Session, submission_id: uuid.UUID, reason: str) -> None:
    submission = session.get(Submission, submission_id)
    if submission is None:
        raise SubmissionNotFound(submission_id)
    _finish(submission, Status.FAILED, reason)
    audit(session, SYSTEM, "submission.failed", "submission", submission_id,
          reason=reason)


def claim(session: Session, submission_id: uuid.UUID, bank: Mapping[str, Reference],
          scoring_version: str, *, charge_attempt: bool = True) -> Job | None:
    """Mark the submission running and return what to grade, or None when there is nothing to do
    (already graded with this engine and reference, finished, or given up on).

    `charge_attempt=False` is for a task's own retry after a database error: that run is known to have
    failed to reach the database, not to have lost the worker, and the task bounds those retries itself;
    counting them as attempts would fail healthy answers after a few dropped connections."""
    jobs, missing = claim_many(session, [submission_id], bank, scoring_version, charge_attempt=charge_attempt)
    if missing:
        raise SubmissionNotFound(submission_id)
    return jobs[0] if jobs else None


def claim_many(session: Session, submission_ids: Iterable[uuid.UUID], bank: Mapping[str, Reference],
               scoring_version: str, *, charge_attempt: bool = True) -> tuple[list[Job], list[uuid.UUID]]:
    """`claim` for several submissions in two statements (read and lock, mark running), plus a few per
    submission that has to be failed. Returns the jobs in id order and the ids that do not exist."""
    ids = sorted(set(submission_ids))
    rows = session.execute(_CLAIM_READ, {"ids": ids, "version": scoring_version}).all()
    graded = {(row.id, row.reference_hash) for row in rows if row.reference_hash is not None}
    seen: set[uuid.UUID] = set()
    jobs: list[Job] = []
    for row in rows:
        if row.id in seen:
            continue
        seen.add(row.id)
        if row.status not in OPEN:
            continue
        ref = bank.get(row.question_id)
        if ref is None:
            fail(session, row.id, f"question '{row.question_id}' is no longer in the bank")
        elif (row.id, ref.content_hash) in graded:
            continue  # graded by a run that died before it could update the status: sweep-proof no-op
        elif charge_attempt and row.attempts >= MAX_ATTEMPTS:
            fail(session, row.id, f"gave up after {row.attempts} attempts without a grade "
                                  "(the worker was lost or timed out each time)")
        else:
            jobs.append(Job(row.id, row.question_id, row.answer, ref))
    if jobs:
        session.execute(_MARK_RUNNING, {"ids": [job.submission_id for job in jobs], "now": utcnow(),
                                        "charge": 1 if charge_attempt else 0})
    return jobs, [sid for sid in ids if sid not in seen]


def needs_review(result: ScoreResult, review_confidence_below: float) -> bool:
    """Low confidence, or a flag that does not cap the score (a capped non-answer is graded 0)."""
    return result.confidence < review_confidence_below or review_flagged([f.value for f in result.flags])


def record(session: Session, job: Job, result: ScoreResult, review_confidence_below: float) -> Status:
    """Write the grade idempotently (one row per submission, scoring version and reference hash)."""
    statuses = record_many(session, [(job, result)], review_confidence_below)
    if job.submission_id not in statuses:
        raise SubmissionNotFound(job.submission_id)
    return statuses[job.submission_id]


def record_many(session: Session, graded: Sequence[tuple[Job, ScoreResult]],
                review_confidence_below: float) -> dict[uuid.UUID, Status]:
    """`record` for several grades in a fixed handful of statements, whatever their number: lock the
    submissions, insert the grades (ON CONFLICT DO NOTHING), finish the open submissions, refresh their
    result rows, audit the grades actually written. Submissions deleted since their claim are skipped
    (absent from the returned statuses)."""
    if not graded:
        return {}
    bind = session.get_bind()
    inserts = _inserts(bind.dialect.name)
    # The grade names its reference version; the worker's bank may be newer than what submit stored.
    # (The question row exists: the submission refers to it.) Once per process and version.
    versions = {(str(bind.engine.url), job.reference.id, job.reference.content_hash): job.reference
                for job, _ in graded}
    missing = {marker: ref for marker, ref in versions.items() if marker not in _stored_versions}
    if missing:
        session.execute(inserts.reference_version, [{
            "question_id": ref.id, "content_hash": ref.content_hash, "reference_answer": ref.reference_answer,
            "key_points": ref.model_dump(mode="json")["key_points"], "created_at": utcnow(),
        } for ref in missing.values()])
        on_commit(session, lambda: _stored_versions.update(missing))
    try:
        return _record(session, inserts, graded, review_confidence_below)
    except BaseException:
        # A database recreated under a running worker would otherwise fail every grade on the foreign
        # key: the retry stores the versions again.
        _stored_versions.difference_update(versions)
        raise


# (database, question, reference hash) this process has stored; `record_many` skips storing them again.
_stored_versions: set[tuple[str, str, str]] = set()


def _record(session: Session, inserts: _Inserts, graded: Sequence[tuple[Job, ScoreResult]],
            review_confidence_below: float) -> dict[uuid.UUID, Status]:
    # Lock in id order (as claims do), then write: a concurrent run of the same answers waits here.
    locked = {row.id: row for row in session.execute(
        _RECORD_LOCK, {"ids": sorted({job.submission_id for job, _ in graded})})}
    graded = [(job, result) for job, result in graded if job.submission_id in locked]
    if not graded:
        return {}
    now = utcnow()
    written = dict(session.execute(inserts.grade, [{
        "submission_id": job.submission_id, "question_id": job.question_id,
        "scoring_version": result.provenance.scoring_version, "reference_hash": result.provenance.reference_hash,
        "embedder": result.provenance.embedder, "calibration": result.provenance.calibration,
        "score": result.score, "confidence": result.confidence,
        "flags": [flag.value for flag in result.flags],
        "key_points": [kp.model_dump(mode="json") for kp in result.key_points],
        "feedback": result.feedback, "signals": result.signals, "created_at": now,
    } for job, result in graded]).all())
    statuses = {job.submission_id: Status.NEEDS_REVIEW if needs_review(result, review_confidence_below)
                else Status.GRADED for job, result in graded}
    current = {sid: (row.status, row.graded_at) for sid, row in locked.items()}
    finishing: dict[Status, list[uuid.UUID]] = {}
    for sid, status in statuses.items():
        if current[sid][0] in OPEN:
            finishing.setdefault(status, []).append(sid)
            current[sid] = (status.value, now)
    for status, ids in finishing.items():
        session.execute(_FINISH, {"ids": ids, "new_status": status.value, "now": now})
    first = {job.submission_id: LatestGrade(written[job.submission_id], job.submission_id, result.score,
                                            result.confidence, [flag.value for flag in result.flags], now)
             for job, result in graded if job.submission_id in written and not locked[job.submission_id].has_grades}
    index_results(session, [IndexedSubmission(sid, current[sid][0], current[sid][1], row.question_id,
                                              row.candidate_id, row.batch_id)
                            for sid, row in locked.items() if sid in statuses], known=first)
    audits = [{
        "actor_key_id": SYSTEM.key_id, "actor": SYSTEM.name, "action": "submission.graded",
        "entity_type": "submission", "entity_id": str(job.submission_id), "at": now,
        "details": {"score": result.score, "confidence": result.confidence,
                    "status": statuses[job.submission_id].value,
                    "scoring_version": result.provenance.scoring_version,
                    "reference_hash": result.provenance.reference_hash},
    } for job, result in graded if job.submission_id in written]
    if audits:
        session.execute(inserts.audit, audits)
    return statuses


def run_grading(factory: SessionFactory, submission_id: uuid.UUID, grader: Callable[[], Grader],
                review_confidence_below: float, *, retry: bool = False) -> Status | None:
    """Grade one submission end to end. Database errors propagate (the caller retries); an error in the
    engine fails the submission with the reason, since running the same input again would fail again."""
    from grader.grading import SCORING_VERSION

    engine = grader()
    with session_scope(factory) as session:
        job = claim(session, submission_id, engine.bank, SCORING_VERSION, charge_attempt=not retry)
    if job is None:
        return None
    started = time.perf_counter()
    try:
        result = engine.grade(job.question_id, job.answer)
    except Exception as exc:
        reason = exc.message if isinstance(exc, GraderError) else f"{type(exc).__name__}: {exc}"
        log.exception("grading submission %s failed", submission_id)
        with session_scope(factory) as session:
            fail(session, submission_id, f"grading failed: {reason}")
        return Status.FAILED
    metrics.record_grading(time.perf_counter() - started)
    with session_scope(factory) as session:
        return record(session, job, result, review_confidence_below)


@dataclass(frozen=True)
class SweepResult:
    requeued: list[uuid.UUID]
    failed: list[uuid.UUID]


def sweep_stuck(session: Session, dispatcher: Dispatcher, *, stuck_after: timedelta,
                now: datetime | None = None, batch: int = 500) -> SweepResult:
    """Re-enqueue submissions left pending/running past the deadline (lost message, crash between commit
    and enqueue, killed worker); fail those that have used up their attempts."""
    now = now or utcnow()
    stuck = session.scalars(
        select(Submission)
        .where(Submission.status.in_([s.value for s in OPEN]), Submission.updated_at < now - stuck_after)
        .order_by(Submission.updated_at).limit(batch)
        .with_for_update(skip_locked=True)
    ).all()
    result = SweepResult([], [])
    for submission in stuck:
        if submission.attempts >= MAX_ATTEMPTS:
            fail(session, submission.id, f"gave up after {submission.attempts} attempts without a grade")
            result.failed.append(submission.id)
            continue
        submission.updated_at = now  # restarts its clock, so the next sweep does not enqueue it again
        result.requeued.append(submission.id)
    if result.requeued:
        audit(session, SYSTEM, "submission.requeued", "sweep", now.isoformat(),
              submission_ids=[str(i) for i in result.requeued])
        on_commit(session, _enqueue_all(dispatcher, list(result.requeued)))
    return result


def _enqueue_all(dispatcher: Dispatcher, ids: list[uuid.UUID]) -> Callable[[], None]:
    def enqueue() -> None:
        for submission_id in ids:
            dispatcher.enqueue(submission_id)
    return enqueue


# --- API keys ----------------------------------------------------------------------------------------------


def create_api_key(session: Session, name: str, role: Role, actor: Principal) -> tuple[ApiKey, str]:
    key, raw = create_key(session, name, role)
    audit(session, actor, "api_key.created", "api_key", key.id, name=key.name, role=role.value)
    return key, raw


def list_keys(session: Session) -> list[ApiKey]:
    return list(session.scalars(select(ApiKey).order_by(ApiKey.id)))


def revoke_key(session: Session, key_id: int, actor: Principal) -> ApiKey:
    key = session.get(ApiKey, key_id)
    if key is None:
        raise NotFound(f"API key {key_id} does not exist", details={"key_id": key_id})
    if key.revoked_at is None:
        key.revoked_at = utcnow()
        audit(session, actor, "api_key.revoked", "api_key", key_id, name=key.name)
    return key
