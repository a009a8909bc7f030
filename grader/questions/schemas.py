"""What `/api/v1/questions` and `/api/v1/banks` return and accept."""

from __future__ import annotations

from pydantic import BaseModel, Field

from grader.questions.banks import BankSummary, QuestionSummary, VersionSummary
from grader.scoring.types import KeyPoint


class KeyPointOut(BaseModel):
    id: str
    text: str
    weight: float
    keywords: list[str]


class QuestionOut(BaseModel):
    id: str
    question: str
    reference_hash: str = Field(description="content hash of the reference version grades are made against")
    bank: str = Field(description="the question bank it belongs to")
    bank_version: int = Field(description="the bank's published version this reference is taken from")
    key_points: list[KeyPointOut]


class BankDetail(BaseModel):
    bank: BankSummary
    questions: list[QuestionSummary]
    versions: list[VersionSummary]


class DraftOut(BaseModel):
    """A question's draft as an admin edits it (PUT takes the same fields, each optional)."""

    bank: str
    question_id: str
    draft_hash: str = Field(description="the content hash it would publish as")
    question: str
    reference_answer: str
    key_points: list[KeyPoint]
