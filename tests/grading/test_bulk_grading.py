"""The bulk chunk path on the real Postgres: a chunk is claimed, graded in one engine call and recorded in
a fixed handful of statements, with the same outcome per answer as grading it alone."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager

import pytest
from sqlalchemy import event, func, select, update
from sqlalchemy.orm import Session

from grader.db.models import AuditEntry, Grade, Status, Submission
from grader.db.review_models import ResultRow
from grader.db.session import SessionFactory, get_session_factory, session_scope
from grader.grading import grader as grading_grader
from grader.grading.grader import Grader, GradingPlan, get_grader
from grader.grading.run import run_chunk
from grader.scoring import engine as scoring_engine
from grader.scoring.calibration import review_flagged
from grader.scoring.types import ScoreResult
from grader.settings import Settings
from grader.submissions.reads import latest_grades
from tests.support.batches import Recorder, new_batch

pytestmark = [pytest.mark.services]

POISON = "POISON"


class Poisoned:
    """The real grader, except that any answer containing POISON makes the engine raise."""

    def __init__(self, inner: Grader) -> None:
        self.bank = inner.bank
        self._inner = inner
        self.many_calls = 0

    def plan(self, session: Session, pins: Iterable[tuple[str, str]]) -> GradingPlan:
        return self._inner.plan(session, pins)

    def grade_planned(self, plan: GradingPlan, items: Sequence[tuple[str, str]]) -> list[ScoreResult]:
        self.many_calls += 1
        if any(POISON in answer for _, answer in items):
            raise ValueError("the engine choked")
        return self._inner.grade_planned(plan, items)


@pytest.fixture
def sessions(clean_db: Settings) -> SessionFactory:
    return get_session_factory(clean_db.database_url)


@contextmanager
def statements(sessions: SessionFactory) -> Iterator[list[str]]:
    seen: list[str] = []
    engine = sessions.kw["bind"]

    def count(_conn: object, _cursor: object, statement: str, *_args: object) -> None:
        seen.append(statement)

    event.listen(engine, "before_cursor_execute", count)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", count)


def snapshot(sessions: SessionFactory, ids: list[uuid.UUID]) -> dict[str, object]:
    with sessions() as session:
        return {
            "grades": session.scalar(select(func.count()).select_from(Grade).where(Grade.submission_id.in_(ids))),
            "audit": session.scalar(
                select(func.count()).select_from(AuditEntry).where(AuditEntry.action == "submission.graded")
            ),
            "results": sorted(
                (r.submission_id, r.grade_id, r.status, r.final_score)
                for r in session.scalars(select(ResultRow).where(ResultRow.submission_id.in_(ids)))
            ),
            "submissions": sorted(
                (s.id, s.status, s.attempts, s.updated_at)
                for s in session.scalars(select(Submission).where(Submission.id.in_(ids)))
            ),
        }


def test_a_chunk_run_twice_changes_nothing_the_second_time(sessions: SessionFactory) -> None:
    batch_id, ids = new_batch(sessions, 12, Recorder())

    first = run_chunk(sessions, ids, get_grader, 0.5)
    before = snapshot(sessions, ids)
    second = run_chunk(sessions, ids, get_grader, 0.5)

    assert first["graded"] + first["needs_review"] == 12 and first["failed"] == 0
    assert second == {"graded": 0, "needs_review": 0, "failed": 0, "skipped": 12}
    assert snapshot(sessions, ids) == before
    assert before["grades"] == 12 and before["audit"] == 12 and len(before["results"]) == 12  # type: ignore[arg-type]
    with sessions() as session:
        rows = {r.submission_id: r for r in session.scalars(select(ResultRow))}
        grades = {g.submission_id: g for g in session.scalars(select(Grade))}
        subs = {s.id: s for s in session.scalars(select(Submission))}
    for sid in ids:  # the result rows say what `index_result` would have written
        row, grade, sub = rows[sid], grades[sid], subs[sid]
        assert row.batch_id == batch_id and row.grade_id == grade.id and row.status == sub.status
        assert row.grader_score == row.final_score == grade.score and row.confidence == grade.confidence
        assert row.flagged == bool(grade.flags) and not row.reviewed and not row.overridden
        assert row.graded_at == sub.graded_at and sub.failure_reason is None and sub.attempts == 1
        expected = Status.NEEDS_REVIEW if grade.confidence < 0.5 or review_flagged(grade.flags) else Status.GRADED
        assert sub.status == expected.value


def test_a_grade_written_by_a_run_that_died_before_the_status_is_not_written_again(
    sessions: SessionFactory,
) -> None:
    _batch_id, ids = new_batch(sessions, 6, Recorder())
    run_chunk(sessions, ids[:3], get_grader, 0.5)
    with session_scope(sessions) as session:  # as if the worker died after the grade, before the status
        session.execute(update(Submission).where(Submission.id.in_(ids[:3])).values(status=Status.RUNNING.value))

    counts = run_chunk(sessions, ids, get_grader, 0.5)

    assert counts["skipped"] == 3 and counts["graded"] + counts["needs_review"] == 3
    with sessions() as session:
        assert session.scalar(select(func.count()).select_from(Grade)) == 6
        assert (
            session.scalar(select(func.count()).select_from(AuditEntry).where(AuditEntry.action == "submission.graded"))
            == 6
        )


def test_one_answer_the_engine_cannot_grade_fails_alone_with_the_reason(sessions: SessionFactory) -> None:
    _batch_id, ids = new_batch(sessions, 5, Recorder())
    with session_scope(sessions) as session:
        session.execute(update(Submission).where(Submission.id == ids[2]).values(answer=f"位置编码 {POISON}"))
    poisoned = Poisoned(get_grader())

    counts = run_chunk(sessions, ids, lambda: poisoned, 0.5)  # type: ignore[arg-type,return-value]

    assert counts["failed"] == 1 and counts["graded"] + counts["needs_review"] == 4
    with sessions() as session:
        subs = {s.id: s for s in session.scalars(select(Submission).where(Submission.id.in_(ids)))}
        graded = set(session.scalars(select(Grade.submission_id)))
        failed_audit = session.scalars(select(AuditEntry).where(AuditEntry.action == "submission.failed")).all()
    bad = subs[ids[2]]
    assert bad.status == Status.FAILED and bad.failure_reason == "grading failed: ValueError: the engine choked"
    assert graded == set(ids) - {ids[2]}
    assert all(subs[sid].status in (Status.GRADED, Status.NEEDS_REVIEW) for sid in graded)
    assert [a.entity_id for a in failed_audit] == [str(ids[2])]


def test_the_chunk_is_graded_in_one_engine_call(sessions: SessionFactory) -> None:
    _batch_id, ids = new_batch(sessions, 8, Recorder())
    poisoned = Poisoned(get_grader())  # nothing poisoned here: it only counts the calls

    run_chunk(sessions, ids, lambda: poisoned, 0.5)  # type: ignore[arg-type,return-value]

    assert poisoned.many_calls == 1


def test_statements_per_chunk_do_not_grow_with_its_size(sessions: SessionFactory) -> None:
    _batch_id, ids = new_batch(sessions, 24, Recorder())
    get_grader().grade_many([("q01", "warm")])

    with statements(sessions) as small:
        run_chunk(sessions, ids[:4], get_grader, 0.5)
    with statements(sessions) as large:
        run_chunk(sessions, ids[4:], get_grader, 0.5)

    # Claim: read and lock, mark running. Plan: pinned bank versions, bank calibrations (the versions' references
    # are cached). Record: lock, grades, one status update per outcome (graded, needs_review), result rows,
    # the statistics' sums (per day, per score), audit; webhooks: who subscribes to what (nobody here; a
    # subscriber to interview or batch completion adds two statements each).
    assert 6 <= len(small) <= 14 and 6 <= len(large) <= 14, large


def test_a_regrade_keeps_the_reviewers_decision(sessions: SessionFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    _batch_id, ids = new_batch(sessions, 3, Recorder())
    run_chunk(sessions, ids, get_grader, 0.5)
    with session_scope(sessions) as session:  # a reviewer settled the first answer at 99
        session.execute(
            update(ResultRow)
            .where(ResultRow.submission_id == ids[0])
            .values(reviewed=True, final_score=99.0, status=Status.GRADED.value, review_count=1)
        )
        session.execute(update(Submission).where(Submission.id.in_(ids)).values(status=Status.PENDING.value))
    monkeypatch.setattr(grading_grader, "SCORING_VERSION", "test-next-engine")  # what claims compare with
    monkeypatch.setattr(scoring_engine, "SCORING_VERSION", "test-next-engine")  # what grades carry

    run_chunk(sessions, ids, get_grader, 1.01)  # every new grade needs review

    with sessions() as session:
        rows = {r.submission_id: r for r in session.scalars(select(ResultRow))}
        latest = latest_grades(session, ids)
    assert all(latest[sid].scoring_version == "test-next-engine" for sid in ids)
    reviewed = rows[ids[0]]
    assert reviewed.reviewed and reviewed.final_score == 99.0 and reviewed.status == Status.GRADED
    assert reviewed.grade_id == latest[ids[0]].id and reviewed.grader_score == latest[ids[0]].score
    assert reviewed.overridden == (abs(99.0 - latest[ids[0]].score) > 1e-9)
    for sid in ids[1:]:
        row = rows[sid]
        assert row.grade_id == latest[sid].id and row.final_score == latest[sid].score
        assert row.status == Status.NEEDS_REVIEW and not row.reviewed
