"""What the review endpoints read and write (`/api/v1/results`, `/api/v1/stats`), built from rows by
`grader.review.api`, never the ORM classes themselves."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from grader.db.models import Status
from grader.submissions.schemas import KeyPointGrade

ResultSort = Literal["confidence", "-confidence", "score", "-score", "graded_at", "-graded_at", "candidate", "question"]
ResultStatus = Literal["graded", "needs_review"]


class KeyPointCorrection(BaseModel):
    """A reviewer's credit for one key point (0 = missed, 1 = fully covered), replacing the grader's."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    key_point_id: Annotated[str, Field(min_length=1, max_length=8, examples=["kp2"])]
    credit: Annotated[float, Field(ge=0, le=1)]
    note: Annotated[str | None, Field(max_length=500)] = None


class ReviewCreate(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    final_score: Annotated[float, Field(ge=0, le=100, description="the score that counts from now on")]
    comment: Annotated[
        str, Field(min_length=1, max_length=2000, description="why: kept in the audit trail with the old and new score")
    ]
    key_points: list[KeyPointCorrection] = Field(default_factory=list, max_length=50)
    expected_review_count: Annotated[
        int | None, Field(ge=0, description="the review_count you saw; 409 if someone reviewed it since")
    ] = None


class ResultSummary(BaseModel):
    submission_id: uuid.UUID
    question_id: str
    candidate_id: str
    candidate_name: str | None
    batch_id: uuid.UUID | None
    status: Status
    grader_score: float
    final_score: float = Field(description="the reviewer's score once reviewed, else the grader's")
    confidence: float
    flags: list[str]
    reviewed: bool
    overridden: bool = Field(description="reviewed, and the final score differs from the grader's")
    review_count: int
    reviewed_at: datetime | None
    reviewed_by: str | None
    graded_at: datetime


class ResultPage(BaseModel):
    items: list[ResultSummary]
    total: int = Field(
        description="Results matching the filters, counted up to 10,000; past that `total` is 10,000 and "
        "`total_exact` false (the statistics endpoints give full counts)."
    )
    total_exact: bool = Field(True, description="Whether `total` is the full count or a lower bound.")
    limit: int
    offset: int
    sort: ResultSort
    next_cursor: str | None = Field(
        None,
        description="pass as `cursor` for the next page (same sort and filters); null on the last page",
    )


class ReferenceKeyPoint(BaseModel):
    id: str
    text: str
    weight: float


class ResultDetail(ResultSummary):
    question: str
    answer: str
    feedback: str
    key_points: list[KeyPointGrade] = Field(description="the grader's per-key-point breakdown, with evidence")
    reference_key_points: list[ReferenceKeyPoint] = Field(description="the reference version graded against")
    key_point_corrections: list[KeyPointCorrection]
    scoring_version: str
    reference_hash: str


class HistoryEntry(BaseModel):
    id: int
    at: datetime
    actor: str
    action: str
    details: dict[str, Any]


class QuestionStats(BaseModel):
    question_id: str
    question: str | None
    count: int
    mean: float
    median: float
    histogram: list[int] = Field(description="final scores in ten bins: [0,10), [10,20) … [90,100]")
    share_flagged: float
    share_reviewed: float
    share_overridden: float = Field(description="share whose final score differs from the grader's")
    mean_abs_override_delta: float | None = Field(
        description="mean |final − grader| over reviewed results; None when none was reviewed"
    )
    mean_grader_score: float


class StatsOut(BaseModel):
    total: int
    bin_edges: list[int]
    questions: list[QuestionStats]
