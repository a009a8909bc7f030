"""The `/api/v1/banks` reads and draft edits as the API shows them, built here from the bank use cases
(`grader.questions.banks`) so the endpoints only pass requests through."""

from __future__ import annotations

from sqlalchemy.orm import Session

from grader.keys.principal import Principal
from grader.questions import banks
from grader.questions.drafts import DraftEdit
from grader.questions.schemas import BankDetail, DraftOut
from grader.scoring.types import Reference


def _draft_out(bank: str, ref: Reference) -> DraftOut:
    return DraftOut(
        bank=bank,
        question_id=ref.id,
        draft_hash=ref.content_hash,
        question=ref.question,
        reference_answer=ref.reference_answer,
        key_points=list(ref.key_points),
    )


def bank_detail(session: Session, bank: str) -> BankDetail:
    """The bank, its questions (draft and published hashes, pending edits) and its published versions."""
    banks.get_bank(session, bank)  # BankNotFound names the known banks
    summary = next(b for b in banks.list_banks(session) if b.name == bank)
    return BankDetail(
        bank=summary, questions=banks.list_questions(session, bank), versions=banks.list_versions(session, bank)
    )


def get_draft(session: Session, bank: str, question_id: str) -> DraftOut:
    return _draft_out(bank, banks.get_draft(session, bank, question_id))


def edit_draft(session: Session, bank: str, question_id: str, edit: DraftEdit, *, actor: Principal) -> DraftOut:
    return _draft_out(bank, banks.edit_draft(session, bank, question_id, edit, actor=actor))
