"""`/api/v1/questions`: the questions graded against now — every bank's latest published version —
with each question's reference version."""

from __future__ import annotations

from fastapi import APIRouter

from grader.errors import QuestionNotFound
from grader.questions.pins import PublishedQuestion, published_question_list, question_hint
from grader.questions.schemas import KeyPointOut, QuestionOut
from grader.web.deps import ReaderDep, SessionDep

router = APIRouter(prefix="/api/v1/questions", tags=["questions"])


def question_out(published: PublishedQuestion) -> QuestionOut:
    ref = published.reference
    return QuestionOut(
        id=ref.id,
        question=ref.question,
        reference_hash=ref.content_hash,
        bank=published.bank,
        bank_version=published.version,
        key_points=[
            KeyPointOut(id=kp.id, text=kp.text, weight=kp.weight, keywords=[k.term for k in kp.keywords])
            for kp in ref.key_points
        ],
    )


@router.get("", response_model=list[QuestionOut])
def list_questions(session: SessionDep, _principal: ReaderDep) -> list[QuestionOut]:
    return [question_out(q) for q in published_question_list(session)]


@router.get("/{question_id}", response_model=QuestionOut, responses={404: {"description": "unknown question"}})
def get_question(question_id: str, session: SessionDep, _principal: ReaderDep) -> QuestionOut:
    found = published_question_list(session, [question_id])
    if not found:
        raise QuestionNotFound(question_id, question_hint(session))
    return question_out(found[0])
