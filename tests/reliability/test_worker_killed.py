"""A worker SIGKILLed in the middle of a 500-answer batch, then restarted: every answer is graded exactly
once and none is left `running`."""

from __future__ import annotations

import pytest

from grader.db.models import Role
from tests.support.services import make_key, wait_until

from .harness import (
    Stack,
    answers_csv,
    freeze,
    key_id_of,
    kill,
    outcome,
    report,
    thaw,
    upload,
    wait_all_finished,
)

pytestmark = [pytest.mark.services, pytest.mark.slow]

ANSWERS = 500


def test_worker_killed_mid_batch_then_restarted_grades_every_answer_once(stack: Stack) -> None:
    key = make_key(stack.settings, Role.RECRUITER, "fault-worker-kill")
    key_id = key_id_of(stack.settings, key)
    stack.beat()
    first = stack.worker()
    with stack.api() as api, api.client(key) as client:
        response = upload(client, answers_csv(ANSWERS, "kill"))
        assert response.status_code == 202, response.text
        batch_id = response.json()["id"]

        # Kill once a fifth is graded, at a moment a chunk is claimed (`running`) and being graded.
        def mid_chunk() -> bool:
            state = outcome(stack.settings, key_id)
            return state.finished >= ANSWERS // 5 and state.by_status.get("running", 0) > 0

        # The worker is frozen before the state is read: a chunk can finish between a read and a kill, so a
        # kill decided on an unfrozen read may land between chunks and test nothing.
        def frozen_mid_chunk() -> bool:
            if not mid_chunk():
                return False
            freeze(first)
            if outcome(stack.settings, key_id).by_status.get("running", 0) > 0:
                return True
            thaw(first)
            return False

        assert wait_until(frozen_mid_chunk, 90, interval=0.02), stack.logs()
        kill(first)
        at_kill = outcome(stack.settings, key_id)
        assert at_kill.by_status.get("running", 0) > 0 and at_kill.open > ANSWERS // 2, at_kill

        stack.worker()
        state = wait_all_finished(stack.settings, key_id, ANSWERS, timeout=150, stack=stack)
        status = client.get(f"/api/v1/batches/{batch_id}").json()

    report(
        "worker SIGKILL mid-batch, restarted",
        at_kill={"finished": at_kill.finished, "running": at_kill.by_status.get("running", 0)},
        **state.figures(),
    )
    assert state.submitted == ANSWERS
    assert state.open == 0, state
    assert state.graded == ANSWERS, state  # nothing failed: a killed run is retried, not given up on
    assert state.grade_rows == ANSWERS and state.graded_submissions == ANSWERS
    assert state.duplicated == 0
    assert status["status"] == "done" and status["counts"]["pending"] == 0, status
