"""Scorecards and the ranking over real HTTP and the real Postgres, graded by the real grader in-process."""

from __future__ import annotations

import uuid

import pytest

from grader.db.models import Role
from grader.db.session import get_session_factory
from grader.grading.grader import Grader
from grader.grading.run import run_chunk
from grader.settings import Settings
from tests.support.api import assert_error
from tests.support.seed import ANSWERS
from tests.support.services import Server, make_key

pytestmark = pytest.mark.services

GOOD = ANSWERS[0][2]  # a good q03 answer
WEAK = ANSWERS[1][2]  # a weak one


def twelve(candidate: str, *, weak: bool = False) -> dict[str, object]:
    text = WEAK if weak else GOOD
    answers = [{"question_id": f"q{i:02d}", "answer": f"{text}（第 {i} 题）"} for i in range(1, 13)]
    return {"candidate_id": candidate, "candidate_name": f"考生 {candidate}", "bank": "llm", "answers": answers}


def send(client, body: dict[str, object]) -> list[uuid.UUID]:
    response = client.post("/api/v1/interviews", json=body)
    assert response.status_code == 202, response.text
    return [uuid.UUID(s["id"]) for s in response.json()["submissions"]]


def grade(settings: Settings, grader: Grader, ids: list[uuid.UUID], review_below: float = 0.0) -> None:
    # review_below 0: nothing goes to review unless flagged; 1.01: everything waits for a reviewer.
    run_chunk(get_session_factory(settings.database_url), ids, lambda: grader, review_below)


@pytest.fixture
def keys(clean_db: Settings) -> dict[str, str]:
    return {
        "a": make_key(clean_db, Role.RECRUITER, "recruiter-a"),
        "b": make_key(clean_db, Role.RECRUITER, "recruiter-b"),
        "reviewer": make_key(clean_db, Role.REVIEWER, "reviewer"),
    }


def test_scorecard_lists_the_twelve_answers_and_a_review_changes_the_overall_score(
    api: Server, keys: dict[str, str], clean_db: Settings, grader: Grader
) -> None:
    with api.client(keys["a"]) as a:
        ids = send(a, twelve("c-1"))
        before = a.get("/api/v1/candidates/c-1").json()
        assert before["status"] == "grading" and before["overall_score"] is None and before["pending"] == 12
        assert {q["state"] for q in before["questions"]} == {"pending"}
        grade(clean_db, grader, ids)
        card = a.get("/api/v1/candidates/c-1").json()
    assert card["answered"] == 12 and len(card["questions"]) == 12
    in_review = [q for q in card["questions"] if q["state"] == "needs_review"]
    with api.client(keys["reviewer"]) as reviewer:
        for q in in_review:  # flagged answers wait for a person: settle them first
            reviewer.post(
                f"/api/v1/results/{q['submission_id']}/review", json={"final_score": q["grader_score"], "comment": "ok"}
            ).raise_for_status()
        with api.client(keys["a"]) as a:
            card = a.get("/api/v1/candidates/c-1").json()
        assert card["status"] == "complete"
        scores = [q["score"] for q in card["questions"]]
        assert card["overall_score"] == pytest.approx(sum(scores) / 12, abs=0.01)
        assert card["questions"][0]["question"] and not card["questions"][0]["question"].startswith("db-")
        assert card["strongest"] and card["weakest"] and 0 <= card["key_points_covered"] <= 1
        assert card["standing"] == {"rank": 1, "of": 1, "percentile": 100.0, "tied_with": 0}

        target = card["questions"][5]
        new = 100.0 if target["score"] < 50 else 0.0
        reviewer.post(
            f"/api/v1/results/{target['submission_id']}/review", json={"final_score": new, "comment": "人工复核"}
        ).raise_for_status()
    with api.client(keys["a"]) as a:
        after = a.get("/api/v1/candidates/c-1").json()
        by_interview = a.get(f"/api/v1/interviews/{card['interviews'][0]}").json()
    changed = after["questions"][5]
    assert changed["state"] == "reviewed" and changed["overridden"] and changed["reviewer_score"] == new
    assert changed["score"] == new and changed["grader_score"] == target["grader_score"]
    expected = (sum(scores) - target["score"] + new) / 12
    assert after["overall_score"] == pytest.approx(expected, abs=0.01)
    assert by_interview["overall_score"] == after["overall_score"]
    assert by_interview["interview_id"] == card["interviews"][0]


