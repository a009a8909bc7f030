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
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import text

from grader.db.models import Role
from grader.db.session import get_engine
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
    with get_engine(settings.database_url).connect() as conn:
        holders = conn.execute(
            text(
                "SELECT claimed_by, count(*) FROM submissions WHERE submitted_by = :key AND status = 'running' "
                "GROUP BY claimed_by"
            ),
            {"key": key_id},
        ).all()
    held = 0
    for claimed_by, count in holders:
        try:
            pid = int(str(claimed_by).rsplit(":", 1)[1])
            if os.getpgid(pid) == worker.proc.pid:
                held += int(count)
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
