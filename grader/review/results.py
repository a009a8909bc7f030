"""Review use cases: find the results that need a person, explain them, correct them, measure them.

Reads go to the `results` table (`grader.db.review_models`), one narrow row per graded submission, so
the queue is an index range scan and the statistics one pass. A review changes that row and appends an
`audit_log` entry with who, when, the old and new decision and the reason; the audit log is
append-only, so the history of a result is never rewritten. Statistics are in `grader.review.stats`.
Functions take the caller's session and never commit.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeVarTuple

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from grader.audit import audit
from grader.db.base import utcnow
from grader.db.models import AuditEntry, Grade, Question, ReferenceVersion, Status, Submission
from grader.db.review_models import ResultRow
from grader.errors import Conflict, InvalidInput, ResultNotFound
from grader.keys.principal import Principal
from grader.review import aggregates, cursors
from grader.review.feedback import shown_feedback
from grader.review.schemas import ResultSort, ReviewCreate
from grader.webhooks import events as webhook_events

QUEUE_SORT: ResultSort = "confidence"
Ts = TypeVarTuple("Ts")


@dataclass(frozen=True)
class ResultFilter:
    question_id: str | None = None
    batch_id: uuid.UUID | None = None
    candidate_id: str | None = None
    status: Status | None = None
    score_min: float | None = None
    score_max: float | None = None
    flag: str | None = None
    confidence_below: float | None = None
    graded_from: datetime | None = None
    graded_to: datetime | None = None
    reviewed: bool | None = None

    def __post_init__(self) -> None:
        for name, value in check_instants(graded_from=self.graded_from, graded_to=self.graded_to).items():
            object.__setattr__(self, name, value)


def check_instants(**instants: datetime | None) -> dict[str, datetime | None]:
    """The instants in UTC (a time without a zone is read as UTC). Refuses (422) one the database cannot
    compare with: outside years 1–9999 once moved to UTC (`0001-01-01T00:00:00+14:00`,
    `9999-12-31T23:59:59-14:00` overflowed into a 500)."""
    checked: dict[str, datetime | None] = {}
    for name, value in instants.items():
        if value is None or value.tzinfo is None:
            checked[name] = value.replace(tzinfo=UTC) if value is not None else None
            continue
        try:
            checked[name] = value.astimezone(UTC)
        except OverflowError:
            raise InvalidInput(
                f"{name} {value.isoformat()} is out of range: it falls outside years 1–9999 in UTC; "
                "give a time between 0001-01-02 and 9999-12-30",
                details={"field": name, "value": value.isoformat()},
            ) from None
    return checked


# Each sort's columns, descending or not. Ties are broken by submission_id in the direction of the last column,
# so every page order is total and a cursor names one position in it.
_SORTS: dict[str, tuple[tuple[Any, bool], ...]] = {
    "confidence": ((ResultRow.confidence, False),),
    "-confidence": ((ResultRow.confidence, True),),
    "score": ((ResultRow.final_score, False),),
    "-score": ((ResultRow.final_score, True),),
    "graded_at": ((ResultRow.graded_at, False),),
    "-graded_at": ((ResultRow.graded_at, True),),
    "candidate": ((ResultRow.candidate_id, False), (ResultRow.question_id, False)),
    "question": ((ResultRow.question_id, False), (ResultRow.final_score, True)),
}


def _sort_keys(sort: ResultSort) -> list[tuple[Any, bool]]:
    keys = list(_SORTS[sort])
    return [*keys, (ResultRow.submission_id, keys[-1][1])]


def where(query: Select[*Ts], f: ResultFilter) -> Select[*Ts]:
    conditions = []
    if f.question_id:
        conditions.append(ResultRow.question_id == f.question_id)
    if f.batch_id is not None:
        conditions.append(ResultRow.batch_id == f.batch_id)
    if f.candidate_id:
        conditions.append(ResultRow.candidate_id == f.candidate_id)
    if f.status is not None:
        conditions.append(ResultRow.status == f.status.value)
    if f.score_min is not None:
        conditions.append(ResultRow.final_score >= f.score_min)
    if f.score_max is not None:
        conditions.append(ResultRow.final_score <= f.score_max)
    if f.flag:
        conditions.append(ResultRow.flags.like(f"%|{f.flag}|%"))
    if f.confidence_below is not None:
        conditions.append(ResultRow.confidence < f.confidence_below)
    if f.graded_from is not None:
        conditions.append(ResultRow.graded_at >= f.graded_from)
    if f.graded_to is not None:
        conditions.append(ResultRow.graded_at < f.graded_to)
    if f.reviewed is not None:
        conditions.append(ResultRow.reviewed == f.reviewed)
    return query.where(*conditions) if conditions else query


@dataclass(frozen=True)
class ResultItem:
    row: ResultRow
    candidate_name: str | None


# A page says how many results match, counting up to COUNT_CAP: past it the count is "more than COUNT_CAP".
# Counting every match cost a scan of them per page (at 10,000,000 results: 0.2 s for the queue's first page,
# 1.4 s filtered); nobody pages through more than 200 pages of 50, and a total past that is read off the
# statistics, which keep running sums.
COUNT_CAP = 10_000


@dataclass(frozen=True)
class Matching:
    """How many results a filter matches: `count` exactly, or at least `count` where `exact` is false."""

    count: int
    exact: bool


def count_matching(session: Session, f: ResultFilter, cap: int = COUNT_CAP) -> Matching:
    """Counts the first `cap` + 1 matches only: the database stops there, whatever the number of results."""
    first = where(select(ResultRow.submission_id), f).limit(cap + 1).subquery()
    found = session.scalar(select(func.count()).select_from(first)) or 0
    return Matching(min(found, cap), found <= cap)


@dataclass(frozen=True)
class Page:
    """One page of results, how many match, and the cursor of the page after it (None on the last page)."""

    items: list[ResultItem]
    total: Matching
    next_cursor: str | None


def list_results(
    session: Session, f: ResultFilter, *, sort: ResultSort, limit: int, offset: int = 0, cursor: str | None = None
) -> Page:
    """A page by `offset` (the n-th match on: the database walks past the `offset` before it) or by `cursor`
    (the matches after the last row of the page that gave it: as cheap at the millionth result as at the
    first, and stable while results are added)."""
    if f.score_min is not None and f.score_max is not None and f.score_min > f.score_max:
        raise InvalidInput(f"score_min {f.score_min:g} is above score_max {f.score_max:g}")
    if cursor is not None and offset:
        raise InvalidInput("give either cursor or offset, not both: a cursor already says where the page starts")
    total = count_matching(session, f)
    query = where(
        select(ResultRow, Submission.candidate_name).join(Submission, Submission.id == ResultRow.submission_id), f
    )
    keys = _sort_keys(sort)
    if cursor is not None:
        query = query.where(cursors.after(keys, cursors.decode(cursor, sort, f)))
    order = [column.desc() if descending else column.asc() for column, descending in keys]
    # One row past the page says whether there is a next one without counting.
    found = list(session.execute(query.order_by(*order).limit(limit + 1).offset(offset)))
    items = [ResultItem(row, name) for row, name in found[:limit]]
    following = None
    if len(found) > limit:
        last = items[-1].row
        following = cursors.encode([getattr(last, column.key) for column, _ in keys], sort, f)
    return Page(items, total, following)


def review_queue(session: Session, f: ResultFilter, *, limit: int, offset: int = 0, cursor: str | None = None) -> Page:
    """Results waiting for a reviewer, least confident first."""
    f = ResultFilter(**{**f.__dict__, "status": Status.NEEDS_REVIEW})
    return list_results(session, f, sort=QUEUE_SORT, limit=limit, offset=offset, cursor=cursor)


# --- one result --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ResultView:
    row: ResultRow
    submission: Submission
    grade: Grade
    question: str
    reference_key_points: list[dict[str, Any]]

    @property
    def feedback(self) -> str:
        """The grader's feedback, its score line showing the final score once reviewed."""
        row = self.row
        return shown_feedback(
            self.grade.feedback,
            grader_score=row.grader_score,
            final_score=row.final_score,
            reviewed=row.reviewed,
            comment=row.review_comment,
        )


