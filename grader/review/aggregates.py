"""Statistics kept as running sums: `result_day_stats` (per day and question) and `result_score_counts`
(per question and final score), so `/api/v1/stats` and the dashboard overview read a few rows per
question and day instead of every result.

Whoever changes a result row (`grader.review.results_index` when a grade is recorded, `grader.review.results`
when a person reviews) passes what the row counted before and what it counts now to `apply`, in the same
transaction: the sums move by the difference, so they are exactly the sums over the rows at every commit.
`rebuild` recomputes them from the rows (the migration's backfill, and a check for the tests).
Functions take the caller's session and never commit.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from functools import lru_cache
from typing import Any

from sqlalchemy import Date, and_, case, cast, delete, func, insert, literal_column, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from grader.db.review_models import ResultDayStats, ResultRow, ResultScoreCount

BINS = 10
_DAY_SUMS = (
    *("results", "final_sum", "grader_sum", "flagged", "reviewed", "overridden", "reviewed_delta_sum"),
    *(f"bin_{i}" for i in range(BINS)),
)


def score_bin(score: float) -> int:
    """The histogram bin of a final score: [0,10) … [80,90), and [90,100] holds the perfect scores too."""
    return min(BINS - 1, max(0, int(score // 10)))


@dataclass(frozen=True)
class Counted:
    """What one result row adds to the sums."""

    day: date
    question_id: str
    final_score: float
    grader_score: float
    flagged: bool
    reviewed: bool
    overridden: bool


def utc_day(at: datetime) -> date:
    return (at.astimezone(UTC) if at.tzinfo is not None else at).date()


def counted(row: ResultRow | Any) -> Counted:
    """What a result row (ORM object or a selected row with the same fields) counts for."""
    return Counted(
        utc_day(row.graded_at),
        row.question_id,
        row.final_score,
        row.grader_score,
        bool(row.flagged),
        bool(row.reviewed),
        bool(row.overridden),
    )


# The columns `counted` reads, for callers that select old rows before changing them.
COUNTED_COLUMNS = (
    ResultRow.submission_id,
    ResultRow.graded_at,
    ResultRow.question_id,
    ResultRow.final_score,
    ResultRow.grader_score,
    ResultRow.flagged,
    ResultRow.reviewed,
    ResultRow.overridden,
)


def apply(session: Session, before: Iterable[Counted], after: Iterable[Counted]) -> None:
    """Move the sums from the rows as they were (`before`, removed) to the rows as they are (`after`,
    added): two upserts at most, whatever the number of rows."""
    days: dict[tuple[date, str], list[float]] = {}
    scores: dict[tuple[str, float], int] = {}
    for sign, rows in ((-1, before), (1, after)):
        for c in rows:
            sums = days.setdefault((c.day, c.question_id), [0.0] * len(_DAY_SUMS))
            delta = abs(c.final_score - c.grader_score) if c.reviewed else 0.0
            for i, value in enumerate((1, c.final_score, c.grader_score, c.flagged, c.reviewed, c.overridden, delta)):
                sums[i] += sign * value
            sums[7 + score_bin(c.final_score)] += sign
            key = (c.question_id, c.final_score)
            scores[key] = scores.get(key, 0) + sign
    day_rows = [
        {"day": day, "question_id": qid, **_typed(sums)} for (day, qid), sums in sorted(days.items()) if any(sums)
    ]
    score_rows = [
        {"question_id": qid, "final_score": score, "results": n} for (qid, score), n in sorted(scores.items()) if n
    ]
    statements = _statements(session.get_bind().dialect.name)
    # Sorted keys: concurrent transactions lock the shared rows in one order, so they queue rather than deadlock.
    if day_rows:
        session.execute(statements.days, day_rows)
    if score_rows:
        session.execute(statements.scores, score_rows)


def _typed(sums: list[float]) -> dict[str, Any]:
    return {
        name: (float(value) if name.endswith("_sum") else round(value))
        for name, value in zip(_DAY_SUMS, sums, strict=True)
    }


@dataclass(frozen=True)
class _Statements:
    days: Any
    scores: Any


@lru_cache(maxsize=4)
def _statements(dialect: str) -> _Statements:
    """INSERT … ON CONFLICT DO UPDATE SET column = column + excluded.column, built once per dialect."""
    insert_ = postgresql.insert if dialect == "postgresql" else sqlite.insert
    tables = ResultDayStats.metadata.tables
    days_table, scores_table = tables[ResultDayStats.__tablename__], tables[ResultScoreCount.__tablename__]
    days = insert_(days_table)
    scores = insert_(scores_table)
    return _Statements(
        days=days.on_conflict_do_update(
            index_elements=["day", "question_id"],
            set_={name: days_table.c[name] + days.excluded[name] for name in _DAY_SUMS},
        ),
        scores=scores.on_conflict_do_update(
            index_elements=["question_id", "final_score"],
            set_={"results": scores_table.c.results + scores.excluded.results},
        ),
    )


def day_of(column: Any, dialect: str) -> Any:
    """The UTC day of a timestamp column, in SQL (Postgres: timestamptz at UTC; SQLite: its text)."""
    if dialect == "postgresql":
        return cast(func.timezone("UTC", column), Date)
    return func.date(column)


def rebuild(session: Session) -> None:
    """Recompute both tables from the result rows: the backfill of existing results (one pass each)."""
    dialect = session.get_bind().dialect.name
    session.execute(delete(ResultDayStats))
    session.execute(delete(ResultScoreCount))
    r = ResultRow.__table__.c
    day = day_of(r.graded_at, dialect)
    reviewed = r.reviewed == literal_column("true") if dialect == "postgresql" else r.reviewed == 1

    def count_if(condition: Any) -> Any:
        return func.coalesce(func.sum(case((condition, 1), else_=0)), 0)

    bins = [
        count_if(
            r.final_score < 10
            if i == 0
            else r.final_score >= 10 * i
            if i == BINS - 1
            else and_(r.final_score >= 10 * i, r.final_score < 10 * (i + 1))
        )
        for i in range(BINS)
    ]
    per_day = select(
        day,
        r.question_id,
        func.count(),
        func.sum(r.final_score),
        func.sum(r.grader_score),
        count_if(r.flagged == literal_column("true") if dialect == "postgresql" else r.flagged == 1),
        count_if(reviewed),
        count_if(r.overridden == literal_column("true") if dialect == "postgresql" else r.overridden == 1),
        func.coalesce(func.sum(case((reviewed, func.abs(r.final_score - r.grader_score)), else_=0.0)), 0.0),
        *bins,
    ).group_by(day, r.question_id)
    session.execute(insert(ResultDayStats).from_select(["day", "question_id", *_DAY_SUMS], per_day))
    per_score = select(r.question_id, r.final_score, func.count()).group_by(r.question_id, r.final_score)
    session.execute(insert(ResultScoreCount).from_select(["question_id", "final_score", "results"], per_score))
