"""A process that dies after the submission's transaction commits and before the enqueue (simulated by
a dispatcher that calls `os._exit` from the post-commit hook): the sweep picks the submission up within
its deadline and a worker grades it."""

from __future__ import annotations

import subprocess
import sys
import time
import uuid

import pytest
from sqlalchemy import text

from grader.db.models import Role
from grader.db.session import get_engine
from tests.support.services import make_key, wait_until

from .harness import STUCK_AFTER, Stack, key_id_of, outcome, report

pytestmark = [pytest.mark.services, pytest.mark.slow]

CRASHING_SUBMIT = """
import os, sys
from grader.submissions.submit import submit
from grader.keys.principal import Principal
from grader.db.models import Role
from grader.db.session import get_session_factory, session_scope
from grader.submissions.schemas import SubmissionCreate
from grader.settings import get_settings

class CrashOnEnqueue:
    def enqueue(self, submission_id):
        print(submission_id, flush=True)
        os._exit(137)  # the row is committed; the message is never sent

settings = get_settings()
actor = Principal(key_id=int(sys.argv[1]), name="crash", role=Role.RECRUITER)
with session_scope(get_session_factory(settings.database_url)) as session:
    submit(session, SubmissionCreate(candidate_id=sys.argv[2], question_id="q10",
                   answer="自注意力与顺序无关，需要位置编码提供位置信息。"),
           actor=actor, max_answer_chars=10_000, queue=CrashOnEnqueue())
print("enqueued: the crash did not happen", flush=True)
"""

CRASHES = 5


def test_crash_between_commit_and_enqueue_is_swept_within_the_deadline(stack: Stack) -> None:
    key = make_key(stack.settings, Role.RECRUITER, "fault-commit-enqueue")
    key_id = key_id_of(stack.settings, key)
    ids = []
    for i in range(CRASHES):
        candidate = f"crash-{i}-{uuid.uuid4().hex[:6]}"
        result = subprocess.run(
            [sys.executable, "-c", CRASHING_SUBMIT, str(key_id), candidate],
            env=stack.env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert result.returncode == 137, result.stdout + result.stderr
        ids.append(result.stdout.split()[0])
    with get_engine(stack.settings.database_url).connect() as conn:
        statuses = conn.execute(text("SELECT status FROM submissions WHERE submitted_by = :k"), {"k": key_id}).all()
    assert [s for (s,) in statuses] == ["pending"] * CRASHES  # committed, never enqueued
    # Worker and beat start only now: on a slow machine the five crashing processes take longer than
    # the sweep's deadline, and the sweep would pick up the first ones before this check.
    stack.worker()
    stack.beat()
    crashed_at = time.monotonic()

    # Deadline: the submission must be older than STUCK_AFTER, the sweep runs every STUCK_AFTER/2 (at least
    # 5 s), and grading takes well under a few seconds with the hash embedder.
    deadline = STUCK_AFTER + max(STUCK_AFTER // 2, 5) + 15
    assert wait_until(lambda: outcome(stack.settings, key_id).open == 0, deadline, interval=0.2), stack.logs()
    took = time.monotonic() - crashed_at
    state = outcome(stack.settings, key_id)
    report(
        "crash between commit and enqueue",
        deadline_s=deadline,
        picked_up_and_graded_after_s=round(took, 1),
        **state.figures(),
    )
    assert state.graded == CRASHES and state.duplicated == 0
