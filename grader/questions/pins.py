"""Which published reference version a question is graded against now, and which bank version a
pinned one came from: what submit pins and what the grader loads. Functions take the caller's session.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import NamedTuple

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from grader.db.bank_models import Bank, BankVersion, BankVersionQuestion
from grader.db.models import Question, ReferenceVersion
from grader.questions.banks import references_by_hash
from grader.scoring.types import Reference


class PublishedQuestion(NamedTuple):
    bank: str
    version: int
    reference: Reference


class QuestionPin(NamedTuple):
    bank: str
    version: int  # the bank version this content hash is taken from
    question_id: str
    content_hash: str


def latest_pins(session: Session, question_ids: Iterable[str] | None = None) -> dict[str, QuestionPin]:
    """Each question of a published bank (or only `question_ids`) with its reference version in the
    bank's latest published version, in bank and question order. A question dropped from its bank's
    latest version is absent: nothing new is graded against it."""
    latest = (
        select(BankVersion.bank_id, func.max(BankVersion.version).label("version"))
        .group_by(BankVersion.bank_id)
        .subquery()
    )
    query = (
        select(Bank.name, BankVersion.version, BankVersionQuestion.question_id, BankVersionQuestion.content_hash)
        .join(BankVersion, BankVersion.id == BankVersionQuestion.bank_version_id)
        .join(Bank, Bank.id == BankVersion.bank_id)
        .join(latest, (latest.c.bank_id == BankVersion.bank_id) & (latest.c.version == BankVersion.version))
        .order_by(Bank.name, BankVersionQuestion.position)
    )
    if question_ids is not None:
        wanted = sorted(set(question_ids))
        if not wanted:
            return {}
        query = query.where(BankVersionQuestion.question_id.in_(wanted))
    return {row.question_id: QuestionPin(*row) for row in session.execute(query)}


def pin_versions(session: Session, pins: Iterable[tuple[str, str]]) -> dict[tuple[str, str], QuestionPin]:
    """For each (question id, content hash) pinned, the newest bank version that published it: the
    grader compares an answer with that version's other questions (off-topic check)."""
    wanted = set(pins)
    if not wanted:
        return {}
    rows = session.execute(
        select(Bank.name, BankVersion.version, BankVersionQuestion.question_id, BankVersionQuestion.content_hash)
        .join(BankVersion, BankVersion.id == BankVersionQuestion.bank_version_id)
        .join(Bank, Bank.id == BankVersion.bank_id)
        .where(BankVersionQuestion.question_id.in_(sorted({q for q, _ in wanted})))
        .order_by(BankVersion.version)
    )
    found: dict[tuple[str, str], QuestionPin] = {}
    for row in rows:
        if (row.question_id, row.content_hash) in wanted:
            found[(row.question_id, row.content_hash)] = QuestionPin(*row)
    return found


def question_hint(session: Session, limit: int = 20) -> list[str]:
    """A few question ids that can be graded, for a "does not exist" message."""
    return sorted(latest_pins(session))[:limit]


def published_questions(session: Session) -> dict[str, str]:
    """Question id → question text, for every question of every bank's latest published version."""
    pins = latest_pins(session)
    if not pins:
        return {}
    texts = dict(
        session.execute(
            select(ReferenceVersion.content_hash, ReferenceVersion.question).where(
                ReferenceVersion.question_id.in_(sorted(pins)),
                ReferenceVersion.content_hash.in_(sorted({p.content_hash for p in pins.values()})),
            )
        ).all()
    )
    return {qid: texts.get(pin.content_hash) or qid for qid, pin in pins.items()}


def question_choices(session: Session) -> list[tuple[str, str]]:
    """(id, text) of every question the database knows, for filter menus."""
    return [(qid, text) for qid, text in session.execute(select(Question.id, Question.text).order_by(Question.id))]


def published_question_list(session: Session, question_ids: Iterable[str] | None = None) -> list[PublishedQuestion]:
    """The questions graded against now (every bank's latest published version), with their references."""
    pins = latest_pins(session, question_ids)
    refs = references_by_hash(session, [(p.question_id, p.content_hash) for p in pins.values()])
    return [PublishedQuestion(p.bank, p.version, refs[p.content_hash]) for p in pins.values() if p.content_hash in refs]
