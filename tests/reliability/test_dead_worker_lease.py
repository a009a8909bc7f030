"""Recovery from a dead worker with the default settings (issue 13): a worker SIGKILLed while it holds a
chunk stops renewing its lease (20 s); the sweep, every 10 s under beat, hands the chunk's answers to
the live worker. Every answer is graded within a minute of the kill — not after the 300 s stuck deadline
or Redis's 720 s visibility timeout, which is what it waited for before.

Unlike the other tests in this folder it runs with the production deadlines (`stuck_after_seconds` 300).
"""

from __future__ import annotations

import os
import secrets
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from celery import Celery
from sqlalchemy import text

from grader.db.models import Role
from grader.db.session import get_engine
from grader.queue.celery_queue import CeleryQueue
from grader.settings import Settings
from tests.support.processes import Process
from tests.support.services import make_key, wait_until

from .harness import Stack, answers_csv, drop_queues, key_id_of, kill, outcome, report, upload

pytestmark = [pytest.mark.services, pytest.mark.slow]

ANSWERS = 400
RECOVERY_BOUND = 60.0


@pytest.fixture
def default_stack(fault_db: str, redis_url: str, tmp_path: Path) -> Iterator[Stack]:
    settings = Settings(
        database_url=fault_db, redis_url=redis_url, celery_queue=f"grader-lease-{secrets.token_hex(4)}", embedder="hash"
    )
    assert settings.stuck_after_seconds == 300 and settings.lease_seconds == 20 and settings.lease_sweep_seconds == 10
    stack = Stack(settings, tmp_path)
    try:
        yield stack
    finally:
        stack.stop_all()
        drop_queues(redis_url, settings.celery_queue)


def held_by(settings: Settings, worker: Process, key_id: int) -> int:
    """Submissions `running` under a lease held by a process of `worker` (its main process or pool child)."""
    return len(held_ids(settings, worker, key_id))


def held_ids(settings: Settings, worker: Process, key_id: int) -> set[uuid.UUID]:
    with get_engine(settings.database_url).connect() as conn:
        rows = conn.execute(
            text("SELECT id, claimed_by FROM submissions WHERE submitted_by = :key AND status = 'running'"),
            {"key": key_id},
        ).all()
    held: set[uuid.UUID] = set()
    for sid, claimed_by in rows:
        try:
            pid = int(str(claimed_by).rsplit(":", 1)[1])
            if os.getpgid(pid) == worker.proc.pid:
                held.add(uuid.UUID(str(sid)))
        except (ValueError, IndexError, ProcessLookupError):
            continue
    return held


def test_work_held_by_a_killed_worker_is_graded_within_a_minute(default_stack: Stack) -> None:
    stack = default_stack
    key = make_key(stack.settings, Role.RECRUITER, "lease-worker-kill")
    key_id = key_id_of(stack.settings, key)
    stack.beat()
    doomed = stack.worker()
    survivor = stack.worker()
    with stack.api() as api, api.client(key) as client:
        response = upload(client, answers_csv(ANSWERS, "lease"))
        assert response.status_code == 202, response.text
        assert wait_until(lambda: held_by(stack.settings, doomed, key_id) > 0, 90, interval=0.02), stack.logs()
        kill(doomed)
        killed_at = time.monotonic()
        held = held_by(stack.settings, doomed, key_id)  # what it left running (its pids linger as zombies)
        with get_engine(stack.settings.database_url).connect() as conn:
            orphans = conn.scalar(
                text("SELECT count(*) FROM submissions WHERE submitted_by = :key AND status = 'running'"),
                {"key": key_id},
            )
        assert orphans and orphans > 0

        def all_done() -> bool:
            state = outcome(stack.settings, key_id)
            return state.submitted == ANSWERS and state.open == 0

        assert wait_until(all_done, RECOVERY_BOUND, interval=0.25), (outcome(stack.settings, key_id), stack.logs())
        recovered_in = time.monotonic() - killed_at
    state = outcome(stack.settings, key_id)
    report(
        "worker SIGKILL holding a chunk, default deadlines (lease 20 s, sweep 10 s, stuck 300 s)",
        running_at_kill=orphans,
        held_by_the_killed_worker=held,
        seconds_from_kill_to_all_graded=round(recovered_in, 1),
        **state.figures(),
    )
    assert survivor.proc.poll() is None and held > 0
    assert state.graded == ANSWERS and state.duplicated == 0, state


def test_rest_answers_gathered_by_a_killed_worker_are_graded_within_a_minute(default_stack: Stack) -> None:
    """A task takes the REST answers waiting behind its own off the queue once it has claimed them
    (`grader.grading.gather`); killed before it records them, it leaves them running with no message
    anywhere. Their lease runs out and the sweep enqueues them again: none is lost or graded twice."""
    stack = default_stack
    key = make_key(stack.settings, Role.RECRUITER, "lease-gather-kill")
    key_id = key_id_of(stack.settings, key)
    queue = CeleryQueue(Celery("grader-test"), stack.settings)
    stack.beat()
    with stack.api() as api, api.client(key) as client:  # no worker yet: every message waits
        for i in range(ANSWERS):
            body = {"candidate_id": f"gather-{i}", "question_id": f"q{i % 12 + 1:02d}", "answer": f"RLHF 第 {i} 份"}
            assert client.post("/api/v1/submissions", json=body).status_code == 202
    assert len(queue.waiting_submissions(2 * ANSWERS)) == ANSWERS
    doomed = stack.worker()
    assert wait_until(lambda: held_by(stack.settings, doomed, key_id) > 1, 90, interval=0.01), stack.logs()
    kill(doomed)
    killed_at = time.monotonic()
    held = held_ids(stack.settings, doomed, key_id)
    # Gathered and claimed, their messages already taken: only the sweep can hand these on.
    taken = held - set(queue.waiting_submissions(2 * ANSWERS))
    assert taken, (len(held), stack.logs())
    survivor = stack.worker()

    def all_done() -> bool:
        state = outcome(stack.settings, key_id)
        return state.submitted == ANSWERS and state.open == 0

    assert wait_until(all_done, RECOVERY_BOUND, interval=0.25), (outcome(stack.settings, key_id), stack.logs())
    recovered_in = time.monotonic() - killed_at
    with get_engine(stack.settings.database_url).connect() as conn:
        requeued = {
            uuid.UUID(sid)
            for details in conn.scalars(
                text("SELECT details FROM audit_log WHERE action = 'submission.requeued'")
            ).all()
            for sid in details["submission_ids"]
        }
    state = outcome(stack.settings, key_id)
    report(
        "worker SIGKILL holding gathered REST answers, default deadlines (lease 20 s, sweep 10 s)",
        held_by_the_killed_worker=len(held),
        with_no_message_on_the_queue=len(taken),
        seconds_from_kill_to_all_graded=round(recovered_in, 1),
        **state.figures(),
    )
    assert taken <= requeued
    assert survivor.proc.poll() is None
    assert state.graded == ANSWERS and state.duplicated == 0, state
