"""`/api/v1/questions`: the bank as graded against now, with each question's reference version."""

from __future__ import annotations

from fastapi import APIRouter

from grader.errors import QuestionNotFound
from grader.questions.schemas import KeyPointOut, QuestionOut
from grader.scoring.types import Reference
from grader.web.deps import BankDep, ReaderDep

router = APIRouter(prefix="/api/v1/questions", tags=["questions"])


def question_out(ref: Reference) -> QuestionOut:
    return QuestionOut(
        id=ref.id,
        question=ref.question,
        reference_hash=ref.content_hash,
        key_points=[
            KeyPointOut(id=kp.id, text=kp.text, weight=kp.weight, keywords=[k.term for k in kp.keywords])
            for kp in ref.key_points
        ],
    )


@router.get("", response_model=list[QuestionOut])
def list_questions(bank: BankDep, _principal: ReaderDep) -> list[QuestionOut]:
    return [question_out(ref) for ref in bank.values()]


@router.get("/{question_id}", response_model=QuestionOut, responses={404: {"description": "unknown question"}})
def get_question(question_id: str, bank: BankDep, _principal: ReaderDep) -> QuestionOut:
    ref = bank.get(question_id)
    if ref is None:
        raise QuestionNotFound(question_id, sorted(bank))
    return question_out(ref)
