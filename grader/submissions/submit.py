"""Accepting an answer: validate it, store it once per Idempotency-Key, and queue it after commit.

The queue receives the id through `on_commit`, so a worker never gets the id of a row it cannot see
yet; if the process dies between commit and enqueue, the sweep (`grader.grading.sweep`) re-enqueues it.
"""

from __future__ import annotations

import hashlib
import json

from pydantic import BaseModel
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from grader.audit import audit
from grader.db.models import Status, Submission
from grader.db.session import on_commit
from grader.errors import Conflict, InvalidInput, QuestionNotFound
from grader.keys.principal import Principal
from grader.questions.ids import candidates, normalise_question_id
from grader.questions.pins import latest_pins, question_hint
from grader.queue.port import Queue
from grader.submissions.answers import answer_problem
from grader.submissions.reads import latest_grades, submission_out
from grader.submissions.schemas import SubmissionCreate, SubmissionOut


def check_answer(answer: str, limit: int) -> None:
    problem = answer_problem(answer, limit)
    if problem == "empty":
        raise InvalidInput(
            f"answer is empty; send the candidate's answer as 1 to {limit:,} characters",
            details={"field": "answer", "max_chars": limit},
        )
    if problem == "too_long":
        raise InvalidInput(
            f"answer is {len(answer):,} characters; the limit is {limit:,} characters",
            details={"field": "answer", "max_chars": limit, "length": len(answer)},
        )


def fingerprint(data: BaseModel) -> str:
    """The request body's digest: a retry under the same Idempotency-Key must send the same body
    (submissions and interviews alike)."""
    canonical = json.dumps(data.model_dump(mode="json"), ensure_ascii=False, sort_keys=True)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def check_idempotency_key(key: str) -> None:
    if not 1 <= len(key) <= 200:
        raise InvalidInput("Idempotency-Key must be 1 to 200 characters")


def _by_idempotency_key(session: Session, actor: Principal, key: str) -> Submission | None:
    return session.scalar(
        select(Submission).where(Submission.submitted_by == actor.key_id, Submission.idempotency_key == key)
    )


def _replay(existing: Submission, request_hash: str, key: str) -> Submission:
    if existing.request_hash != request_hash:
        raise Conflict(
            f"Idempotency-Key '{key}' was already used for a different request; send a new key for a new submission",
            details={"idempotency_key": key, "submission_id": str(existing.id)},
        )
    return existing


def submit(
    session: Session,
    data: SubmissionCreate,
    *,
    actor: Principal,
    max_answer_chars: int,
    queue: Queue,
    idempotency_key: str | None = None,
) -> tuple[Submission, bool]:
    """Store a submission and enqueue it once committed. Returns it and whether it is new: a retry with
    the same Idempotency-Key and body gets the first submission back.

    The submission pins the question's reference version in its bank's latest published version: it
    is graded against that version whatever is published later."""
    check_answer(data.answer, max_answer_chars)
    # `q3`, ` Q03 ` and `q03` are one question: stored (and fingerprinted) under the bank's id.
    pins = latest_pins(session, candidates(data.question_id))
    data = data.model_copy(update={"question_id": normalise_question_id(data.question_id, pins)})
    request_hash = fingerprint(data)
    if idempotency_key is not None:
        check_idempotency_key(idempotency_key)
        existing = _by_idempotency_key(session, actor, idempotency_key)
        if existing is not None:  # a replay keeps its pin, even if its question has left the bank since
            return _replay(existing, request_hash, idempotency_key), False
    pin = pins.get(data.question_id)
    if pin is None:
        raise QuestionNotFound(data.question_id, question_hint(session))
    submission = Submission(
        candidate_id=data.candidate_id,
        candidate_name=data.candidate_name,
        candidate_email=data.candidate_email,
        question_id=data.question_id,
        reference_hash=pin.content_hash,
        answer=data.answer,
        status=Status.PENDING,
        submitted_by=actor.key_id,
        idempotency_key=idempotency_key,
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
    audit(
        session,
        actor,
        "submission.created",
        "submission",
        submission.id,
        question_id=data.question_id,
        candidate_id=data.candidate_id,
        bank=pin.bank,
        bank_version=pin.version,
        reference_hash=pin.content_hash,
    )
    submission_id = submission.id
    on_commit(session, lambda: queue.enqueue(submission_id))
    return submission, True


def accept(
    session: Session,
    data: SubmissionCreate,
    *,
    actor: Principal,
    max_answer_chars: int,
    queue: Queue,
    idempotency_key: str | None = None,
) -> tuple[SubmissionOut, bool]:
    """`submit`, answered as the API shows it: a replay comes back with its grade, once it has one."""
    submission, created = submit(
        session, data, actor=actor, max_answer_chars=max_answer_chars, queue=queue, idempotency_key=idempotency_key
    )
    grade = None if created else latest_grades(session, [submission.id]).get(submission.id)
    return submission_out(submission, grade), created
