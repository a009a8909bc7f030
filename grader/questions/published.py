"""The `/api/v1/questions` use cases: the questions graded against now (every bank's latest published
version), as the API shows them."""

from __future__ import annotations

from sqlalchemy.orm import Session

from grader.errors import QuestionNotFound
from grader.questions.pins import PublishedQuestion, published_question_list, question_hint
from grader.questions.schemas import KeyPointOut, QuestionOut


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


def list_questions(session: Session) -> list[QuestionOut]:
    return [question_out(q) for q in published_question_list(session)]


def get_question(session: Session, question_id: str) -> QuestionOut:
    """The question with its reference version; an unknown id is refused with the ids that exist."""
    found = published_question_list(session, [question_id])
    if not found:
        raise QuestionNotFound(question_id, question_hint(session))
    return question_out(found[0])
