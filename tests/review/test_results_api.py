"""The review endpoints over real HTTP on the real Postgres, with results graded by the real grader."""

from __future__ import annotations

import uuid

import httpx
import pytest
from sqlalchemy import text

from grader.db.models import Role
from grader.db.session import get_engine
from grader.settings import Settings
from tests.support.seed import Seeded
from tests.support.services import Server, make_key

pytestmark = pytest.mark.services


@pytest.fixture
def reviewer(clean_db: Settings) -> str:
    return make_key(clean_db, Role.REVIEWER, "审核员王五")


def error_code(response: httpx.Response, status: int) -> str:
    assert response.status_code == status, response.text
    return str(response.json()["error"]["code"])


def test_results_list_filters_sorts_and_pages(api: Server, reviewer: str, seeded: Seeded) -> None:
    with api.client(reviewer) as client:
        everything = client.get("/api/v1/results", params={"limit": 200}).json()
        assert everything["total"] == len(seeded.ids) and everything["total_exact"] is True
        assert everything["sort"] == "-graded_at"

        q03 = client.get("/api/v1/results", params={"question_id": "q03", "sort": "-score"}).json()
        assert {i["question_id"] for i in q03["items"]} == {"q03"}
        scores = [i["final_score"] for i in q03["items"]]
        assert scores == sorted(scores, reverse=True) and q03["total"] == 4

        one = client.get("/api/v1/results", params={"candidate_id": "c-001"}).json()
        assert [i["submission_id"] for i in one["items"]] == [str(seeded.by_candidate["c-001"])]
        assert one["items"][0]["candidate_name"] == "候选人1"

        top = q03["items"][0]["final_score"]
        ranged = client.get("/api/v1/results", params={"score_min": top, "score_max": 100}).json()
        assert ranged["total"] >= 1 and all(i["final_score"] >= top for i in ranged["items"])

        flagged = client.get("/api/v1/results", params={"flag": "non_answer"}).json()
        assert flagged["total"] >= 1 and all("non_answer" in i["flags"] for i in flagged["items"])

        unsure = client.get("/api/v1/results", params={"confidence_below": 0.5}).json()
        assert all(i["confidence"] < 0.5 for i in unsure["items"])

        page = client.get("/api/v1/results", params={"limit": 2, "offset": 2, "sort": "candidate"}).json()
        assert [i["candidate_id"] for i in page["items"]] == ["c-003", "c-004"] and page["total"] == 6

        later = client.get("/api/v1/results", params={"graded_from": "2999-01-01T00:00:00Z"}).json()
        assert later["total"] == 0
        earlier = client.get("/api/v1/results", params={"graded_to": "2999-01-01T00:00:00Z"}).json()
        assert earlier["total"] == 6

        assert error_code(client.get("/api/v1/results", params={"score_min": 80, "score_max": 20}), 422)
        assert error_code(client.get("/api/v1/results", params={"flag": "nonsense"}), 422)
        assert error_code(client.get("/api/v1/results", params={"sort": "answer"}), 422)


def test_queue_is_needs_review_least_confident_first(api: Server, reviewer: str, seeded: Seeded) -> None:
    with api.client(reviewer) as client:
        queue = client.get("/api/v1/results/queue").json()
        assert queue["total"] >= 1
        assert all(i["status"] == "needs_review" for i in queue["items"])
        confidences = [i["confidence"] for i in queue["items"]]
        assert confidences == sorted(confidences)
        # The keyword list is flagged, so it waits for a person whatever its confidence; the non-answer
        # is capped at 0 (the one flag measured right on every labelled set) and graded without review.
        queued = {i["submission_id"] for i in queue["items"]}
        assert str(seeded.by_candidate["c-006"]) in queued and str(seeded.by_candidate["c-004"]) not in queued


def test_detail_has_evidence_spans_into_the_answer(api: Server, reviewer: str, seeded: Seeded) -> None:
    with api.client(reviewer) as client:
        detail = client.get(f"/api/v1/results/{seeded.by_candidate['c-001']}").json()
    assert detail["question"] and detail["reference_key_points"]
    spans = [kp["evidence"] for kp in detail["key_points"] if kp["evidence"]]
    assert spans
    for span in spans:
        assert detail["answer"][span["start"] : span["end"]] == span["text"]


