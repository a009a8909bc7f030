"""The batch tests' recruiter key. The Postgres database, Redis, queue, API server and worker are the
shared fixtures of tests/conftest.py."""

from __future__ import annotations

import pytest

from grader.db.models import Role
from tests.support.services import Server, make_key


@pytest.fixture(scope="module")
def recruiter(api: Server) -> str:
    return make_key(api.settings, Role.RECRUITER, "batch-recruiter")
