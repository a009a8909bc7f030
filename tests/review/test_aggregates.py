"""The statistics' running sums (`grader.review.aggregates`) stay equal to the sums over the results as
grades are recorded, reviewed and re-graded, on Postgres and on SQLite, and the stats read from them are
the stats read from the results."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from sqlalchemy import select
from sqlalchemy.orm import Session

from grader.db.migrate import alembic_config, upgrade
from grader.db.models import Grade
from grader.db.review_models import ResultDayStats, ResultRow, ResultScoreCount
from grader.db.session import get_session_factory, session_scope
from grader.grading.grader import Grader
from grader.grading.record import Job, record_many
from grader.keys.principal import CLI
from grader.review import aggregates
from grader.review.results import review
from grader.review.schemas import ReviewCreate
from grader.review.stats import StatsFilter, agreement, question_stats
from grader.settings import Settings
from tests.support.seed import Seeded, seed_graded


def sums(session: Session) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    days = [
        tuple(round(v, 6) if isinstance(v, float) else v for v in row)
        for row in session.execute(select(ResultDayStats.__table__).order_by("day", "question_id"))
        if row.results
    ]
    scores = [
        tuple(row)
        for row in session.execute(select(ResultScoreCount.__table__).order_by("question_id", "final_score"))
        if row.results
    ]
    return days, scores


def review_regrade_and_check(url: str, grader: Grader, seeded: Seeded) -> None:
    factory = get_session_factory(url)
    with session_scope(factory) as session:
        # Reviews: one lowered, one raised twice, one confirmed at the grader's score.
        for candidate, score in (("c-001", 12.5), ("c-002", 90.0), ("c-002", 91.0), ("c-005", None)):
            row = session.get(ResultRow, seeded.by_candidate[candidate])
            assert row is not None
            final = row.grader_score if score is None else score
            review(session, row.submission_id, ReviewCreate(final_score=final, comment="复核"), CLI)
    with session_scope(factory) as session:
        # A re-grade under a new engine version: a reviewed result keeps its final score, the others follow.
        graded = []
        for candidate in ("c-001", "c-003", "c-005"):
            sid = seeded.by_candidate[candidate]
            grade = session.scalars(select(Grade).where(Grade.submission_id == sid)).one()
            result = grader.grade(grade.question_id, "多头注意力在不同子空间并行计算注意力。")
            result = result.model_copy(
                update={"provenance": result.provenance.model_copy(update={"scoring_version": "regrade-test"})}
            )
            graded.append((Job(sid, grade.question_id, "", grade.reference_hash), result))
        record_many(session, graded, 0.5)
    with session_scope(factory) as session:
        kept = sums(session)
        assert kept[0] and kept[1]
        from_sums = question_stats(session)
        # Any date filter reads the results themselves: the figures the sums must give.
        from_rows = question_stats(session, StatsFilter(graded_from=datetime(2000, 1, 1, tzinfo=UTC)))
        assert from_sums == from_rows
        assert [s.count for s in from_sums] and sum(s.count for s in from_sums) == len(seeded.ids)
        assert agreement(session).reviewed == 3
        q03 = [s for s in from_rows if s.question_id == "q03"]
        assert question_stats(session, StatsFilter(question_id="q03")) == q03
        aggregates.rebuild(session)  # what the migration's backfill computes from the rows
        assert sums(session) == kept
        session.rollback()


@pytest.mark.services
def test_sums_follow_grades_reviews_and_regrades_on_postgres(
    clean_db: Settings, grader: Grader, seeded: Seeded
) -> None:
    review_regrade_and_check(clean_db.database_url, grader, seeded)


def test_sums_follow_grades_reviews_and_regrades_on_sqlite(tmp_path: Path, grader: Grader) -> None:
    settings = Settings(database_url=f"sqlite:///{tmp_path / 'grader.db'}")
    upgrade(settings.database_url)
    seeded = seed_graded(settings, grader)
    review_regrade_and_check(settings.database_url, grader, seeded)


def backfill_matches(url: str, seeded: Seeded) -> None:
    factory = get_session_factory(url)
    with session_scope(factory) as session:
        kept = sums(session)
        aggregates.rebuild(session)
        assert sums(session) == kept
    # The migration's own backfill (its SQL is written out in it): down before it, up again.
    command.downgrade(alembic_config(url), "0008")
    command.upgrade(alembic_config(url), "head")
    with session_scope(factory) as session:
        assert sums(session) == kept and sum(s.count for s in question_stats(session)) == len(seeded.ids)


@pytest.mark.services
def test_backfill_sums_the_results_already_there_on_postgres(clean_db: Settings, seeded: Seeded) -> None:
    backfill_matches(clean_db.database_url, seeded)


def test_backfill_sums_the_results_already_there_on_sqlite(tmp_path: Path, grader: Grader) -> None:
    settings = Settings(database_url=f"sqlite:///{tmp_path / 'grader.db'}")
    upgrade(settings.database_url)
    backfill_matches(settings.database_url, seed_graded(settings, grader))
