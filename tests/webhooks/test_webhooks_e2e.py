"""Webhooks end to end: a real `grader worker` grading, a `grader worker --webhooks` delivering, `grader
beat` dispatching, Redis, Postgres and a real receiver on loopback that goes down for a minute."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterator

import pytest

from grader.db.models import Role
from grader.settings import Settings
from grader.webhooks import signing
from tests.support.processes import Process, grader_env, running_worker
from tests.support.receiver import Receiver
from tests.support.seed import ANSWERS
from tests.support.services import Server, ServerThread, free_port, make_key, wait_until

pytestmark = [pytest.mark.services, pytest.mark.slow]

DOWN_FOR = 60.0  # seconds the receiver is away
RETRIES = "[2, 3, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5]"


@pytest.fixture(scope="module")
def env(pg_settings: Settings) -> dict[str, str]:
    return grader_env(
        database_url=pg_settings.database_url,
        redis_url=pg_settings.redis_url,
        celery_queue=pg_settings.celery_queue,
        webhook_allow_private="true",
        webhook_retry_seconds=RETRIES,
        webhook_dispatch_seconds="1",
        webhook_timeout_seconds="3",
    )


@pytest.fixture(scope="module")
def services(env: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[Process]]:
    tmp = tmp_path_factory.mktemp("webhooks")
    hooks = Process(["worker", "--webhooks", "--log-level", "info"], env, tmp / "webhooks.log", tmp)
    beat = Process(["beat", "--schedule-file", str(tmp / "beat-schedule")], env, tmp / "beat.log", tmp)
    try:
        hooks.wait_for("ready.", timeout=60)
        with running_worker(env, tmp) as worker:
            yield [worker, hooks, beat]
    finally:
        beat.stop()
        hooks.stop()


@pytest.fixture(scope="module")
def server(pg_settings: Settings) -> Iterator[Server]:
    with ServerThread(pg_settings.model_copy(update={"webhook_allow_private": True})) as api:
        yield api


def interview(candidate: str) -> dict[str, object]:
    picks = [ANSWERS[0], ANSWERS[4]]  # good q03 and q01 answers
    return {
        "candidate_id": candidate,
        "answers": [{"question_id": q, "answer": a} for _, q, a in picks],
    }


def settle(recruiter, reviewer, ids: list[str], services: list[Process]) -> None:
    """Wait until every answer is graded, then decide those waiting for a reviewer."""
    states: dict[str, str] = {}

    def graded() -> bool:
        for sid in ids:
            states[sid] = recruiter.get(f"/api/v1/submissions/{sid}").json()["status"]
        return all(s not in ("pending", "running") for s in states.values())

    assert wait_until(graded, 240, interval=0.5), (states, services[0].output()[-3000:])
    for sid, state in states.items():
        if state == "needs_review":
            reviewer.post(f"/api/v1/results/{sid}/review", json={"final_score": 80, "comment": "ok"}).raise_for_status()


def test_a_receiver_gets_each_event_once_signed_and_everything_it_missed_while_down(
    server: Server, services: list[Process], clean_db: Settings
) -> None:
    receiver = Receiver(free_port())
    receiver.start()
    admin = make_key(clean_db, Role.ADMIN, "admin")
    recruiter_key = make_key(clean_db, Role.RECRUITER, "recruiter")
    reviewer_key = make_key(clean_db, Role.REVIEWER, "reviewer")
    events = ["submission.graded", "submission.reviewed", "interview.completed"]
    try:
        with server.client(admin) as a, server.client(recruiter_key) as r, server.client(reviewer_key) as v:
            endpoint = a.post("/api/v1/webhooks", json={"url": receiver.url, "events": events}).json()
            first = r.post("/api/v1/interviews", json=interview("c-hook-1")).json()
            settle(r, v, [s["id"] for s in first["submissions"]], services)

            def completed(interview_id: str) -> list:
                return [
                    x for x in receiver.of_type("interview.completed") if x.json["data"]["interview_id"] == interview_id
                ]

            assert wait_until(lambda: completed(first["id"]), 60, interval=0.5), services[1].output()[-3000:]
            time.sleep(3)  # a second delivery of the same event would have arrived by now
            (done,) = completed(first["id"])
            assert signing.verify(endpoint["secret"], done.headers["Grader-Signature"], done.body, now=int(time.time()))
            assert done.headers["Grader-Event-Id"] == done.json["id"]
            assert done.json["data"]["candidate_id"] == "c-hook-1" and done.json["data"]["answered"] == 2

            receiver.stop()
            stopped = time.monotonic()
            second = r.post("/api/v1/interviews", json=interview("c-hook-2")).json()
            # Grading goes on while the receiver is away.
            settle(r, v, [s["id"] for s in second["submissions"]], services)

            def failing() -> bool:
                page = a.get(f"/api/v1/webhooks/{endpoint['id']}/deliveries", params={"status": "pending"}).json()
                return any(d["attempts"] >= 2 for d in page["items"])

            assert wait_until(failing, 60, interval=1), services[1].output()[-3000:]
            time.sleep(max(0.0, DOWN_FOR - (time.monotonic() - stopped)))
            receiver.start()

            def all_delivered() -> bool:
                page = a.get(f"/api/v1/webhooks/{endpoint['id']}/deliveries", params={"status": "pending"}).json()
                return page["total"] == 0 and bool(completed(second["id"]))

            assert wait_until(all_delivered, 60, interval=0.5), services[1].output()[-3000:]
            time.sleep(3)
            deliveries = a.get(f"/api/v1/webhooks/{endpoint['id']}/deliveries", params={"limit": 200}).json()
    finally:
        receiver.stop()

    received = Counter(x.headers["Grader-Event-Id"] for x in receiver.all())
    assert max(received.values()) == 1, received  # none twice
    sent = {d["event_id"] for d in deliveries["items"]}
    assert set(received) == sent and all(d["status"] == "delivered" for d in deliveries["items"])
    types = Counter(x.json["type"] for x in receiver.all())
    assert types["interview.completed"] == 2 and types["submission.graded"] == 4
    retried = [d for d in deliveries["items"] if d["attempts"] > 1]
    assert retried, "deliveries made while the receiver was down were retried"
    for d in retried:
        log = d["attempt_log"]
        assert log[-1]["status_code"] == 200 and all(a["error"] for a in log[:-1])
    assert len(completed(second["id"])) == 1
    for x in receiver.all():
        assert signing.verify(
            endpoint["secret"], x.headers["Grader-Signature"], x.body, now=int(time.time()), tolerance=600
        )
