"""`/dashboard/candidates`: the ranking (sortable, filtered by bank, batch, date and status), a candidate's
scorecard with a chart of their per-question scores against each question's distribution, a printable
scorecard, and both as CSV/XLSX. Reviewers and admins, like every dashboard page (they see everyone)."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, time
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Request, Response
from fastapi.responses import HTMLResponse

from grader.candidates import exports, scorecards
from grader.dashboard.pages import ReviewerSession, _page, display_zone_of
from grader.errors import NotFound
from grader.review import stats as review_stats
from grader.web.deps import SessionDep

router = APIRouter(prefix="/dashboard/candidates", include_in_schema=False)
PAGE = 50
STATUS_LABELS = {"complete": "已完成", "in_review": "待审核", "grading": "评分中"}
STATE_LABELS = {
    "pending": "排队中",
    "running": "评分中",
    "graded": "已评分",
    "needs_review": "待审核",
    "reviewed": "已审核",
    "failed": "失败",
}
SORT_LABELS = {"score": "总分从高到低", "-score": "总分从低到高", "candidate": "考生编号", "recent": "最近提交"}


def _filters(
    request: Request, bank: str | None, batch: str | None, since: str | None, status: str | None
) -> tuple[scorecards.CandidateFilter, dict[str, str]]:
    """Lenient like the queue's filters: a value that does not parse is dropped, not an error page."""
    kept: dict[str, str] = {}
    batch_id = None
    if batch:
        try:
            batch_id = uuid.UUID(batch)
            kept["batch"] = batch
        except ValueError:
            pass
    since_at = None
    if since:
        try:
            day = datetime.strptime(since, "%Y-%m-%d").date()
            since_at = datetime.combine(day, time(), tzinfo=display_zone_of(request))  # the display zone's day
            kept["since"] = since
        except ValueError:
            pass
    if bank:
        kept["bank"] = bank
    chosen = status if status in STATUS_LABELS else None
    if chosen:
        kept["status"] = chosen
    f = scorecards.CandidateFilter(bank=bank or None, batch_id=batch_id, since=since_at, status=chosen)  # type: ignore[arg-type]
    return f, kept


@router.get("")
def candidates_page(
    request: Request,
    session: ReviewerSession,
    db: SessionDep,
    bank: str | None = None,
    batch: str | None = None,
    since: str | None = None,
    status: str | None = None,
    sort: str = "score",
    page: int = 1,
) -> HTMLResponse:
    f, kept = _filters(request, bank, batch, since, status)
    sort = sort if sort in scorecards.SORTS else "score"
    page = max(page, 1)
    assert session.principal is not None
    ranking = scorecards.ranking(db, session.principal, f, sort=sort, limit=PAGE, offset=(page - 1) * PAGE)
    query = {**kept, "sort": sort}
    return _page(
        request,
        session,
        "candidates.html",
        {
            "ranking": ranking,
            "filters": kept,
            "sort": sort,
            "page": page,
            "pages": max((ranking.total + PAGE - 1) // PAGE, 1),
            "query": urlencode(query),
            "STATUS": STATUS_LABELS,
            "SORTS": SORT_LABELS,
            "nav": "candidates",
        },
    )


@router.get("/export")
def candidates_export(
    request: Request,
    session: ReviewerSession,
    db: SessionDep,
    format: str = "csv",
    bank: str | None = None,
    batch: str | None = None,
    since: str | None = None,
    status: str | None = None,
    sort: str = "score",
) -> Response:
    f, _ = _filters(request, bank, batch, since, status)
    assert session.principal is not None
    ranking = scorecards.ranking(
        db, session.principal, f, sort=sort if sort in scorecards.SORTS else "score", limit=100_000, offset=0
    )
    fmt: exports.Format = "xlsx" if format == "xlsx" else "csv"
    return _download(exports.render(exports.ranking_table(ranking), fmt, "candidates"), fmt, "candidates")


def _download(body: bytes, fmt: exports.Format, name: str) -> Response:
    return Response(
        body,
        media_type=exports.MEDIA[fmt],
        headers={"Content-Disposition": f'attachment; filename="{name}.{fmt}"'},
    )


def _card(db: SessionDep, session: ReviewerSession, candidate_id: str) -> Any:
    assert session.principal is not None
    return scorecards.candidate_scorecard(db, candidate_id, session.principal)


def _chart(db: SessionDep, card: Any) -> str:
    stats = {s.question_id: s for s in review_stats.question_stats(db)}
    data = {
        "questions": [
            {
                "id": q.question_id,
                "label": q.question,
                "score": q.score,
                "state": q.state,
                "mean": stats[q.question_id].mean if q.question_id in stats else None,
                "median": stats[q.question_id].median if q.question_id in stats else None,
                "count": stats[q.question_id].count if q.question_id in stats else 0,
                "histogram": stats[q.question_id].histogram if q.question_id in stats else [],
            }
            for q in card.questions
        ]
    }
    return json.dumps(data, ensure_ascii=False).replace("<", "\\u003c")


@router.get("/{candidate_id}")
def candidate_page(
    request: Request, candidate_id: str, session: ReviewerSession, db: SessionDep, print: bool = False
) -> HTMLResponse:
    try:
        card = _card(db, session, candidate_id)
    except NotFound as exc:
        return _page(request, session, "error.html", {"title": "找不到该考生", "message": exc.message}, 404)
    return _page(
        request,
        session,
        "candidate_print.html" if print else "candidate.html",
        {
            "card": card,
            "chart_json": _chart(db, card),
            "now": datetime.now(UTC),
            "STATUS": STATUS_LABELS,
            "STATES": STATE_LABELS,
            "nav": "candidates",
        },
    )


@router.get("/{candidate_id}/export")
def candidate_export(candidate_id: str, session: ReviewerSession, db: SessionDep, format: str = "csv") -> Response:
    card = _card(db, session, candidate_id)
    fmt: exports.Format = "xlsx" if format == "xlsx" else "csv"
    safe = "".join(ch if ch.isalnum() or ch in "-_" else "_" for ch in candidate_id)[:60] or "candidate"
    return _download(exports.render(exports.scorecard_table(card), fmt, "scorecard"), fmt, f"scorecard-{safe}")