def get_result(session: Session, submission_id: uuid.UUID) -> ResultView:
    row = session.get(ResultRow, submission_id)
    if row is None:
        submission = session.get(Submission, submission_id)
        raise ResultNotFound(submission_id, submission.status if submission is not None else None)
    submission = session.get(Submission, submission_id)
    grade = session.get(Grade, row.grade_id)
    assert submission is not None and grade is not None  # foreign keys with ON DELETE CASCADE
    version = session.get(ReferenceVersion, (grade.question_id, grade.reference_hash))
    question = session.get(Question, grade.question_id)
    return ResultView(
        row,
        submission,
        grade,
        question.text if question is not None else grade.question_id,
        list(version.key_points) if version is not None else [],
    )


def review(session: Session, submission_id: uuid.UUID, data: ReviewCreate, actor: Principal) -> ResultRow:
    """Set the final score (and optionally per-key-point credit) with a reason, and record it."""
    # Lock order as in grading (`grader.grading.record`): the submission, then its result row.
    submission = session.get(Submission, submission_id, with_for_update=True)
    row = session.get(ResultRow, submission_id, with_for_update=True)
    if submission is None or row is None:
        raise ResultNotFound(submission_id, submission.status if submission is not None else None)
    if data.expected_review_count is not None and data.expected_review_count != row.review_count:
        raise Conflict(
            f"this result was reviewed by {row.reviewed_by} at {row.reviewed_at:%Y-%m-%d %H:%M} UTC "
            "after you loaded it; reload and review again",
            details={"review_count": row.review_count, "reviewed_by": row.reviewed_by},
        )
    grade = session.get(Grade, row.grade_id)
    assert grade is not None
    known = [kp["id"] for kp in grade.key_points]
    unknown = sorted({c.key_point_id for c in data.key_points} - set(known))
    if unknown:
        raise InvalidInput(
            f"unknown key point(s) {', '.join(unknown)}; this result has {', '.join(known)}",
            details={"unknown": unknown, "key_points": known},
        )
    corrections = {c["key_point_id"]: c for c in row.key_point_corrections}
    corrections.update({c.key_point_id: c.model_dump() for c in data.key_points})
    old = {
        "final_score": row.final_score,
        "status": row.status,
        "key_point_corrections": list(row.key_point_corrections),
    }
    before = aggregates.counted(row)
    now = utcnow()
    row.final_score = data.final_score
    row.status = Status.GRADED.value
    row.reviewed = True
    row.overridden = abs(data.final_score - row.grader_score) > 1e-9
    row.review_count += 1
    row.reviewed_at = now
    row.reviewed_by = actor.name
    row.review_comment = data.comment
    row.key_point_corrections = [corrections[k] for k in known if k in corrections]
    if submission.status == Status.NEEDS_REVIEW.value:
        submission.status = Status.GRADED.value  # a person has decided: out of the queue
        submission.updated_at = now
    aggregates.apply(session, [before], [aggregates.counted(row)])
    new = {
        "final_score": row.final_score,
        "status": row.status,
        "key_point_corrections": list(row.key_point_corrections),
    }
    audit(
        session,
        actor,
        "result.reviewed",
        "submission",
        submission_id,
        old=old,
        new=new,
        grader_score=row.grader_score,
        grade_id=row.grade_id,
        comment=data.comment,
        review_count=row.review_count,
    )
    session.flush()
    webhook_events.reviewed(session, submission_id, row, actor.name)
    return row


def review_atomically(session: Session, submission_id: uuid.UUID, data: ReviewCreate, actor: Principal) -> ResultRow:
    """`review`, undone as a whole when it refuses (conflict, unknown key point), so the caller's
    transaction carries on as if it had not been tried: the dashboard then shows the result as it is
    with the reason."""
    with session.begin_nested():
        return review(session, submission_id, data, actor)


def history(session: Session, submission_id: uuid.UUID) -> list[AuditEntry]:
    """Everything the audit log holds about the submission, oldest first: created, graded, reviewed."""
    entries = list(
        session.scalars(
            select(AuditEntry)
            .where(AuditEntry.entity_type == "submission", AuditEntry.entity_id == str(submission_id))
            .order_by(AuditEntry.at, AuditEntry.id)
        )
    )
    if not entries and session.get(Submission, submission_id) is None:
        raise ResultNotFound(submission_id)
    return entries
