"""The app as a whole over real HTTP: liveness, readiness and the error shape of unknown routes."""

from __future__ import annotations

import pytest

from grader.db.models import Role
from grader.settings import Settings
from tests.support.api import assert_error
from tests.support.services import Server, make_key

pytestmark = pytest.mark.services


@pytest.fixture
def recruiter(clean_db: Settings) -> str:
    return make_key(clean_db, Role.RECRUITER, "recruiter-a")


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
