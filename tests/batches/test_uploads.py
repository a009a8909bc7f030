"""Batch use cases on the real Postgres: chunks are idempotent, and the sweeps keep batches moving."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from sqlalchemy import func, select, update

from grader.batches import uploads as batches
from grader.batches.sweep import sweep_batches
from grader.db.base import utcnow
from grader.db.batch_models import Batch
from grader.db.models import Grade, Role, Submission
from grader.db.session import SessionFactory, get_session_factory, session_scope
from grader.grading.grader import get_grader
from grader.grading.run import run_chunk
from grader.grading.sweep import sweep_stuck
from grader.keys.principal import Principal
from grader.review.results import review
from grader.review.schemas import ReviewCreate
from grader.settings import Settings
from tests.support.batches import Recorder, new_batch

pytestmark = [pytest.mark.services]

STUCK = timedelta(seconds=300)


@pytest.fixture
def sessions(clean_db: Settings) -> SessionFactory:
    return get_session_factory(clean_db.database_url)


def age(sessions: SessionFactory, ids: list[uuid.UUID], by: timedelta) -> None:
    with session_scope(sessions) as session:
        session.execute(update(Submission).where(Submission.id.in_(ids)).values(updated_at=utcnow() - by))


def test_upload_dispatches_chunks_only_after_commit(sessions: SessionFactory) -> None:
    recorder = Recorder()
    size = batches.CHUNK_SIZE
    batch_id, ids = new_batch(sessions, 2 * size + 3, recorder)

    assert [len(chunk) for _, chunk in recorder.chunks] == [size, size, 3]
    assert [sid for _, chunk in recorder.chunks for sid in chunk] == ids
    assert {b for b, _ in recorder.chunks} == {batch_id}


def test_a_chunk_run_twice_writes_each_grade_once(sessions: SessionFactory) -> None:
    _batch_id, ids = new_batch(sessions, 4, Recorder())

    first = run_chunk(sessions, ids, get_grader, 0.5)
    second = run_chunk(sessions, ids, get_grader, 0.5)

    assert first["graded"] + first["needs_review"] == 4 and first["skipped"] == 0
    assert second == {"graded": 0, "needs_review": 0, "failed": 0, "skipped": 4}
    with sessions() as session:
        assert session.scalar(select(func.count()).select_from(Grade).where(Grade.submission_id.in_(ids))) == 4


def test_progress_counts_and_finishes_the_batch(sessions: SessionFactory) -> None:
    batch_id, ids = new_batch(sessions, 3, Recorder())
    run_chunk(sessions, ids[:2], get_grader, 0.5)

    with session_scope(sessions) as session:
        batch = session.get(Batch, batch_id)
        assert batch is not None
        half = batches.progress(session, batch)
    run_chunk(sessions, ids[2:], get_grader, 0.5)
    with session_scope(sessions) as session:
        batch = session.get(Batch, batch_id)
        assert batch is not None
        done = batches.progress(session, batch)

    assert half.status == "running" and half.finished == 2 and half.counts["pending"] == 1
    assert half.eta_seconds is not None and half.eta_seconds >= 0
    assert done.status == "done" and done.progress == 1.0 and done.finished_at is not None


def test_a_review_after_the_batch_finished_leaves_its_rate_alone(sessions: SessionFactory) -> None:
    batch_id, ids = new_batch(sessions, 3, Recorder())
    run_chunk(sessions, ids, get_grader, 0.5)
    with session_scope(sessions) as session:
        batch = session.get(Batch, batch_id)
        assert batch is not None
        before = batches.progress(session, batch)

    reviewer = Principal(None, "审核员", Role.REVIEWER)
    with session_scope(sessions) as session:
        review(session, ids[0], ReviewCreate(final_score=5, comment="人工复核"), reviewer)
        # The reviewer came two hours after the batch was done: that is when the review touches the answer.
        later = utcnow() + timedelta(hours=2)
        session.execute(update(Submission).where(Submission.id == ids[0]).values(updated_at=later))
    with session_scope(sessions) as session:
        batch = session.get(Batch, batch_id)
        assert batch is not None
        batch.finished_at = None  # as if nobody had looked at the batch before the review
        after = batches.progress(session, batch)

    assert before.status == after.status == "done"
    assert before.answers_per_second is not None
    assert after.answers_per_second == pytest.approx(before.answers_per_second)
    assert after.finished_at == before.finished_at


def test_stalled_batch_answers_go_back_on_the_batch_queue(sessions: SessionFactory) -> None:
    lost = Recorder()  # the chunks it was given were never delivered
    batch_id, ids = new_batch(sessions, 12, lost)
    age(sessions, ids, STUCK * 2)

    again = Recorder()
    with session_scope(sessions) as session:
        swept = sweep_batches(session, again, stuck_after=STUCK)
    with session_scope(sessions) as session:
        repeat = sweep_batches(session, again, stuck_after=STUCK)

    assert swept.redispatched == 12
    assert sorted(sid for _, chunk in again.chunks for sid in chunk) == sorted(ids)
    assert {b for b, _ in again.chunks} == {batch_id}
    assert repeat.redispatched == 0  # their clock restarted


def test_queued_batch_answers_are_kept_out_of_the_interactive_sweep_while_batches_move(
    sessions: SessionFactory,
) -> None:
    _batch_id, ids = new_batch(sessions, 12, Recorder())
    run_chunk(sessions, ids[:1], get_grader, 0.5)  # batch work moved just now
    age(sessions, ids[1:], STUCK * 2)  # the rest have waited longer than the interactive deadline

    recorder = Recorder()
    with session_scope(sessions) as session:
        kept = sweep_batches(session, recorder, stuck_after=STUCK)
    with session_scope(sessions) as session:
        interactive = sweep_stuck(session, recorder, stuck_after=STUCK)

    assert kept.kept_alive == 11 and kept.redispatched == 0
    assert interactive.requeued == [] and recorder.single == [] and recorder.chunks == []
