"""Accepting an interview: a candidate's answers to several questions in one request.

Every answer is checked before anything is written, and every problem is reported with its index, so a
bad item never leaves the others half-stored. Each answer then becomes an ordinary submission (pinned,
queued after commit, graded, reviewed), tied to the interview by an `InterviewItem`. A retry with the
same Idempotency-Key and body gets the same interview and submission ids back.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from grader.audit import audit
from grader.candidates.schemas import InterviewCreate, InterviewCreated, InterviewSubmission
from grader.db.base import utcnow
from grader.db.candidate_models import Interview, InterviewItem
from grader.db.models import Status, Submission
from grader.db.session import on_commit
from grader.errors import Conflict, InvalidInput
from grader.keys.principal import Principal
from grader.questions.ids import candidates, normalise_question_id
from grader.questions.pins import latest_pins, question_hint
from grader.queue.port import Queue
from grader.submissions.answers import answer_problem
from grader.submissions.submit import check_idempotency_key, fingerprint


class InvalidInterview(InvalidInput):
    """`details.errors` lists every bad answer: {"index", "question_id", "field", "message"}."""

    code = "invalid_interview"

    def __init__(self, errors: list[dict[str, Any]]) -> None:
        shown = "; ".join(f"answers[{e['index']}] ({e['question_id']}): {e['message']}" for e in errors[:5])
        more = f" (and {len(errors) - 5} more)" if len(errors) > 5 else ""
        super().__init__(
            f"{len(errors)} of the interview's answers cannot be graded, nothing was stored: {shown}{more}",
            details={"errors": errors},
        )


@dataclass(frozen=True)
class AcceptedInterview:
    interview: Interview
    submissions: list[Submission]  # in the request's order
    created: bool


def interview_submissions(session: Session, interview_id: uuid.UUID) -> list[Submission]:
    return list(
        session.scalars(
            select(Submission)
            .join(InterviewItem, InterviewItem.submission_id == Submission.id)
            .where(InterviewItem.interview_id == interview_id)
            .order_by(InterviewItem.position)
        )
    )


def _replay(session: Session, existing: Interview, request_hash: str, key: str) -> AcceptedInterview:
    if existing.request_hash != request_hash:
        raise Conflict(
            f"Idempotency-Key '{key}' was already used for a different interview; send a new key for a new one",
            details={"idempotency_key": key, "interview_id": str(existing.id)},
        )
    return AcceptedInterview(existing, interview_submissions(session, existing.id), False)


def _by_key(session: Session, actor: Principal, key: str) -> Interview | None:
    return session.scalar(
        select(Interview).where(Interview.submitted_by == actor.key_id, Interview.idempotency_key == key)
    )


def submit_interview(
    session: Session,
    data: InterviewCreate,
    *,
    actor: Principal,
    max_answer_chars: int,
    queue: Queue,
    idempotency_key: str | None = None,
) -> AcceptedInterview:
    pins = latest_pins(session, {c for a in data.answers for c in candidates(a.question_id)})
    # Ids as the bank spells them (`q3` is `q03`), so a retry that types them differently is the same request.
    data = data.model_copy(
        update={
            "answers": [
                a.model_copy(update={"question_id": normalise_question_id(a.question_id, pins)}) for a in data.answers
            ]
        }
    )
    request_hash = fingerprint(data)
    if idempotency_key is not None:
        check_idempotency_key(idempotency_key)
        existing = _by_key(session, actor, idempotency_key)
        if existing is not None:
            return _replay(session, existing, request_hash, idempotency_key)

    errors = _problems(session, data, pins, max_answer_chars)
    if errors:
        raise InvalidInterview(errors)

    now = utcnow()
    interview = Interview(
        id=uuid.uuid4(),
        candidate_id=data.candidate_id,
        candidate_name=data.candidate_name,
        candidate_email=data.candidate_email,
        bank=data.bank,
        submitted_by=actor.key_id,
        idempotency_key=idempotency_key,
        request_hash=request_hash,
        created_at=now,
    )
    submissions = [
        Submission(
            id=uuid.uuid4(),
            candidate_id=data.candidate_id,
            candidate_name=data.candidate_name,
            candidate_email=data.candidate_email,
            question_id=a.question_id,
            reference_hash=pins[a.question_id].content_hash,
            answer=a.answer,
            status=Status.PENDING.value,
            attempts=0,
            submitted_by=actor.key_id,
            created_at=now,
            updated_at=now,
        )
        for a in data.answers
    ]
    try:
        with session.begin_nested():
            session.add(interview)
            session.flush()
            session.add_all(submissions)
            session.flush()
            session.execute(
                insert(InterviewItem),
                [
                    {"submission_id": s.id, "interview_id": interview.id, "position": i}
                    for i, s in enumerate(submissions)
                ],
            )
    except IntegrityError:
        # A concurrent retry with the same key won the race; answer as the replay would have.
        if idempotency_key is None:
            raise
        existing = _by_key(session, actor, idempotency_key)
        if existing is None:
            raise
        return _replay(session, existing, request_hash, idempotency_key)
    audit(
        session,
        actor,
        "interview.created",
        "interview",
        interview.id,
        candidate_id=data.candidate_id,
        bank=data.bank,
        submissions=[str(s.id) for s in submissions],
    )
    for submission, answer in zip(submissions, data.answers, strict=True):
        pin = pins[answer.question_id]
        audit(
            session,
            actor,
            "submission.created",
            "submission",
            submission.id,
            question_id=answer.question_id,
            candidate_id=data.candidate_id,
            interview_id=str(interview.id),
            bank=pin.bank,
            bank_version=pin.version,
            reference_hash=pin.content_hash,
        )
    ids = [s.id for s in submissions]
    on_commit(session, lambda: _enqueue(queue, ids))
    return AcceptedInterview(interview, submissions, True)


def interview_created(accepted: AcceptedInterview) -> InterviewCreated:
    """The accepted interview as `POST /api/v1/interviews` answers: its id and each answer's submission."""
    interview = accepted.interview
    return InterviewCreated(
        id=interview.id,
        candidate_id=interview.candidate_id,
        bank=interview.bank,
        created_at=interview.created_at,
        submissions=[
            InterviewSubmission(index=i, id=s.id, question_id=s.question_id, status=Status(s.status))
            for i, s in enumerate(accepted.submissions)
        ],
    )


