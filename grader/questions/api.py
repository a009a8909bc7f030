"""`/api/v1/questions`: the questions graded against now — every bank's latest published version —
with each question's reference version."""

from __future__ import annotations

from fastapi import APIRouter

from grader.questions import published
from grader.questions.schemas import QuestionOut
from grader.web.deps import ReaderDep, SessionDep

router = APIRouter(prefix="/api/v1/questions", tags=["questions"])


@router.get("", response_model=list[QuestionOut])
def list_questions(session: SessionDep, _principal: ReaderDep) -> list[QuestionOut]:
    return published.list_questions(session)


@router.get("/{question_id}", response_model=QuestionOut, responses={404: {"description": "unknown question"}})
def get_question(question_id: str, session: SessionDep, _principal: ReaderDep) -> QuestionOut:
    return published.get_question(session, question_id)
