"""API keys over real HTTP: missing, unknown and revoked keys, and what each role may do."""

from __future__ import annotations

import pytest

from grader.db.models import Role
from grader.settings import Settings
from tests.support.api import assert_error, body
from tests.support.services import Server, make_key

pytestmark = pytest.mark.services


@pytest.fixture
def recruiter(clean_db: Settings) -> str:
    return make_key(clean_db, Role.RECRUITER, "recruiter-a")


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