def test_another_recruiters_candidate_and_interview_are_404(
    api: Server, keys: dict[str, str], clean_db: Settings
) -> None:
    with api.client(keys["a"]) as a:
        interview = a.post("/api/v1/interviews", json=twelve("c-secret")).json()["id"]
    with api.client(keys["b"]) as b:
        assert_error(b.get("/api/v1/candidates/c-secret"), 404, "candidate_not_found")
        assert_error(b.get(f"/api/v1/interviews/{interview}"), 404, "interview_not_found")
        assert b.get("/api/v1/candidates").json()["total"] == 0
    with api.client(keys["reviewer"]) as reviewer:
        assert reviewer.get("/api/v1/candidates/c-secret").status_code == 200


def test_ranking_shares_ranks_on_ties_and_shows_unfinished_candidates_as_such(
    api: Server, keys: dict[str, str], clean_db: Settings, grader: Grader
) -> None:
    with api.client(keys["a"]) as a:
        good1 = send(a, twelve("good-1"))
        good2 = send(a, twelve("good-2"))  # the same answers: the same scores
        weak = send(a, twelve("weak", weak=True))
        waiting = send(a, twelve("waiting"))
        reviewing = send(a, twelve("reviewing"))
        grade(clean_db, grader, good1 + good2 + weak)
        grade(clean_db, grader, reviewing, review_below=1.01)
        del waiting  # never graded: still pending
        # Flagged answers of the finished ones would keep them in review: settle them as graded.
        with api.client(keys["reviewer"]) as reviewer:
            for cid in ("good-1", "good-2", "weak"):
                for q in a.get(f"/api/v1/candidates/{cid}").json()["questions"]:
                    if q["state"] == "needs_review":
                        reviewer.post(
                            f"/api/v1/results/{q['submission_id']}/review",
                            json={"final_score": q["grader_score"], "comment": "ok"},
                        ).raise_for_status()
        page = a.get("/api/v1/candidates", params={"bank": "llm", "sort": "score"}).json()
        second = a.get("/api/v1/candidates", params={"limit": 2, "offset": 2}).json()
        only_review = a.get("/api/v1/candidates", params={"status": "in_review"}).json()
        other_bank = a.get("/api/v1/candidates", params={"bank": "ads"}).json()
    items = {c["candidate_id"]: c for c in page["items"]}
    assert page["total"] == 5
    assert [c["candidate_id"] for c in page["items"][:3]] == ["good-1", "good-2", "weak"]
    assert items["good-1"]["rank"] == items["good-2"]["rank"] == 1 and items["good-1"]["tied"]
    assert items["weak"]["rank"] == 3 and not items["weak"]["tied"]
    assert items["good-1"]["score"] > items["weak"]["score"]
    assert items["waiting"]["status"] == "grading" and items["waiting"]["score"] is None
    assert items["waiting"]["rank"] is None and items["waiting"]["partial_score"] is None
    assert items["reviewing"]["status"] == "in_review" and items["reviewing"]["score"] is None
    assert items["reviewing"]["partial_score"] is not None and items["reviewing"]["in_review"] == 12
    assert [c["candidate_id"] for c in second["items"]] == [c["candidate_id"] for c in page["items"][2:4]]
    assert [c["candidate_id"] for c in only_review["items"]] == ["reviewing"] and only_review["total"] == 1
    assert other_bank["total"] == 0
    with api.client(keys["a"]) as a:
        card = a.get("/api/v1/candidates/weak").json()
    assert card["standing"]["rank"] == 3 and card["standing"]["of"] == 3
    assert card["standing"]["percentile"] == pytest.approx(33.3, abs=0.1)
