"""What `/api/v1/interviews` and `/api/v1/candidates` read and write (built from rows, never ORM classes)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from grader.db.models import Status
from grader.submissions.schemas import storable_text

MAX_INTERVIEW_ANSWERS = 100


class InterviewAnswer(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    question_id: Annotated[str, Field(min_length=1, max_length=16, examples=["q01"])]
    # Checked on submit against GRADER_MAX_ANSWER_CHARS, so the per-item error names the limit.
    answer: str

    _text = field_validator("question_id", "answer")(storable_text)


class InterviewCreate(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    candidate_id: Annotated[str, Field(min_length=1, max_length=200, examples=["c-2024-0117"])]
    candidate_name: Annotated[str | None, Field(max_length=200)] = None
    candidate_email: Annotated[str | None, Field(max_length=320)] = None
    bank: Annotated[str | None, Field(min_length=1, max_length=64, description="every question must be in it")] = None
    answers: Annotated[list[InterviewAnswer], Field(min_length=1, max_length=MAX_INTERVIEW_ANSWERS)]

    _text = field_validator("candidate_id", "candidate_name", "candidate_email", "bank")(storable_text)


class InterviewSubmission(BaseModel):
    index: int
    id: uuid.UUID
    question_id: str
    status: Status


class InterviewCreated(BaseModel):
    id: uuid.UUID
    candidate_id: str
    bank: str | None
    created_at: datetime
    submissions: list[InterviewSubmission]


ReviewState = Literal["pending", "running", "graded", "needs_review", "reviewed", "failed"]
CandidateStatus = Literal["grading", "in_review", "complete"]


class QuestionScore(BaseModel):
    submission_id: uuid.UUID
    question_id: str
    question: str | None = Field(description="a short label of the question")
    bank: str | None
    state: ReviewState
    score: float | None = Field(description="the score that counts: the reviewer's where reviewed, else the grader's")
    grader_score: float | None
    reviewer_score: float | None
    overridden: bool
    confidence: float | None
    flags: list[str]
    key_points_covered: float | None = Field(description="weighted share of the reference's key points credited")
    graded_at: datetime | None


class Standing(BaseModel):
    rank: int | None = Field(description="1 is best; candidates with equal scores share a rank")
    of: int = Field(description="candidates compared: finished, on the same questions")
    percentile: float | None = Field(description="share of those compared scoring at or below this one, 0-100")
    tied_with: int = Field(description="other candidates with exactly this score")


class Scorecard(BaseModel):
    candidate_id: str
    candidate_name: str | None
    candidate_email: str | None
    interview_id: uuid.UUID | None
    interviews: list[uuid.UUID]
    status: CandidateStatus
    answered: int
    pending: int
    in_review: int
    failed: int
    overall_score: float | None = Field(
        description="mean of the questions' scores (each question weighs the same; reviewers' scores win); "
        "null while any answer is still being graded"
    )
    partial_score: float | None = Field(description="the same mean over the answers scored so far")
    key_points_covered: float | None
    strongest: list[str]
    weakest: list[str]
    standing: Standing | None
    questions: list[QuestionScore]


class RankedCandidate(BaseModel):
    candidate_id: str
    candidate_name: str | None
    status: CandidateStatus
    rank: int | None = Field(description="among finished candidates; null while grading or in review")
    tied: bool
    score: float | None = Field(description="overall score once every answer is final, else null")
    partial_score: float | None
    answered: int
    pending: int
    in_review: int
    failed: int
    last_submitted_at: datetime


class CandidatePage(BaseModel):
    items: list[RankedCandidate]
    total: int
    limit: int
    offset: int
