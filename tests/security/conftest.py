"""Hostile-input and data-care tests: on the shared service fixtures of tests/conftest.py (throwaway
Postgres database, Redis on its own db number and queue), an API with the rate limit off and a key per
role."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from grader.db.models import Role
from grader.settings import Settings
from tests.support.services import Keys, Server, ServerThread, make_key


@pytest.fixture(scope="module")
def open_api(pg_settings: Settings) -> Iterator[Server]:
    """The API with the rate limit off, for tests that send many requests on purpose."""
    with ServerThread(pg_settings.model_copy(update={"rate_limit_per_second": 0})) as server:
        yield server


@pytest.fixture(scope="module")
def keys(pg_settings: Settings) -> Keys:
    return Keys(
        *(
            make_key(pg_settings, role, name)
            for role, name in (
                (Role.RECRUITER, "sec-recruiter"),
                (Role.RECRUITER, "sec-other-recruiter"),
                (Role.REVIEWER, "sec-reviewer"),
                (Role.ADMIN, "sec-admin"),
            )
        )
    )
