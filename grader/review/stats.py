"""Statistics over the results index: per-question score distributions and how far the grader is from
the reviewers. Functions take the caller's session and never commit."""

from __future__ import annotations

import statistics
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import and_, func, select, true, union_all
from sqlalchemy.orm import Session

from grader.db.models import Question
from grader.db.review_models import ResultDayStats, ResultRow, ResultScoreCount
from grader.review.results import ResultFilter, check_instants, where

BINS = 10
BIN_EDGES = [i * 100 // BINS for i in range(BINS + 1)]


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

    def __post_init__(self) -> None:
        for name, value in check_instants(graded_from=self.graded_from, graded_to=self.graded_to).items():
            object.__setattr__(self, name, value)

    def results(self) -> ResultFilter:
        return ResultFilter(
            question_id=self.question_id, batch_id=self.batch_id, graded_from=self.graded_from, graded_to=self.graded_to
        )


def _in_bin(index: int) -> Any:
    # Bins [0,10) … [80,90) and [90,100]: the top one holds the perfect scores too.
    low, high = BIN_EDGES[index], BIN_EDGES[index + 1]
    inside = (
        ResultRow.final_score >= low
        if index == BINS - 1
        else and_(ResultRow.final_score >= low, ResultRow.final_score < high)
    )
    return func.count().filter(inside) if index else func.count().filter(ResultRow.final_score < high)


def question_stats(session: Session, f: StatsFilter | None = None) -> list[QuestionStats]:
    """Per question: count, mean, median, histogram of final scores, share flagged, reviewed and
    overridden, and the mean |final − grader| over reviewed results (how far the grader is from people).

    One pass over `ix_results_stats`, which holds every column read here: Postgres answers it with an
    index-only scan already in (question, score) order, so the median costs no sort of the table."""
    f = f or StatsFilter()
    if f.batch_id is None and f.graded_from is None and f.graded_to is None:
        return _from_sums(session, f.question_id)
    postgres = session.get_bind().dialect.name == "postgresql"
    # SQLite has no percentile_cont: its medians are computed from the scores below.
    median = (
        func.percentile_cont(0.5).within_group(ResultRow.final_score) if postgres else func.min(ResultRow.final_score)
    )
    delta = func.abs(ResultRow.final_score - ResultRow.grader_score)
    query = (
        where(
            select(
                # Counts with FILTER rather than averages of CASE: integer counting, no numeric arithmetic per row.
                ResultRow.question_id,
                func.count(),
                func.avg(ResultRow.final_score),
                median,
                func.count().filter(ResultRow.flagged == true()),
                func.count().filter(ResultRow.reviewed == true()),
                func.count().filter(ResultRow.overridden == true()),
                func.avg(delta).filter(ResultRow.reviewed == true()),
                func.avg(ResultRow.grader_score),
                *(_in_bin(i) for i in range(BINS)),
            ),
            f.results(),
        )
        .group_by(ResultRow.question_id)
        .order_by(ResultRow.question_id)
    )
    rows = session.execute(query).all()
    texts = {qid: text for qid, text in session.execute(select(Question.id, Question.text))}
    medians = {} if postgres else _medians_in_python(session, f)
    return [
        QuestionStats(
            question_id=qid,
            question=texts.get(qid),
            count=count,
            mean=round(float(mean), 2),
            median=round(float(medians.get(qid, med)), 2),
            histogram=[int(b) for b in bins],
            share_flagged=round(flagged / count, 4),
            share_reviewed=round(reviewed / count, 4),
            share_overridden=round(overridden / count, 4),
            mean_abs_override_delta=None if mad is None else round(float(mad), 2),
            mean_grader_score=round(float(grader), 2),
        )
        for qid, count, mean, med, flagged, reviewed, overridden, mad, grader, *bins in rows
    ]


def _from_sums(session: Session, question_id: str | None) -> list[QuestionStats]:
    """`question_stats` over every result (or one question's) from the running sums
    (`grader.review.aggregates`): a row per day and question and one per distinct score, however many
    results. The same figures as the pass over the results, medians included (exact, from the counts)."""
    d = ResultDayStats
    sums = select(
        d.question_id,
        func.sum(d.results),
        func.sum(d.final_sum),
        func.sum(d.flagged),
        func.sum(d.reviewed),
        func.sum(d.overridden),
        func.sum(d.reviewed_delta_sum),
        func.sum(d.grader_sum),
        *(func.sum(getattr(d, f"bin_{i}")) for i in range(BINS)),
    ).group_by(d.question_id)
    if question_id:
        sums = sums.where(d.question_id == question_id)
    medians: dict[str, float] = {qid: m for qid, m in session.execute(_medians_from_counts(question_id))}
    texts = {qid: text for qid, text in session.execute(select(Question.id, Question.text))}
    out = []
    for qid, count, final, flagged, reviewed, overridden, delta, grader, *bins in session.execute(
        sums.order_by(d.question_id)
    ):
        if not count:
            continue
        out.append(
            QuestionStats(
                question_id=qid,
                question=texts.get(qid),
                count=count,
                mean=round(final / count, 2),
                median=round(float(medians.get(qid, 0.0)), 2),
                histogram=[int(b) for b in bins],
                share_flagged=round(flagged / count, 4),
                share_reviewed=round(reviewed / count, 4),
                share_overridden=round(overridden / count, 4),
                mean_abs_override_delta=round(delta / reviewed, 2) if reviewed else None,
                mean_grader_score=round(grader / count, 2),
            )
        )
    return out


def _medians_from_counts(question_id: str | None) -> Any:
    """Per question, the median final score from `result_score_counts`, in the database (a pass over a few
    thousand count rows, never the results): the score whose running count covers position (n-1)//2 and
    the one covering n//2 (0-based), averaged — `percentile_cont(0.5)`'s value."""
    c = ResultScoreCount
    running = select(
        c.question_id,
        c.final_score,
        c.results,
        func.sum(c.results).over(partition_by=c.question_id, order_by=c.final_score).label("upto"),
        func.sum(c.results).over(partition_by=c.question_id).label("total"),
    ).where(c.results > 0)
    if question_id:
        running = running.where(c.question_id == question_id)
    r = running.subquery()
    middles = [
        select(r.c.question_id, r.c.final_score).where(r.c.upto - r.c.results <= position, r.c.upto > position)
        for position in ((r.c.total - 1) // 2, r.c.total // 2)
    ]
    both = union_all(*middles).subquery()
    return select(both.c.question_id, func.avg(both.c.final_score)).group_by(both.c.question_id)


def _medians_in_python(session: Session, f: StatsFilter) -> dict[str, float]:
    # Embedded mode (SQLite) holds what one machine grades; reading the scores is cheap there.
    scores: dict[str, list[float]] = {}
    for qid, score in session.execute(where(select(ResultRow.question_id, ResultRow.final_score), f.results())):
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
    base = where(
        select(ResultRow.question_id, ResultRow.grader_score, ResultRow.final_score).where(
            ResultRow.reviewed == true()
        ),
        f.results(),
    )
    unfiltered = f.question_id is None and f.batch_id is None and f.graded_from is None and f.graded_to is None
    counting = (
        select(func.sum(ResultDayStats.reviewed))  # the running sums: no count over the reviewed results
        if unfiltered
        else where(select(func.count()).select_from(ResultRow).where(ResultRow.reviewed == true()), f.results())
    )
    total = int(session.scalar(counting) or 0)
    rows = session.execute(base.order_by(ResultRow.reviewed_at.desc()).limit(limit)).all()
    return Agreement([AgreementPoint(q, g, s) for q, g, s in rows], total)
