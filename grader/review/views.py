"""The `/api/v1/results` and `/api/v1/stats` use cases as the API shows them: result rows, reviews, the audit
trail and statistics built into the public schemas here, so the endpoints never hold an ORM row."""

from __future__ import annotations

import uuid

from sqlalchemy.orm import Session

from grader.db.models import AuditEntry, Status
from grader.keys.principal import Principal
from grader.review import results as review
from grader.review import stats as review_stats
from grader.review.results_index import decode_flags
from grader.review.schemas import (
    HistoryEntry,
    KeyPointCorrection,
    QuestionStats,
    ReferenceKeyPoint,
    ResultDetail,
    ResultPage,
    ResultSort,
    ResultSummary,
    ReviewCreate,
    StatsOut,
)
from grader.submissions.schemas import KeyPointGrade


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


def page_out(page: review.Page, limit: int, offset: int, sort: ResultSort) -> ResultPage:
    return ResultPage(
        items=[summary_out(i) for i in page.items],
        total=page.total.count,
        total_exact=page.total.exact,
        limit=limit,
        offset=offset,
        sort=sort,
        next_cursor=page.next_cursor,
    )


def list_results(
    session: Session,
    filters: review.ResultFilter,
    *,
    sort: ResultSort,
    limit: int,
    offset: int = 0,
    cursor: str | None = None,
) -> ResultPage:
    page = review.list_results(session, filters, sort=sort, limit=limit, offset=offset, cursor=cursor)
    return page_out(page, limit, offset, sort)


def review_queue(
    session: Session, filters: review.ResultFilter, *, limit: int, offset: int = 0, cursor: str | None = None
) -> ResultPage:
    page = review.review_queue(session, filters, limit=limit, offset=offset, cursor=cursor)
    return page_out(page, limit, offset, review.QUEUE_SORT)


def get_result(session: Session, submission_id: uuid.UUID) -> ResultDetail:
    return detail_out(review.get_result(session, submission_id))


def review_result(session: Session, submission_id: uuid.UUID, data: ReviewCreate, actor: Principal) -> ResultDetail:
    """Record the review, then the result as it stands after it."""
    review.review(session, submission_id, data, actor)
    return get_result(session, submission_id)


def history(session: Session, submission_id: uuid.UUID) -> list[HistoryEntry]:
    return [history_out(e) for e in review.history(session, submission_id)]


def stats(session: Session, filters: review_stats.StatsFilter) -> StatsOut:
    rows = review_stats.question_stats(session, filters)
    return StatsOut(
        total=sum(r.count for r in rows),
        bin_edges=review_stats.BIN_EDGES,
        questions=[QuestionStats(**r.__dict__) for r in rows],
    )