def test_review_sets_the_final_score_and_appends_history(
    api: Server, reviewer: str, seeded: Seeded, clean_db: Settings
) -> None:
    target = seeded.by_candidate["c-004"]
    with api.client(reviewer) as client:
        before = client.get(f"/api/v1/results/{target}").json()
        kp = before["key_points"][0]["id"]
        first = client.post(
            f"/api/v1/results/{target}/review",
            json={
                "final_score": 12.5,
                "comment": "答非所问，但提到了使用经验",
                "expected_review_count": 0,
                "key_points": [{"key_point_id": kp, "credit": 0.2, "note": "只沾边"}],
            },
        )
        assert first.status_code == 200, first.text
        after = first.json()
        assert after["final_score"] == 12.5 and after["grader_score"] == before["grader_score"]
        assert after["status"] == "graded" and after["reviewed"] and after["review_count"] == 1
        assert after["reviewed_by"] == "审核员王五"
        assert after["key_point_corrections"] == [{"key_point_id": kp, "credit": 0.2, "note": "只沾边"}]
        # Out of the queue, and the submission itself says graded.
        queue_ids = {i["submission_id"] for i in client.get("/api/v1/results/queue").json()["items"]}
        assert str(target) not in queue_ids

        # The feedback tells the final score beside the grader's; the rest is the grader's text.
        grader_line = f"得分 {before['grader_score']:.0f}/100。"
        assert before["feedback"].startswith(grader_line)
        # The reviewer's reason comes first; the grader's reasoning follows, marked as overridden.
        assert after["feedback"] == (
            f"复核后得分 12.5/100（评分器 {before['grader_score']:.0f}/100）。审核意见：答非所问，但提到了使用经验。"
            "评分器原评语（已被复核更正）：" + before["feedback"][len(grader_line) :]
        )
        second = client.post(f"/api/v1/results/{target}/review", json={"final_score": 20, "comment": "复核后上调"})
        assert second.status_code == 200 and second.json()["review_count"] == 2
        assert second.json()["feedback"].startswith("复核后得分 20/100（评分器 ")
        # Someone reviewing from a stale page is told, not silently overwritten.
        stale = client.post(
            f"/api/v1/results/{target}/review", json={"final_score": 0, "comment": "旧页面", "expected_review_count": 1}
        )
        assert error_code(stale, 409) == "conflict"

        history = client.get(f"/api/v1/results/{target}/history").json()
    actions = [e["action"] for e in history]
    assert actions[:2] == ["submission.created", "submission.graded"]
    reviews = [e for e in history if e["action"] == "result.reviewed"]
    assert len(reviews) == 2
    assert reviews[0]["actor"] == "审核员王五"
    assert reviews[0]["details"]["old"]["final_score"] == before["grader_score"]
    assert reviews[0]["details"]["new"]["final_score"] == 12.5
    assert reviews[0]["details"]["comment"] == "答非所问，但提到了使用经验"
    assert reviews[1]["details"]["old"]["final_score"] == 12.5
    assert reviews[1]["details"]["new"]["final_score"] == 20
    # The first review's corrections are kept when a later review does not touch that key point.
    assert reviews[1]["details"]["new"]["key_point_corrections"][0]["credit"] == 0.2
    # History is the append-only audit log: the database refuses to rewrite it.
    with pytest.raises(Exception, match="append-only"), get_engine(clean_db.database_url).begin() as conn:
        conn.execute(text("UPDATE audit_log SET details = '{}' WHERE action = 'result.reviewed'"))


def test_review_needs_a_comment_a_score_in_range_and_known_key_points(
    api: Server, reviewer: str, seeded: Seeded
) -> None:
    target = seeded.by_candidate["c-002"]
    with api.client(reviewer) as client:
        url = f"/api/v1/results/{target}/review"
        assert error_code(client.post(url, json={"final_score": 50}), 422) == "validation_error"
        assert error_code(client.post(url, json={"final_score": 50, "comment": "   "}), 422)
        assert error_code(client.post(url, json={"final_score": 101, "comment": "x"}), 422)
        unknown = client.post(
            url, json={"final_score": 50, "comment": "x", "key_points": [{"key_point_id": "kp99", "credit": 1}]}
        )
        assert error_code(unknown, 422) == "invalid_input"
        assert "kp99" in unknown.json()["error"]["message"]
        missing = client.post(f"/api/v1/results/{uuid.uuid4()}/review", json={"final_score": 1, "comment": "x"})
        assert error_code(missing, 404) == "result_not_found"
        # Nothing above changed the result or its history.
        assert client.get(f"/api/v1/results/{target}").json()["review_count"] == 0


