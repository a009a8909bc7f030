"""Postgres connections terminated (`pg_terminate_backend`) again and again while a worker grades: tasks
retry with backoff and every submission ends graded, or failed with a reason; none is left open.

Only backends of this module's own throwaway database are terminated.
"""

from __future__ import annotations

import os
import threading
import time
import uuid

import psycopg
import pytest

from grader.db.models import Role
from tests.support.services import make_key, wait_until

from .harness import Stack, answers_csv, key_id_of, outcome, report, upload, wait_all_finished

pytestmark = [pytest.mark.services, pytest.mark.slow]

INTERACTIVE = 60
BATCH = 120
TERMINATE_FOR = 12.0  # seconds at least, and on until WANTED backends are gone (at most TERMINATE_AT_MOST):
TERMINATE_AT_MOST = 40.0  # on a loaded machine fewer connections are open in 12 s (15 to 44 seen)
WANTED = 20
EVERY = 0.15


class Terminator(threading.Thread):
    def __init__(self, url: str) -> None:
        super().__init__(daemon=True)
        self.url = url
        self.database = url.rsplit("/", 1)[1]
        self.stop = threading.Event()
        self.terminated = 0

    def run(self) -> None:
        with psycopg.connect(self.url.replace("postgresql+psycopg://", "postgresql://"), autocommit=True) as conn:
            while not self.stop.wait(EVERY):
                rows = conn.execute(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE datname = %s AND pid <> pg_backend_pid()",
                    (self.database,),
                ).fetchall()
                self.terminated += sum(1 for (ok,) in rows if ok)


def post_with_retries(client, i: int, refused: list[int]) -> bool:
    """A well-behaved client: retries 503s (and dropped connections) with the same Idempotency-Key."""
    body = {
        "candidate_id": f"pg-{i}",
        "candidate_name": f"测试{i}",
        "question_id": f"q{i % 12 + 1:02d}",
        "answer": f"ChatGPT 的优点是对话能力强，缺点是有幻觉、成本高。第 {i} 份",
    }
    for _ in range(40):
        try:
            r = client.post("/api/v1/submissions", json=body, headers={"Idempotency-Key": f"pg-{i}"})
        except Exception:
            refused.append(i)
            time.sleep(0.3)
            continue
        if r.status_code == 202:
            return True
        assert r.status_code == 503, r.text  # the only failure a lost connection may cause
        refused.append(i)
        assert r.headers.get("Retry-After")
        time.sleep(0.3)
    return False


def test_postgres_connections_terminated_during_grading(stack: Stack) -> None:
    key = make_key(stack.settings, Role.RECRUITER, "fault-pg-terminate")
    key_id = key_id_of(stack.settings, key)
    stack.beat()
    worker = stack.worker()
    terminator = Terminator(stack.settings.database_url)
    with stack.api() as api, api.client(key) as client:
        response = upload(client, answers_csv(BATCH, f"pg{uuid.uuid4().hex[:4]}"))
        assert response.status_code == 202, response.text
        assert wait_until(lambda: outcome(stack.settings, key_id).finished >= 10, 60, interval=0.1), stack.logs()

        terminator.start()
        started = time.monotonic()
        refused: list[int] = []  # API calls that met a terminated connection (503 or a dropped reply)
        accepted = sum(post_with_retries(client, i, refused) for i in range(INTERACTIVE))
        while time.monotonic() - started < TERMINATE_FOR or (
            terminator.terminated < WANTED and time.monotonic() - started < TERMINATE_AT_MOST
        ):
            time.sleep(0.2)
        terminator.stop.set()
        terminator.join(10)

        state = wait_all_finished(stack.settings, key_id, BATCH + INTERACTIVE, timeout=150, stack=stack)
    retries = worker.output().count("database error grading") + worker.output().count("Retry in")
    report(
        "Postgres backends terminated during grading",
        terminated_backends=terminator.terminated,
        accepted=accepted,
        task_retries_logged=retries,
        api_calls_refused=len(refused),
        **state.figures(),
    )
    assert accepted == INTERACTIVE
    # The fault was really there: connections of the API and the worker were killed over and over.
    assert terminator.terminated >= 10, terminator.terminated
    assert state.submitted == BATCH + INTERACTIVE
    assert state.open == 0, state
    assert state.failed_without_reason == 0
    assert state.duplicated == 0
    # Which side meets a killed connection mid-transaction is chance (transactions last milliseconds; a
    # killed idle connection is replaced silently by the pool's pre-ping): the fault must have reached
    # the worker's tasks or the API, and both must have come through it.
    assert retries + len(refused) > 0, "no request or task hit a terminated connection: the fault was not exercised"
    assert os.environ.get("GRADER_SECRET_KEY")
