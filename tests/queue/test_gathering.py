"""REST answers waiting together are claimed and recorded together by one task (`grader.grading.gather`),
each graded once, and their messages are taken off the queue; an answer another live worker holds is
left to it. A worker killed after gathering: `tests/reliability/test_dead_worker_lease.py`."""

from __future__ import annotations

import re
import time
import uuid
from datetime import timedelta
from pathlib import Path

import pytest
import redis
from celery import Celery
from sqlalchemy import func, select, update

from grader.db.base import utcnow
from grader.db.models import Grade, Role, Status, Submission
from grader.db.session import get_session_factory, session_scope
from grader.grading.grader import SCORING_VERSION
from grader.grading.record import claim_many, worker_id
from grader.keys.principal import CLI
from grader.queue.celery_queue import CeleryQueue
from grader.settings import Settings
from grader.submissions.schemas import SubmissionCreate
from grader.submissions.submit import submit
from tests.support.processes import Process, grader_env
from tests.support.services import Server, make_key, wait_until

pytestmark = pytest.mark.services


class Dropped:
    def enqueue(self, submission_id: uuid.UUID) -> None:
        pass

    def enqueue_chunk(self, batch_id: uuid.UUID, submission_ids: object) -> None:
        pass


def test_a_claim_leaves_an_answer_another_live_worker_holds(clean_db: Settings) -> None:
    sessions = get_session_factory(clean_db.database_url)
    with session_scope(sessions) as session:
        ids = [
            submit(
                session,
                SubmissionCreate(candidate_id=f"held-{i}", question_id="q01", answer="RLHF"),
                actor=CLI,
                max_answer_chars=10_000,
                queue=Dropped(),
            )[0].id
            for i in range(4)
        ]
    now = utcnow()
    held = {
        ids[0]: ("elsewhere:1", now + timedelta(seconds=30)),  # another worker, lease running: left alone
        ids[1]: ("elsewhere:1", now - timedelta(seconds=1)),  # its lease ran out (a dead worker): taken
        ids[2]: (worker_id(), now + timedelta(seconds=30)),  # this process's own (a retry): taken
    }
    with session_scope(sessions) as session:
        for sid, (by, until) in held.items():
            session.execute(
                update(Submission)
                .where(Submission.id == sid)
                .values(status=Status.RUNNING.value, claimed_by=by, lease_until=until)
            )
    with session_scope(sessions) as session:
        jobs, _ = claim_many(session, ids, SCORING_VERSION, leave_leased=True)
        assert {job.submission_id for job in jobs} == {ids[1], ids[2], ids[3]}
        session.rollback()
    with session_scope(sessions) as session:  # a batch chunk's claim (the default) takes them all, as before
        jobs, _ = claim_many(session, ids, SCORING_VERSION)
        assert len(jobs) == 4
        session.rollback()


@pytest.mark.slow
def test_answers_waiting_together_are_graded_by_one_task_and_their_messages_never_become_tasks(
    api: Server, clean_db: Settings, tmp_path: Path
) -> None:
    # The session's queue may hold messages an earlier test left without a worker to take them: this test
    # counts tasks and messages, so it starts from an empty one.
    assert clean_db.redis_url is not None
    redis.Redis.from_url(clean_db.redis_url).delete(clean_db.celery_queue)
    key = make_key(api.settings, Role.RECRUITER)
    with api.client(key) as client:  # no worker yet: the messages wait on the interactive queue
        ids = [
            client.post(
                "/api/v1/submissions",
                json={"candidate_id": f"together-{i}", "question_id": "q03", "answer": f"多头注意力并行计算（{i}）"},
            ).json()["id"]
            for i in range(30)
        ]
    queue = CeleryQueue(Celery("grader-test"), clean_db)
    assert len(queue.waiting_submissions(100)) == 30
    env = grader_env(
        database_url=clean_db.database_url, redis_url=clean_db.redis_url, celery_queue=clean_db.celery_queue
    )
    worker = Process(["worker", "--concurrency", "1", "--log-level", "info"], env, tmp_path / "worker.log", tmp_path)
    sessions = get_session_factory(clean_db.database_url)
    wanted = [uuid.UUID(i) for i in ids]
    try:

        def graded() -> bool:
            with sessions() as session:
                statuses = session.scalars(select(Submission.status).where(Submission.id.in_(wanted))).all()
            return all(s in ("graded", "needs_review") for s in statuses)

        wait_until(graded, 120, interval=0.3)
        wait_until(lambda: "graded 5 waiting answers together" in worker.output(), 30, interval=0.3)
        time.sleep(1)  # a message left behind would come up now, as a task of its own
        output = worker.output()
    finally:
        worker.stop()
    # A chunk's worth (its own answer and the 24 oldest behind it), then the 5 left: two tasks in all. The
    # 28 gathered messages were taken off the queue once their answers were claimed, never delivered.
    tasks = re.findall(r"Task grader\.grade_submission\[[0-9a-f-]+\] received", output)
    assert len(tasks) == 2, output[-5000:]
    assert "graded 25 waiting answers together" in output
    assert "took 24 of 24 gathered answers' messages off the queue" in output
    assert "took 4 of 4 gathered answers' messages off the queue" in output
    assert queue.waiting_submissions(100) == []
    with sessions() as session:
        grades = dict(
            session.execute(
                select(Grade.submission_id, func.count())
                .where(Grade.submission_id.in_(wanted))
                .group_by(Grade.submission_id)
            ).all()
        )
        attempts = session.scalars(select(Submission.attempts).where(Submission.id.in_(wanted))).all()
    assert grades == {sid: 1 for sid in wanted}
    assert list(attempts) == [1] * 30  # one claim each