def accept_interview(
    session: Session,
    data: InterviewCreate,
    *,
    actor: Principal,
    max_answer_chars: int,
    queue: Queue,
    idempotency_key: str | None = None,
) -> tuple[InterviewCreated, bool]:
    """`submit_interview`, answered as the API shows it, and whether it is new (not a replay)."""
    accepted = submit_interview(
        session, data, actor=actor, max_answer_chars=max_answer_chars, queue=queue, idempotency_key=idempotency_key
    )
    return interview_created(accepted), accepted.created


def _enqueue(queue: Queue, ids: Sequence[uuid.UUID]) -> None:
    # Interactive, one by one: a recruiter is waiting on these, not on a sheet.
    for sid in ids:
        queue.enqueue(sid)


def _problems(session: Session, data: InterviewCreate, pins: dict[str, Any], max_chars: int) -> list[dict[str, Any]]:
    errors: list[dict[str, Any]] = []
    seen: dict[str, int] = {}
    banks = {pin.bank for qid, pin in pins.items() if qid in {a.question_id for a in data.answers}}

    def error(index: int, question_id: str, field: str, message: str) -> None:
        errors.append({"index": index, "question_id": question_id, "field": field, "message": message})

    for index, item in enumerate(data.answers):
        qid = item.question_id
        pin = pins.get(qid)
        if pin is None:
            hint = ", ".join(question_hint(session))
            error(index, qid, "question_id", f"question '{qid}' does not exist (known questions: {hint})")
        elif data.bank is not None and pin.bank != data.bank:
            error(index, qid, "question_id", f"question '{qid}' is in bank '{pin.bank}', not '{data.bank}'")
        if qid in seen:
            error(index, qid, "question_id", f"question '{qid}' is answered twice (also answers[{seen[qid]}])")
        seen.setdefault(qid, index)
        problem = answer_problem(item.answer, max_chars)
        if problem == "empty":
            error(index, qid, "answer", f"answer is empty; send 1 to {max_chars:,} characters")
        elif problem == "too_long":
            error(index, qid, "answer", f"answer is {len(item.answer):,} characters; the limit is {max_chars:,}")
    if data.bank is None and len(banks) > 1:
        error(
            0, data.answers[0].question_id, "bank", f"the questions come from several banks: {', '.join(sorted(banks))}"
        )
    return errors
