"""`/api/v1/results` and `/api/v1/stats`: the reviewers' queries, their corrections and the audit trail.

Reviewers and admins only: recruiters read their own submissions under `/api/v1/submissions`.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query

from grader.db.models import Status
from grader.review import results as review
from grader.review import stats as review_stats
from grader.review import views
from grader.review.schemas import (
    HistoryEntry,
    ResultDetail,
    ResultPage,
    ResultSort,
    ResultStatus,
    ReviewCreate,
    StatsOut,
)
from grader.scoring.types import Flag
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
Cursor = Annotated[
    str | None,
    Query(
        max_length=2000,
        description="the previous page's next_cursor: the page after it, as fast deep in the list as at its start",
    ),
]


@router.get("/results", response_model=ResultPage, responses=ERRORS)
def list_results(
    session: SessionDep,
    _principal: ReviewerDep,
    filters: FilterDep,
    sort: ResultSort = "-graded_at",
    limit: Limit = 50,
    offset: Offset = 0,
    cursor: Cursor = None,
) -> ResultPage:
    """Graded results, filtered and sorted (`-` for descending). Scores filter on the final score. Page on
    with `cursor=<next_cursor>` (keyset: the same cost on any page); `offset` also works but walks past the
    rows it skips."""
    return views.list_results(session, filters, sort=sort, limit=limit, offset=offset, cursor=cursor)


@router.get("/results/queue", response_model=ResultPage, responses=ERRORS)
def review_queue(
    session: SessionDep,
    _principal: ReviewerDep,
    filters: FilterDep,
    limit: Limit = 50,
    offset: Offset = 0,
    cursor: Cursor = None,
) -> ResultPage:
    """The review queue: results in `needs_review`, least confident first (any `status` given is ignored).
    Page on with `cursor=<next_cursor>`."""
    return views.review_queue(session, filters, limit=limit, offset=offset, cursor=cursor)


@router.get("/results/{submission_id}", response_model=ResultDetail, responses=ERRORS)
def get_result(submission_id: uuid.UUID, session: SessionDep, _principal: ReviewerDep) -> ResultDetail:
    """The answer, the grader's breakdown with evidence spans (character offsets into `answer`), the
    reference key points, and the reviewer's decision so far."""
    return views.get_result(session, submission_id)


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
    return views.review_result(session, submission_id, data, principal)


@router.get("/results/{submission_id}/history", response_model=list[HistoryEntry], responses=ERRORS)
def result_history(submission_id: uuid.UUID, session: SessionDep, _principal: ReviewerDep) -> list[HistoryEntry]:
    """The submission's audit trail, oldest first: created, graded, each review with old, new and reason."""
    return views.history(session, submission_id)


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
    return views.stats(session, review_stats.StatsFilter(question_id, batch_id, graded_from, graded_to))
