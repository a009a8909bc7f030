"""`/api/v1/results` and `/api/v1/stats`: the reviewers' queries, their corrections and the audit trail.

Reviewers and admins only: recruiters read their own submissions under `/api/v1/submissions`.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query

from grader.db.models import AuditEntry, Status
from grader.review import results as review
from grader.review import stats as review_stats
from grader.review.results_index import decode_flags
from grader.review.schemas import (
    HistoryEntry,
    KeyPointCorrection,
    ReferenceKeyPoint,
    ResultDetail,
    ResultPage,
    ResultSort,
    ResultStatus,
    ResultSummary,
    ReviewCreate,
    StatsOut,
)
from grader.review.schemas import QuestionStats as QuestionStatsOut
from grader.scoring.types import Flag
from grader.submissions.schemas import KeyPointGrade
from grader.web.deps import ReviewerDep, SessionDep

router = APIRouter(prefix="/api/v1", tags=["review"])

ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"description": "missing or unknown API key"},
    403: {"description": "not a reviewer or admin key"},
    404: {"description": "no graded result for that submission"},
    422: {"description": "invalid filter or review"},
}


def result_filter(
    question_id: Annotated[str | None, Query(max_length=16)] = None,
    batch_id: uuid.UUID | None = None,
    candidate_id: Annotated[str | None, Query(max_length=200)] = None,
    status: ResultStatus | None = None,
    score_min: Annotated[float | None, Query(ge=0, le=100)] = None,
    score_max: Annotated[float | None, Query(ge=0, le=100)] = None,
    flag: Flag | None = None,
    confidence_below: Annotated[float | None, Query(ge=0, le=1)] = None,
    graded_from: Annotated[datetime | None, Query(description="inclusive, ISO 8601")] = None,
    graded_to: Annotated[datetime | None, Query(description="exclusive, ISO 8601")] = None,
    reviewed: bool | None = None,
) -> review.ResultFilter:
    return review.ResultFilter(
        question_id=question_id,
        batch_id=batch_id,
        candidate_id=candidate_id,
        status=Status(status) if status else None,
        score_min=score_min,
        score_max=score_max,
        flag=flag.value if flag else None,
        confidence_below=confidence_below,
        graded_from=graded_from,
        graded_to=graded_to,
        reviewed=reviewed,
    )


FilterDep = Annotated[review.ResultFilter, Depends(result_filter)]
Limit = Annotated[int, Query(ge=1, le=200)]
Offset = Annotated[int, Query(ge=0, le=1_000_000)]


def summary_out(item: review.ResultItem) -> ResultSummary:
    row = item.row
    return ResultSummary(
        submission_id=row.submission_id,
        question_id=row.question_id,
        candidate_id=row.candidate_id,
        candidate_name=item.candidate_name,
        batch_id=row.batch_id,
        status=Status(row.status),
        grader_score=row.grader_score,
        final_score=row.final_score,
        confidence=row.confidence,
        flags=decode_flags(row.flags),
        reviewed=row.reviewed,
        overridden=row.overridden,
        review_count=row.review_count,
        reviewed_at=row.reviewed_at,
        reviewed_by=row.reviewed_by,
        graded_at=row.graded_at,
    )


def detail_out(view: review.ResultView) -> ResultDetail:
    summary = summary_out(review.ResultItem(view.row, view.submission.candidate_name))
    grade = view.grade
    return ResultDetail(
        **summary.model_dump(),
        question=view.question,
        answer=view.submission.answer,
        feedback=view.feedback,
        key_points=[KeyPointGrade.model_validate(kp) for kp in grade.key_points],
        reference_key_points=[
            ReferenceKeyPoint(id=kp["id"], text=kp["text"], weight=kp["weight"]) for kp in view.reference_key_points
        ],
        key_point_corrections=[KeyPointCorrection.model_validate(c) for c in view.row.key_point_corrections],
        scoring_version=grade.scoring_version,
        reference_hash=grade.reference_hash,
    )


def history_out(entry: AuditEntry) -> HistoryEntry:
    return HistoryEntry(id=entry.id, at=entry.at, actor=entry.actor, action=entry.action, details=entry.details)


def page_out(items: list[review.ResultItem], total: int, limit: int, offset: int, sort: ResultSort) -> ResultPage:
    return ResultPage(items=[summary_out(i) for i in items], total=total, limit=limit, offset=offset, sort=sort)


@router.get("/results", response_model=ResultPage, responses=ERRORS)
def list_results(
    session: SessionDep,
    _principal: ReviewerDep,
    filters: FilterDep,
    sort: ResultSort = "-graded_at",
    limit: Limit = 50,
    offset: Offset = 0,
) -> ResultPage:
    """Graded results, filtered and sorted (`-` for descending). Scores filter on the final score."""
    items, total = review.list_results(session, filters, sort=sort, limit=limit, offset=offset)
    return page_out(items, total, limit, offset, sort)


@router.get("/results/queue", response_model=ResultPage, responses=ERRORS)
def review_queue(
    session: SessionDep, _principal: ReviewerDep, filters: FilterDep, limit: Limit = 50, offset: Offset = 0
) -> ResultPage:
    """The review queue: results in `needs_review`, least confident first (any `status` given is ignored)."""
    items, total = review.review_queue(session, filters, limit=limit, offset=offset)
    return page_out(items, total, limit, offset, review.QUEUE_SORT)


@router.get("/results/{submission_id}", response_model=ResultDetail, responses=ERRORS)
def get_result(submission_id: uuid.UUID, session: SessionDep, _principal: ReviewerDep) -> ResultDetail:
    """The answer, the grader's breakdown with evidence spans (character offsets into `answer`), the
    reference key points, and the reviewer's decision so far."""
    return detail_out(review.get_result(session, submission_id))


@router.post(
    "/results/{submission_id}/review",
    response_model=ResultDetail,
    responses={**ERRORS, 409: {"description": "reviewed by someone else since expected_review_count"}},
)
def review_result(
    submission_id: uuid.UUID, data: ReviewCreate, session: SessionDep, principal: ReviewerDep
) -> ResultDetail:
    """Set the final score, optionally correct key points, with a required comment. Appends an audit entry
    (who, when, old and new decision, reason); earlier reviews stay in the history."""
    review.review(session, submission_id, data, principal)
    return detail_out(review.get_result(session, submission_id))


@router.get("/results/{submission_id}/history", response_model=list[HistoryEntry], responses=ERRORS)
def result_history(submission_id: uuid.UUID, session: SessionDep, _principal: ReviewerDep) -> list[HistoryEntry]:
    """The submission's audit trail, oldest first: created, graded, each review with old, new and reason."""
    return [history_out(e) for e in review.history(session, submission_id)]


@router.get("/stats", response_model=StatsOut, responses=ERRORS)
def stats(
    session: SessionDep,
    _principal: ReviewerDep,
    question_id: Annotated[str | None, Query(max_length=16)] = None,
    batch_id: uuid.UUID | None = None,
    graded_from: datetime | None = None,
    graded_to: datetime | None = None,
) -> StatsOut:
    """Per question: count, mean, median, histogram of final scores, share flagged / reviewed / overridden,
    and mean |final − grader| over reviewed results."""
    rows = review_stats.question_stats(session, review_stats.StatsFilter(question_id, batch_id, graded_from, graded_to))
    return StatsOut(
        total=sum(r.count for r in rows),
        bin_edges=review_stats.BIN_EDGES,
        questions=[QuestionStatsOut(**r.__dict__) for r in rows],
    )
