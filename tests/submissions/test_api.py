"""`/api/v1/submissions` over real HTTP against the real Postgres (grading itself is exercised in
tests/grading/test_worker_e2e.py)."""

from __future__ import annotations

import uuid

import pytest

from grader.db.models import Role
from grader.settings import Settings
from tests.support.api import ANSWER, assert_error, body
from tests.support.services import Server, make_key

pytestmark = pytest.mark.services


@pytest.fixture
def recruiter(clean_db: Settings) -> str:
    return make_key(clean_db, Role.RECRUITER, "recruiter-a")


def test_submit_returns_202_with_location_of_the_pending_submission(api: Server, recruiter: str) -> None:
    with api.client(recruiter) as client:
        response = client.post("/api/v1/submissions", json=body(candidate_name="张三"))
        assert response.status_code == 202
        created = response.json()
        assert created["status"] == "pending"
        assert response.headers["Location"] == f"/api/v1/submissions/{created['id']}"

        fetched = client.get(response.headers["Location"])
        assert fetched.status_code == 200
        assert fetched.json()["candidate_name"] == "张三"
        assert fetched.json()["answer"] == ANSWER


def test_same_idempotency_key_and_body_gives_the_same_submission(api: Server, recruiter: str) -> None:
    with api.client(recruiter) as client:
        first = client.post("/api/v1/submissions", json=body(), headers={"Idempotency-Key": "retry-1"})
        second = client.post("/api/v1/submissions", json=body(), headers={"Idempotency-Key": "retry-1"})
        assert first.status_code == second.status_code == 202
        assert first.json()["id"] == second.json()["id"]
        assert second.headers["Idempotent-Replayed"] == "true"
        assert client.get("/api/v1/submissions").json()["total"] == 1


def test_same_idempotency_key_with_another_body_is_a_conflict(api: Server, recruiter: str) -> None:
    with api.client(recruiter) as client:
        client.post("/api/v1/submissions", json=body(), headers={"Idempotency-Key": "k"})
        response = client.post("/api/v1/submissions", json=body(answer="另一个答案"), headers={"Idempotency-Key": "k"})
        error = assert_error(response, 409, "conflict")
        assert "Idempotency-Key 'k'" in str(error["message"])


def test_idempotency_keys_belong_to_the_key_that_sent_them(api: Server, recruiter: str, clean_db: Settings) -> None:
    other = make_key(clean_db, Role.RECRUITER, "recruiter-b")
    with api.client(recruiter) as a, api.client(other) as b:
        first = a.post("/api/v1/submissions", json=body(), headers={"Idempotency-Key": "same"})
        second = b.post("/api/v1/submissions", json=body(), headers={"Idempotency-Key": "same"})
        assert first.json()["id"] != second.json()["id"]


def test_question_ids_are_read_as_typed_q3_is_q03(api: Server, recruiter: str) -> None:
    with api.client(recruiter) as client:
        stored = [
            client.post("/api/v1/submissions", json=body(question_id=typed)).json()["question_id"]
            for typed in ("q3", "Q3", "q03", " q03 ")
        ]
        # A retry that types the id differently is the same request.
        first = client.post("/api/v1/submissions", json=body(question_id="q3"), headers={"Idempotency-Key": "typed"})
        again = client.post("/api/v1/submissions", json=body(question_id="Q03"), headers={"Idempotency-Key": "typed"})
    assert stored == ["q03"] * 4
    assert first.status_code == again.status_code == 202 and again.json()["id"] == first.json()["id"]
    assert again.headers["Idempotent-Replayed"] == "true"


def test_unknown_question_is_404_naming_it(api: Server, recruiter: str) -> None:
    with api.client(recruiter) as client:
        error = assert_error(
            client.post("/api/v1/submissions", json=body(question_id="q99")), 404, "question_not_found"
        )
        assert "'q99'" in str(error["message"])
        assert error["details"] == {"question_id": "q99"}
        assert_error(client.get("/api/v1/questions/q99"), 404, "question_not_found")


@pytest.mark.parametrize("answer", ["", "   \n "])
def test_empty_answer_is_422_saying_the_limit(api: Server, recruiter: str, answer: str) -> None:
    with api.client(recruiter) as client:
        error = assert_error(client.post("/api/v1/submissions", json=body(answer=answer)), 422, "invalid_input")
        assert "empty" in str(error["message"]) and "10,000" in str(error["message"])


