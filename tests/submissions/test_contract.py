"""The submissions API's contract through an in-process client (no server, no Postgres, no Redis): the app on
its embedded default (a SQLite file, migrated at startup) with a queue that only records, since grading is
not what these tests are about (tests/grading covers it). What a real server adds — sockets, processes,
Postgres — is tested over real HTTP in test_api.py."""

from __future__ import annotations

import uuid
import warnings
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest

with warnings.catch_warnings():
    # This Starlette asks for its `httpx2` fork for the test client and warns on httpx; httpx (a dependency
    # already) drives it all the same.
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

from grader.db.models import Role
from grader.settings import Settings
from grader.web.app import create_app
from tests.support.api import body
from tests.support.services import make_key


class Recorded:
    """A queue that keeps what it was handed."""

    def __init__(self) -> None:
        self.enqueued: list[uuid.UUID] = []

    def enqueue(self, submission_id: uuid.UUID) -> None:
        self.enqueued.append(submission_id)

    def enqueue_chunk(self, batch_id: uuid.UUID, submission_ids: Sequence[uuid.UUID]) -> None:
        self.enqueued.extend(submission_ids)

    def stop(self) -> None:  # the app stops its queue when it shuts down
        pass


@pytest.fixture
def app(tmp_path: Path) -> Iterator[tuple[TestClient, Recorded, str]]:
    settings = Settings(database_url=f"sqlite:///{tmp_path / 'grader.db'}")
    application = create_app(settings)
    with TestClient(application) as client:
        application.state.queue.stop()  # the embedded grading thread: nothing here is graded
        queue = Recorded()
        application.state.queue = queue
        yield client, queue, make_key(settings, Role.RECRUITER, "contract")


def test_a_submission_is_accepted_queued_once_committed_and_read_back(app: tuple[TestClient, Recorded, str]) -> None:
    client, queue, key = app
    created = client.post("/api/v1/submissions", json=body(candidate_name="张三"), headers={"X-API-Key": key})
    assert created.status_code == 202, created.text
    submission = created.json()
    assert created.headers["Location"] == f"/api/v1/submissions/{submission['id']}"
    assert (submission["status"], submission["candidate_name"], submission["grade"]) == ("pending", "张三", None)
    assert queue.enqueued == [uuid.UUID(submission["id"])]
    read = client.get(created.headers["Location"], headers={"X-API-Key": key})
    assert read.status_code == 200 and read.json() == submission
    page = client.get("/api/v1/submissions", params={"limit": 5}, headers={"X-API-Key": key}).json()
    assert page["total"] == 1 and [item["id"] for item in page["items"]] == [submission["id"]]
    assert page["items"][0]["score"] is None


def test_a_replay_with_the_same_idempotency_key_is_the_same_submission_not_queued_again(
    app: tuple[TestClient, Recorded, str],
) -> None:
    client, queue, key = app
    headers = {"X-API-Key": key, "Idempotency-Key": "k-1"}
    first = client.post("/api/v1/submissions", json=body(), headers=headers)
    again = client.post("/api/v1/submissions", json=body(), headers=headers)
    assert (first.status_code, again.status_code) == (202, 202)
    assert again.json()["id"] == first.json()["id"] and again.headers["Idempotent-Replayed"] == "true"
    assert len(queue.enqueued) == 1
    other = client.post("/api/v1/submissions", json=body(answer="另一个回答"), headers=headers)
    assert other.status_code == 409 and other.json()["error"]["code"] == "conflict"


def test_without_a_key_nothing_is_stored(app: tuple[TestClient, Recorded, str]) -> None:
    client, queue, key = app
    assert client.post("/api/v1/submissions", json=body()).status_code == 401
    assert client.get("/api/v1/submissions", headers={"X-API-Key": key}).json()["total"] == 0
    assert queue.enqueued == []
