"""Re-grading against a newer published version: an explicit admin action, never a side effect of
publishing. Each finished submission of the bank (or one question) pinned to an older reference
version is pinned to the latest one and queued again; its earlier grades stay, so its history shows
both (a grade is unique per submission, scoring version and reference hash)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from pydantic import BaseModel
from sqlalchemy import insert, select, update
from sqlalchemy.orm import Session

from grader.audit import audit
from grader.db.base import utcnow
from grader.db.models import AuditEntry, Status, Submission
from grader.db.session import on_commit
from grader.errors import BankVersionNotFound, QuestionNotFound
from grader.keys.principal import Principal
from grader.questions.banks import get_bank
from grader.questions.pins import latest_pins
from grader.queue.port import Queue
from grader.submissions.statuses import FINISHED, values

# Re-grades go out as chunks on the batch queue: a bulk admin action waits behind interactive answers.
CHUNK_SIZE = 50


class RegradeReport(BaseModel):
    bank: str
    version: int
    question_id: str | None
    queued: int  # submissions pinned to the latest version and queued
    questions: dict[str, int]  # per question id


def regrade(
    session: Session, bank: str, *, actor: Principal, queue: Queue, question_id: str | None = None
) -> RegradeReport:
    found = get_bank(session, bank)
    pins = {q: p for q, p in latest_pins(session).items() if p.bank == found.name}
    if not pins:
        raise BankVersionNotFound(bank, None)
    if question_id is not None:
        if question_id not in pins:
            raise QuestionNotFound(question_id, sorted(pins)[:20])
        pins = {question_id: pins[question_id]}
    version = next(iter(pins.values())).version
    finished = session.execute(
        select(Submission.id, Submission.question_id, Submission.reference_hash)
        .where(Submission.question_id.in_(sorted(pins)), Submission.status.in_(values(FINISHED)))
        .order_by(Submission.id)
        .with_for_update(of=Submission)
    ).all()
    # Those pinned to an older version (or to none: submitted before pinning).
    rows = [(sid, qid) for sid, qid, pinned in finished if pinned != pins[qid].content_hash]
    now = utcnow()
    counts: dict[str, int] = {}
    for qid, pin in pins.items():
        ids = [sid for sid, q in rows if q == qid]
        if not ids:
            continue
        counts[qid] = len(ids)
        session.execute(
            update(Submission)
            .where(Submission.id.in_(ids))
            .values(
                reference_hash=pin.content_hash,
                status=Status.PENDING.value,
                attempts=0,
                failure_reason=None,
                updated_at=now,
            )
            .execution_options(synchronize_session=False)
        )
    ids = [sid for sid, _ in rows]
    if ids:
        session.execute(
            insert(AuditEntry),
            [
                {
                    "actor_key_id": actor.key_id,
                    "actor": actor.name,
                    "action": "submission.regrade_requested",
                    "entity_type": "submission",
                    "entity_id": str(sid),
                    "at": now,
                    "details": {"bank": bank, "version": version, "reference_hash": pins[qid].content_hash},
                }
                for sid, qid in rows
            ],
        )
    audit(
        session,
        actor,
        "bank.regrade_requested",
        "bank",
        bank,
        version=version,
        question_id=question_id,
        queued=len(ids),
    )
    on_commit(session, lambda: _enqueue(queue, ids))
    return RegradeReport(bank=bank, version=version, question_id=question_id, queued=len(ids), questions=counts)


def _enqueue(queue: Queue, ids: Sequence[uuid.UUID]) -> None:
    request = uuid.uuid4()  # names the chunks in the workers' logs
    for start in range(0, len(ids), CHUNK_SIZE):
        queue.enqueue_chunk(request, ids[start : start + CHUNK_SIZE])