def test_over_long_answer_is_422_saying_the_limit(api: Server, recruiter: str) -> None:
    with api.client(recruiter) as client:
        error = assert_error(client.post("/api/v1/submissions", json=body(answer="答" * 10_001)), 422)
        assert error["message"] == "answer is 10,001 characters; the limit is 10,000 characters"
        # Exactly at the limit is accepted.
        assert client.post("/api/v1/submissions", json=body(answer="答" * 10_000)).status_code == 202


def test_malformed_json_is_422(api: Server, recruiter: str) -> None:
    with api.client(recruiter) as client:
        response = client.post(
            "/api/v1/submissions",
            content=b'{"candidate_id": "c",',
            headers={"Content-Type": "application/json"},
        )
        error = assert_error(response, 422, "invalid_json")
        assert "not valid JSON" in str(error["message"])


@pytest.mark.parametrize(
    "payload",
    [
        {"question_id": "q01", "answer": ANSWER},  # no candidate
        {"candidate_id": "c", "question_id": "q01", "answer": 42},  # wrong type
        {"candidate_id": "c", "question_id": "q01", "answer": "a", "x": 1},  # unknown field
        [1, 2, 3],
    ],
)
def test_bad_bodies_are_422_never_500(api: Server, recruiter: str, payload: object) -> None:
    with api.client(recruiter) as client:
        error = assert_error(client.post("/api/v1/submissions", json=payload), 422, "validation_error")
        assert error["details"]["errors"]  # type: ignore[index]


def test_another_recruiters_submission_is_404(api: Server, recruiter: str, clean_db: Settings) -> None:
    other = make_key(clean_db, Role.RECRUITER, "recruiter-b")
    with api.client(recruiter) as mine, api.client(other) as theirs:
        submission = mine.post("/api/v1/submissions", json=body()).json()
        error = assert_error(theirs.get(f"/api/v1/submissions/{submission['id']}"), 404, "submission_not_found")
        assert submission["id"] in str(error["message"])
        assert theirs.get("/api/v1/submissions").json()["total"] == 0
        assert_error(mine.get(f"/api/v1/submissions/{uuid.uuid4()}"), 404, "submission_not_found")
        assert_error(mine.get("/api/v1/submissions/not-a-uuid"), 422, "validation_error")


def test_listing_filters_and_pages(api: Server, recruiter: str) -> None:
    with api.client(recruiter) as client:
        for i in range(5):
            client.post("/api/v1/submissions", json=body(candidate_id=f"c-{i % 2}", question_id=f"q0{1 + i % 3}"))
        page = client.get("/api/v1/submissions", params={"limit": 2}).json()
        assert (len(page["items"]), page["total"], page["limit"], page["offset"]) == (2, 5, 2, 0)
        rest = client.get("/api/v1/submissions", params={"limit": 10, "offset": 2}).json()
        assert len(rest["items"]) == 3
        assert not {i["id"] for i in page["items"]} & {i["id"] for i in rest["items"]}
        assert client.get("/api/v1/submissions", params={"candidate_id": "c-0"}).json()["total"] == 3
        assert client.get("/api/v1/submissions", params={"question_id": "q02"}).json()["total"] == 2
        assert client.get("/api/v1/submissions", params={"status": "pending"}).json()["total"] == 5
        assert client.get("/api/v1/submissions", params={"status": "graded"}).json()["total"] == 0
        assert_error(client.get("/api/v1/submissions", params={"status": "done"}), 422)
        assert_error(client.get("/api/v1/submissions", params={"limit": 1000}), 422)


def test_every_submission_is_audited(api: Server, recruiter: str) -> None:
    from sqlalchemy import select

    from grader.db.models import AuditEntry
    from grader.db.session import get_session_factory

    with api.client(recruiter) as client:
        submission = client.post("/api/v1/submissions", json=body()).json()
    with get_session_factory(api.settings.database_url)() as session:
        entries = session.scalars(select(AuditEntry).where(AuditEntry.entity_id == submission["id"])).all()
        assert [(e.action, e.actor) for e in entries] == [("submission.created", "recruiter-a")]
