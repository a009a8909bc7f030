"""`/api/v1/questions` over real HTTP."""

from __future__ import annotations

import pytest

from grader.db.models import Role
from grader.settings import Settings
from tests.support.services import Server, make_key

pytestmark = pytest.mark.services


@pytest.fixture
def recruiter(clean_db: Settings) -> str:
    return make_key(clean_db, Role.RECRUITER, "recruiter-a")


def test_questions_show_key_points_and_reference_version(api: Server, recruiter: str) -> None:
    with api.client(recruiter) as client:
        questions = client.get("/api/v1/questions").json()
        # Other tests may have published banks of their own into this database.
        assert [q["id"] for q in questions if q["bank"] == "llm"][:2] == ["q01", "q02"]
        q01 = client.get("/api/v1/questions/q01").json()
        assert q01["question"] and len(q01["reference_hash"]) == 16
        assert abs(sum(kp["weight"] for kp in q01["key_points"]) - 1.0) < 0.011
        assert all(kp["keywords"] for kp in q01["key_points"])