def test_stats_per_question(api: Server, reviewer: str, seeded: Seeded) -> None:
    with api.client(reviewer) as client:
        target = seeded.by_candidate["c-001"]
        grader_score = client.get(f"/api/v1/results/{target}").json()["grader_score"]
        client.post(
            f"/api/v1/results/{target}/review",
            json={"final_score": max(grader_score - 10, 0), "comment": "要点讲得不够深入"},
        )
        stats = client.get("/api/v1/stats").json()
    assert stats["total"] == 6 and stats["bin_edges"] == list(range(0, 101, 10))
    by_q = {q["question_id"]: q for q in stats["questions"]}
    assert set(by_q) == {"q01", "q03"}
    q03 = by_q["q03"]
    assert q03["count"] == 4 and sum(q03["histogram"]) == 4 and len(q03["histogram"]) == 10
    assert q03["share_reviewed"] == 0.25
    assert q03["mean_abs_override_delta"] == pytest.approx(min(10, grader_score), abs=0.01)
    assert q03["question"]
    assert by_q["q01"]["mean_abs_override_delta"] is None
    assert by_q["q01"]["share_flagged"] > 0
    assert 0 <= q03["median"] <= 100 and 0 <= q03["mean"] <= 100


@pytest.mark.parametrize("role", [Role.REVIEWER, Role.ADMIN])
def test_reviewers_and_admins_may_review(api: Server, role: Role, clean_db: Settings) -> None:
    key = make_key(clean_db, role)
    with api.client(key) as client:
        for path in ("/api/v1/results", "/api/v1/results/queue", "/api/v1/stats"):
            assert client.get(path).status_code == 200


def test_recruiters_and_anonymous_are_refused(api: Server, clean_db: Settings, seeded: Seeded) -> None:
    recruiter = make_key(clean_db, Role.RECRUITER)
    target = seeded.ids[0]
    requests = [
        ("GET", "/api/v1/results"),
        ("GET", "/api/v1/results/queue"),
        ("GET", "/api/v1/stats"),
        ("GET", f"/api/v1/results/{target}"),
        ("GET", f"/api/v1/results/{target}/history"),
        ("POST", f"/api/v1/results/{target}/review"),
    ]
    body = {"final_score": 100, "comment": "我觉得满分"}
    with api.client(recruiter) as as_recruiter, api.client() as anonymous:
        for method, path in requests:
            assert error_code(as_recruiter.request(method, path, json=body), 403) == "forbidden"
            assert error_code(anonymous.request(method, path, json=body), 401) == "unauthorized"


def test_batch_filter_and_reviewed_scores_in_the_batch_download(
    api: Server, reviewer: str, clean_db: Settings, grader: object
) -> None:
    from grader.grading.grader import Grader
    from tests.support.seed import seed_batch

    assert isinstance(grader, Grader)
    batch_id = seed_batch(clean_db, grader)
    admin = make_key(clean_db, Role.ADMIN)
    with api.client(reviewer) as client, api.client(admin) as as_admin:
        in_batch = client.get("/api/v1/results", params={"batch_id": str(batch_id), "sort": "candidate"}).json()
        assert in_batch["total"] == 6 and {i["batch_id"] for i in in_batch["items"]} == {str(batch_id)}
        target = in_batch["items"][0]
        reviewed = client.post(
            f"/api/v1/results/{target['submission_id']}/review", json={"final_score": 77, "comment": "人工复核"}
        )
        assert reviewed.status_code == 200
        stats = client.get("/api/v1/stats", params={"batch_id": str(batch_id)}).json()
        assert stats["total"] == 6
        exported = as_admin.get(f"/api/v1/batches/{batch_id}/results", params={"format": "json"})
    assert exported.status_code == 200, exported.text
    body = exported.json()
    answers = body["answers"] if isinstance(body, dict) else body
    by_id = {a["submission_id"]: a for a in answers}
    assert by_id[target["submission_id"]]["score"] == 77
    # The download's feedback agrees with the final score; the grader's own grade is untouched.
    grader_score = f"{target['grader_score']:.0f}"
    assert by_id[target["submission_id"]]["feedback"].startswith(f"复核后得分 77/100（评分器 {grader_score}/100）。")
    assert all(a["question"] and a["answer"] for a in answers)
    with get_engine(clean_db.database_url).connect() as conn:
        stored = conn.execute(
            text("SELECT feedback FROM grades WHERE submission_id = :sid"), {"sid": target["submission_id"]}
        ).scalar_one()
    assert stored.startswith(f"得分 {grader_score}/100。")
