"""`POST /api/v1/interviews` over real HTTP against the real Postgres: one call, one submission per answer,
idempotent, every bad answer named by its index and nothing stored when one is bad."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from grader.db.candidate_models import Interview, InterviewItem
from grader.db.models import Role, Submission
from grader.db.session import get_session_factory
from grader.settings import Settings
from tests.support.api import ANSWER, assert_error
from tests.support.services import Server, make_key
from tests.support.sheets import csv_bytes

pytestmark = pytest.mark.services


@pytest.fixture
def recruiter(clean_db: Settings) -> str:
    return make_key(clean_db, Role.RECRUITER, "recruiter-a")


def interview(n: int = 12, **overrides: object) -> dict[str, object]:
    answers = [{"question_id": f"q{i + 1:02d}", "answer": f"{ANSWER} ({i})"} for i in range(n)]
    return {"candidate_id": "c-100", "candidate_name": "李雷", "bank": "llm", "answers": answers, **overrides}


def stored(settings: Settings) -> tuple[int, int, int]:
    with get_session_factory(settings.database_url)() as session:
        return (
            session.scalar(select(func.count()).select_from(Interview)) or 0,
            session.scalar(select(func.count()).select_from(InterviewItem)) or 0,
            session.scalar(select(func.count()).select_from(Submission)) or 0,
        )


def test_twelve_answers_in_one_call_are_twelve_pending_submissions(
    api: Server, recruiter: str, clean_db: Settings
) -> None:
    with api.client(recruiter) as client:
        response = client.post("/api/v1/interviews", json=interview())
        assert response.status_code == 202, response.text
        created = response.json()
        assert response.headers["Location"] == f"/api/v1/interviews/{created['id']}"
        ids = [s["id"] for s in created["submissions"]]
        assert len(set(ids)) == 12
        assert [s["question_id"] for s in created["submissions"]] == [f"q{i:02d}" for i in range(1, 13)]
        assert [s["index"] for s in created["submissions"]] == list(range(12))
        one = client.get(f"/api/v1/submissions/{ids[3]}").json()
        assert one["status"] in ("pending", "running", "graded", "needs_review")
        assert one["candidate_name"] == "李雷" and one["question_id"] == "q04"
    assert stored(clean_db) == (1, 12, 12)


def test_the_same_call_with_the_same_key_returns_the_same_ids(api: Server, recruiter: str, clean_db: Settings) -> None:
    with api.client(recruiter) as client:
        first = client.post("/api/v1/interviews", json=interview(), headers={"Idempotency-Key": "iv-1"})
        # Ids typed another way are the same request.
        retyped = interview()
        retyped["answers"] = [{"question_id": f"Q{i + 1}", "answer": f"{ANSWER} ({i})"} for i in range(12)]
        second = client.post("/api/v1/interviews", json=retyped, headers={"Idempotency-Key": "iv-1"})
        assert first.status_code == second.status_code == 202
        assert second.headers["Idempotent-Replayed"] == "true"
        assert second.json()["id"] == first.json()["id"]
        assert [s["id"] for s in second.json()["submissions"]] == [s["id"] for s in first.json()["submissions"]]
        other = client.post("/api/v1/interviews", json=interview(5), headers={"Idempotency-Key": "iv-1"})
        assert_error(other, 409, "conflict")
    assert stored(clean_db) == (1, 12, 12)


def test_bad_items_are_named_by_index_and_nothing_is_stored(api: Server, recruiter: str, clean_db: Settings) -> None:
    body = interview()
    answers = body["answers"]
    assert isinstance(answers, list)
    answers[4] = {"question_id": "q99", "answer": "x"}
    answers[7] = {"question_id": "q08", "answer": "   "}
    answers[9] = {"question_id": "q01", "answer": "again"}
    with api.client(recruiter) as client:
        error = assert_error(client.post("/api/v1/interviews", json=body), 422, "invalid_interview")
    problems = error["details"]["errors"]  # type: ignore[index]
    assert [(p["index"], p["field"]) for p in problems] == [(4, "question_id"), (7, "answer"), (9, "question_id")]
    assert (
        "q99" in problems[0]["message"] and "empty" in problems[1]["message"] and "answers[0]" in problems[2]["message"]
    )
    assert "nothing was stored" in str(error["message"])
    assert stored(clean_db) == (0, 0, 0)


def test_a_question_outside_the_named_bank_is_refused(api: Server, recruiter: str, clean_db: Settings) -> None:
    with api.client(recruiter) as client:
        error = assert_error(client.post("/api/v1/interviews", json=interview(2, bank="ads")), 422)
    assert "not 'ads'" in str(error["message"])
    assert stored(clean_db) == (0, 0, 0)


def test_a_malformed_item_is_named_by_its_index(api: Server, recruiter: str, clean_db: Settings) -> None:
    body = interview(3)
    body["answers"][1] = {"question_id": "q02"}  # type: ignore[index]
    with api.client(recruiter) as client:
        response = client.post("/api/v1/interviews", json=body)
    assert response.status_code == 422
    assert "answers" in response.text and "1" in response.text
    assert stored(clean_db) == (0, 0, 0)


def test_reviewers_cannot_submit_interviews(api: Server, clean_db: Settings) -> None:
    reviewer = make_key(clean_db, Role.REVIEWER, "rev")
    with api.client(reviewer) as client:
        assert_error(client.post("/api/v1/interviews", json=interview(1)), 403)


def test_each_candidates_rows_of_an_answer_sheet_form_an_interview(
    api: Server, recruiter: str, clean_db: Settings
) -> None:
    rows = [("candidate_id", "question_id", "answer")]
    rows += [(f"c-{c}", f"q{q:02d}", f"{ANSWER} {c}{q}") for c in range(3) for q in range(1, 5)]
    with api.client(recruiter) as client:
        response = client.post("/api/v1/batches", files={"file": ("sheet.csv", csv_bytes(rows))})
        assert response.status_code == 202, response.text
    with get_session_factory(clean_db.database_url)() as session:
        interviews = session.execute(select(Interview.candidate_id, Interview.batch_id)).all()
        assert sorted(c for c, _ in interviews) == ["c-0", "c-1", "c-2"]
        assert {str(b) for _, b in interviews} == {response.json()["id"]}
        per = session.execute(
            select(Interview.candidate_id, func.count())
            .join(InterviewItem, InterviewItem.interview_id == Interview.id)
            .group_by(Interview.candidate_id)
        ).all()
        assert dict(per) == {"c-0": 4, "c-1": 4, "c-2": 4}
