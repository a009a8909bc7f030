"""Redis (the broker) restarted during a batch, losing every queued message: the batch still completes,
interactive submissions sent while it was down are graded, nothing is graded twice.

The Redis here is a throwaway `redis-server` of this test's own on a free port, never the shared one.
"""

from __future__ import annotations

import signal
import time

import pytest

from grader.db.models import Role
from tests.support.services import free_port, make_key, wait_until

from .harness import Stack, answers_csv, key_id_of, outcome, redis_server, report, upload, wait_all_finished

pytestmark = [pytest.mark.services, pytest.mark.slow]

ANSWERS = 300
DURING_OUTAGE = 20


def test_redis_restarted_mid_batch_loses_nothing(stack: Stack) -> None:
    port = free_port()
    redis_proc = redis_server(port, stack.tmp / "redis.log")
    try:
        stack.settings = stack.settings.model_copy(update={"redis_url": f"redis://127.0.0.1:{port}/0"})
        key = make_key(stack.settings, Role.RECRUITER, "fault-redis-restart")
        key_id = key_id_of(stack.settings, key)
        stack.beat()
        stack.worker()
        with stack.api() as api, api.client(key) as client:
            response = upload(client, answers_csv(ANSWERS, "redis"))
            assert response.status_code == 202, response.text
            batch_id = response.json()["id"]
            assert wait_until(lambda: outcome(stack.settings, key_id).finished >= ANSWERS // 4, 90, interval=0.1), (
                stack.logs()
            )

            redis_proc.send_signal(signal.SIGKILL)  # no persistence: every queued chunk is gone
            redis_proc.wait(10)
            at_outage = outcome(stack.settings, key_id)
            # The API keeps accepting while the broker is down: rows commit, the enqueue fails, the sweep
            # sends them once Redis is back.
            accepted = 0
            for i in range(DURING_OUTAGE):
                r = client.post(
                    "/api/v1/submissions",
                    json={
                        "candidate_id": f"outage-{i}",
                        "question_id": f"q{i % 12 + 1:02d}",
                        "answer": "自注意力与顺序无关，所以需要位置编码。",
                    },
                    headers={"Idempotency-Key": f"outage-{i}"},
                )
                assert r.status_code == 202, r.text
                accepted += 1
            time.sleep(2)
            redis_proc = redis_server(port, stack.tmp / "redis-2.log")

            state = wait_all_finished(stack.settings, key_id, ANSWERS + DURING_OUTAGE, timeout=150, stack=stack)
            status = client.get(f"/api/v1/batches/{batch_id}").json()
    finally:
        redis_proc.kill()
        redis_proc.wait(10)

    report(
        "Redis restarted mid-batch (queued messages lost)",
        at_outage_finished=at_outage.finished,
        accepted_during_outage=accepted,
        **state.figures(),
    )
    assert state.submitted == ANSWERS + DURING_OUTAGE
    assert state.open == 0 and state.graded == state.submitted, state
    assert state.duplicated == 0 and state.grade_rows == state.submitted
    assert status["status"] == "done", status
