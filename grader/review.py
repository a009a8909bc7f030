"""Review use cases: find the results that need a person, explain them, correct them, measure them.

Reads go to the `results` table (`grader.db.review_models`), one narrow row per graded submission, so
the queue is an index range scan and the statistics one pass. A review changes that row and appends an
`audit_log` entry with who, when, the old and new decision and the reason; the audit log is
append-only, so the history of a result is never rewritten. As in `grader.service`, functions take the
caller's session and never commit.
"""

from __future__ import annotations

import statistics
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypeVarTuple

from sqlalchemy import Select, and_, func, select, true
from sqlalchemy.orm import Session

from grader.auth import Principal
from grader.db.base import utcnow
from grader.db.models import AuditEntry, Grade, Question, ReferenceVersion, Status, Submission
from grader.db.review_models import ResultRow
from grader.errors import Conflict, InvalidInput, ResultNotFound
from grader.review_schemas import ResultSort, ReviewCreate
from grader.service import audit

BINS = 10
BIN_EDGES = [i * 100 // BINS for i in range(BINS + 1)]
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


_SORTS: dict[str, tuple[Any, ...]] = {
    "confidence": (ResultRow.confidence.asc(),),
    "-confidence": (ResultRow.confidence.desc(),),
    "score": (ResultRow.final_score.asc(),),
    "-score": (ResultRow.final_score.desc(),),
    "graded_at": (ResultRow.graded_at.asc(),),
    "-graded_at": (ResultRow.graded_at.desc(),),
    "candidate": (ResultRow.candidate_id.asc(), ResultRow.question_id.asc()),
    "question": (ResultRow.question_id.asc(), ResultRow.final_score.desc()),
}


def _where(query: Select[*Ts], f: ResultFilter) -> Select[*Ts]:
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


def list_results(session: Session, f: ResultFilter, *, sort: ResultSort, limit: int,
                 offset: int) -> tuple[list[ResultItem], int]:
    if f.score_min is not None and f.score_max is not None and f.score_min > f.score_max:
        raise InvalidInput(f"score_min {f.score_min:g} is above score_max {f.score_max:g}")
    total = session.scalar(_where(select(func.count()).select_from(ResultRow), f)) or 0
    query = _where(select(ResultRow, Submission.candidate_name)
                   .join(Submission, Submission.id == ResultRow.submission_id), f)
    rows = session.execute(query.order_by(*_SORTS[sort], ResultRow.submission_id).limit(limit).offset(offset))
    return [ResultItem(row, name) for row, name in rows], total


def review_queue(session: Session, f: ResultFilter, *, limit: int, offset: int) -> tuple[list[ResultItem], int]:
    """Results waiting for a reviewer, least confident first."""
    f = ResultFilter(**{**f.__dict__, "status": Status.NEEDS_REVIEW})
    return list_results(session, f, sort=QUEUE_SORT, limit=limit, offset=offset)


# --- one result --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ResultView:
    row: ResultRow
    submission: Submission
    grade: Grade
    question: str
    reference_key_points: list[dict[str, Any]]


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
    return ResultView(row, submission, grade, question.text if question is not None else grade.question_id,
                      list(version.key_points) if version is not None else [])


def review(session: Session, submission_id: uuid.UUID, data: ReviewCreate, actor: Principal) -> ResultRow:
    """Set the final score (and optionally per-key-point credit) with a reason, and record it."""
    # Lock order as in grading (`service.record`): the submission, then its result row.
    submission = session.get(Submission, submission_id, with_for_update=True)
    row = session.get(ResultRow, submission_id, with_for_update=True)
    if submission is None or row is None:
        raise ResultNotFound(submission_id, submission.status if submission is not None else None)
    if data.expected_review_count is not None and data.expected_review_count != row.review_count:
        raise Conflict(f"this result was reviewed by {row.reviewed_by} at {row.reviewed_at:%Y-%m-%d %H:%M} UTC "
                       "after you loaded it; reload and review again",
                       details={"review_count": row.review_count, "reviewed_by": row.reviewed_by})
    grade = session.get(Grade, row.grade_id)
    assert grade is not None
    known = [kp["id"] for kp in grade.key_points]
    unknown = sorted({c.key_point_id for c in data.key_points} - set(known))
    if unknown:
        raise InvalidInput(f"unknown key point(s) {', '.join(unknown)}; this result has {', '.join(known)}",
                           details={"unknown": unknown, "key_points": known})
    corrections = {c["key_point_id"]: c for c in row.key_point_corrections}
    corrections.update({c.key_point_id: c.model_dump() for c in data.key_points})
    old = {"final_score": row.final_score, "status": row.status,
           "key_point_corrections": list(row.key_point_corrections)}
    now = utcnow()
    row.final_score = data.final_score
    row.status = Status.GRADED.value
    row.reviewed = True
    row.overridden = abs(data.final_score - row.grader_score) > 1e-9
    row.review_count += 1
    row.reviewed_at = now
    row.reviewed_by = actor.name
    row.key_point_corrections = [corrections[k] for k in known if k in corrections]
    if submission.status == Status.NEEDS_REVIEW.value:
        submission.status = Status.GRADED.value  # a person has decided: out of the queue
        submission.updated_at = now
    new = {"final_score": row.final_score, "status": row.status,
           "key_point_corrections": list(row.key_point_corrections)}
    audit(session, actor, "result.reviewed", "submission", submission_id, old=old, new=new,
          grader_score=row.grader_score, grade_id=row.grade_id, comment=data.comment,
          review_count=row.review_count)
    session.flush()
    return row


def history(session: Session, submission_id: uuid.UUID) -> list[AuditEntry]:
    """Everything the audit log holds about the submission, oldest first: created, graded, reviewed."""
    entries = list(session.scalars(select(AuditEntry).where(AuditEntry.entity_type == "submission",
                                                            AuditEntry.entity_id == str(submission_id))
                                   .order_by(AuditEntry.at, AuditEntry.id)))
    if not entries and session.get(Submission, submission_id) is None:
        raise ResultNotFound(submission_id)
    return entries


# --- statistics --------------------------------------------------------------------------------------------


@dataclass
class QuestionStats:
    question_id: str
    question: str | None
    count: int
    mean: float
    median: float
    histogram: list[int]
    share_flagged: float
    share_reviewed: float
    share_overridden: float
    mean_abs_override_delta: float | None
    mean_grader_score: float


@dataclass(frozen=True)
class StatsFilter:
    question_id: str | None = None
    batch_id: uuid.UUID | None = None
    graded_from: datetime | None = None
    graded_to: datetime | None = None

    def results(self) -> ResultFilter:
        return ResultFilter(question_id=self.question_id, batch_id=self.batch_id, graded_from=self.graded_from,
                            graded_to=self.graded_to)


def _in_bin(index: int) -> Any:
    # Bins [0,10) … [80,90) and [90,100]: the top one holds the perfect scores too.
    low, high = BIN_EDGES[index], BIN_EDGES[index + 1]
    inside = ResultRow.final_score >= low if index == BINS - 1 else and_(ResultRow.final_score >= low,
                                                                          ResultRow.final_score < high)
    return func.count().filter(inside) if index else func.count().filter(ResultRow.final_score < high)


def question_stats(session: Session, f: StatsFilter | None = None) -> list[QuestionStats]:
    """Per question: count, mean, median, histogram of final scores, share flagged, reviewed and
    overridden, and the mean |final − grader| over reviewed results (how far the grader is from people).

    One pass over `ix_results_stats`, which holds every column read here: Postgres answers it with an
    index-only scan already in (question, score) order, so the median costs no sort of the table."""
    f = f or StatsFilter()
    postgres = session.get_bind().dialect.name == "postgresql"
    # SQLite has no percentile_cont: its medians are computed from the scores below.
    median = (func.percentile_cont(0.5).within_group(ResultRow.final_score) if postgres
              else func.min(ResultRow.final_score))
    delta = func.abs(ResultRow.final_score - ResultRow.grader_score)
    query = _where(select(
        # Counts with FILTER rather than averages of CASE: integer counting, no numeric arithmetic per row.
        ResultRow.question_id, func.count(), func.avg(ResultRow.final_score), median,
        func.count().filter(ResultRow.flagged == true()), func.count().filter(ResultRow.reviewed == true()),
        func.count().filter(ResultRow.overridden == true()),
        func.avg(delta).filter(ResultRow.reviewed == true()), func.avg(ResultRow.grader_score),
        *(_in_bin(i) for i in range(BINS)),
    ), f.results()).group_by(ResultRow.question_id).order_by(ResultRow.question_id)
    rows = session.execute(query).all()
    texts = {qid: text for qid, text in session.execute(select(Question.id, Question.text))}
    medians = {} if postgres else _medians_in_python(session, f)
    return [QuestionStats(
        question_id=qid, question=texts.get(qid), count=count, mean=round(float(mean), 2),
        median=round(float(medians.get(qid, med)), 2), histogram=[int(b) for b in bins],
        share_flagged=round(flagged / count, 4), share_reviewed=round(reviewed / count, 4),
        share_overridden=round(overridden / count, 4),
        mean_abs_override_delta=None if mad is None else round(float(mad), 2),
        mean_grader_score=round(float(grader), 2),
    ) for qid, count, mean, med, flagged, reviewed, overridden, mad, grader, *bins in rows]


def _medians_in_python(session: Session, f: StatsFilter) -> dict[str, float]:
    # Embedded mode (SQLite) holds what one machine grades; reading the scores is cheap there.
    scores: dict[str, list[float]] = {}
    for qid, score in session.execute(_where(select(ResultRow.question_id, ResultRow.final_score), f.results())):
        scores.setdefault(qid, []).append(score)
    return {qid: statistics.median(values) for qid, values in scores.items()}


@dataclass(frozen=True)
class AgreementPoint:
    question_id: str
    grader_score: float
    final_score: float


@dataclass
class Agreement:
    points: list[AgreementPoint] = field(default_factory=list)
    reviewed: int = 0


def agreement(session: Session, f: StatsFilter | None = None, limit: int = 2000) -> Agreement:
    """Grader vs reviewer score for the latest reviewed results (the overview's scatter chart)."""
    f = f or StatsFilter()
    base = _where(select(ResultRow.question_id, ResultRow.grader_score, ResultRow.final_score)
                  .where(ResultRow.reviewed == true()), f.results())
    total = session.scalar(_where(select(func.count()).select_from(ResultRow)
                                  .where(ResultRow.reviewed == true()), f.results())) or 0
    rows = session.execute(base.order_by(ResultRow.reviewed_at.desc()).limit(limit)).all()
    return Agreement([AgreementPoint(q, g, s) for q, g, s in rows], total)

