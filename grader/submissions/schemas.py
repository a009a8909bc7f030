"""What `/api/v1/submissions` reads and writes. Built from ORM rows by the endpoints, never the ORM classes
themselves, so a column added to a table does not silently appear in (or vanish from) the public API."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from grader.db.models import Status


def storable_text(value: str | None) -> str | None:
    """A pydantic validator for text bound for a column (submissions and interviews alike)."""
    # JSON can carry NUL and lone surrogates ("\u0000", "\ud800"); no text column can store them.
    if value is not None:
        if "\x00" in value:
            raise ValueError("text must not contain NUL (\\u0000) characters")
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise ValueError("text must be valid Unicode (no lone surrogate code points)") from None
    return value


class SubmissionCreate(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    candidate_id: Annotated[str, Field(min_length=1, max_length=200, examples=["c-2024-0117"])]
    candidate_name: Annotated[str | None, Field(max_length=200)] = None
    candidate_email: Annotated[str | None, Field(max_length=320)] = None
    question_id: Annotated[str, Field(min_length=1, max_length=16, examples=["q01"])]
    # Length is checked on submit (`grader.submissions.answers`) against GRADER_MAX_ANSWER_CHARS, so the
    # message names the limit.
    answer: str = Field(examples=["RAG 先检索相关文档，再把检索结果放进提示词里让模型生成答案……"])

    _text = field_validator("candidate_id", "candidate_name", "candidate_email", "question_id", "answer")(storable_text)


class KeyPointGrade(BaseModel):
    """One key point of the reference: credit given, the evidence span found, keywords hit and missed."""

    id: str
    text: str
    weight: float
    credit: float
    similarity: float
    keywords_hit: list[str]
    keywords_missed: list[str]
    evidence: dict[str, Any] | None
    contradicted: bool
    contradiction: str | None = None  # the conflict, described
    # covered, partial, missed, contradicted, or disputed (read as contradicted in an otherwise strong answer:
    # counted, and sent to review); absent in grades recorded before states existed.
    state: str | None = None
    conflict: dict[str, Any] | None = None  # rule (misconception, negation, direction, verdict), claim, span


class GradeOut(BaseModel):
    score: float
    confidence: float
    flags: list[str]
    feedback: str
    key_points: list[KeyPointGrade]
    scoring_version: str
    reference_hash: str
    embedder: str
    calibration: str
    graded_at: datetime


class SubmissionOut(BaseModel):
    id: uuid.UUID
    status: Status
    candidate_id: str
    candidate_name: str | None
    candidate_email: str | None
    question_id: str
    reference_hash: str | None = Field(
        default=None, description="the reference version it is graded against, pinned at submit (or by a re-grade)"
    )
    answer: str
    created_at: datetime
    updated_at: datetime
    failure_reason: str | None
    grade: GradeOut | None = Field(default=None, description="the latest grade, once there is one")


class SubmissionSummary(BaseModel):
    id: uuid.UUID
    status: Status
    candidate_id: str
    question_id: str
    created_at: datetime
    score: float | None


class SubmissionPage(BaseModel):
    items: list[SubmissionSummary]
    total: int
    limit: int
    offset: int
