"""The REST API over real HTTP against the real Postgres (grading itself is exercised in test_e2e)."""

from __future__ import annotations

import uuid

import pytest

from grader.db.models import Role
from grader.settings import Settings

from .conftest import Server, make_key

pytestmark = pytest.mark.services

ANSWER = "RAG 先从知识库检索与问题相关的文档片段，再把它们放进提示词，让大模型基于检索结果生成回答。"


def body(**overrides: object) -> dict[str, object]:
    return {"candidate_id": "c-001", "question_id": "q01", "answer": ANSWER, **overrides}


@pytest.fixture
def recruiter(clean_db: Settings) -> str:
    return make_key(clean_db, Role.RECRUITER, "recruiter-a")


def assert_error(response: object, status: int, code: str | None = None) -> dict[str, object]:
    import httpx

    assert isinstance(response, httpx.Response)
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert set(error) == {"code", "message", "details"}
    if code is not None:
        assert error["code"] == code
    return dict(error)


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


def test_missing_or_bad_key_is_401(api: Server, recruiter: str) -> None:
    with api.client() as anonymous, api.client("grd_not-a-real-key") as bad:
        assert "X-API-Key" in str(assert_error(anonymous.get("/api/v1/submissions"), 401)["message"])
        assert_error(bad.post("/api/v1/submissions", json=body()), 401, "unauthorized")
        assert_error(anonymous.get("/api/v1/questions"), 401)


def test_revoked_key_is_401(api: Server, clean_db: Settings) -> None:
    admin = make_key(clean_db, Role.ADMIN)
    with api.client(admin) as client:
        created = client.post("/api/v1/keys", json={"name": "temp", "role": "recruiter"})
        assert created.status_code == 201
        temp = created.json()
        with api.client(temp["key"]) as temp_client:
            assert temp_client.get("/api/v1/submissions").status_code == 200
            assert client.delete(f"/api/v1/keys/{temp['id']}").json()["revoked_at"] is not None
            assert_error(temp_client.get("/api/v1/submissions"), 401)


def test_roles(api: Server, recruiter: str, clean_db: Settings) -> None:
    reviewer = make_key(clean_db, Role.REVIEWER)
    admin = make_key(clean_db, Role.ADMIN)
    with api.client(recruiter) as rec, api.client(reviewer) as rev, api.client(admin) as adm:
        submission = rec.post("/api/v1/submissions", json=body()).json()
        # Reviewers judge answers; they do not submit them, nor manage keys.
        error = assert_error(rev.post("/api/v1/submissions", json=body()), 403, "forbidden")
        assert "recruiter or admin" in str(error["message"])
        assert_error(rec.post("/api/v1/keys", json={"name": "x", "role": "admin"}), 403)
        assert_error(rev.get("/api/v1/keys"), 403)
        # Reviewers and admins read everyone's submissions.
        assert rev.get(f"/api/v1/submissions/{submission['id']}").status_code == 200
        assert adm.get(f"/api/v1/submissions/{submission['id']}").status_code == 200
        assert adm.post("/api/v1/submissions", json=body()).status_code == 202
        assert [k["role"] for k in adm.get("/api/v1/keys").json()] == ["recruiter", "reviewer", "admin"]
        assert "key" not in adm.get("/api/v1/keys").json()[0]


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


def test_questions_show_key_points_and_reference_version(api: Server, recruiter: str) -> None:
    with api.client(recruiter) as client:
        questions = client.get("/api/v1/questions").json()
        assert [q["id"] for q in questions][:2] == ["q01", "q02"]
        q01 = client.get("/api/v1/questions/q01").json()
        assert q01["question"] and len(q01["reference_hash"]) == 16
        assert abs(sum(kp["weight"] for kp in q01["key_points"]) - 1.0) < 0.011
        assert all(kp["keywords"] for kp in q01["key_points"])


def test_health_and_readiness(api: Server) -> None:
    with api.client() as client:
        assert client.get("/healthz").json() == {"status": "ok"}
        ready = client.get("/readyz")
        assert ready.status_code == 200, ready.text
        assert {name: check["ok"] for name, check in ready.json()["checks"].items()} == {
            "database": True,
            "broker": True,
            "model": True,
        }
        assert client.get("/docs").status_code == 200
        assert "/api/v1/submissions" in client.get("/openapi.json").json()["paths"]


def test_unknown_route_and_method_use_the_error_shape(api: Server, recruiter: str) -> None:
    # With a key: without one, anything under /api/ is 401 before routing (tests/security).
    with api.client(recruiter) as client:
        assert_error(client.get("/api/v1/nothing"), 404, "not_found")
        assert_error(client.put("/healthz"), 405, "method_not_allowed")


def test_every_submission_is_audited(api: Server, recruiter: str) -> None:
    from sqlalchemy import select

    from grader.db.models import AuditEntry
    from grader.db.session import get_session_factory

    with api.client(recruiter) as client:
        submission = client.post("/api/v1/submissions", json=body()).json()
    with get_session_factory(api.settings.database_url)() as session:
        entries = session.scalars(select(AuditEntry).where(AuditEntry.entity_id == submission["id"])).all()
        assert [(e.action, e.actor) for e in entries] == [("submission.created", "recruiter-a")]
