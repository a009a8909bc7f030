"""Hostile-input and data-care tests: the service fixtures (throwaway Postgres database, Redis on its
own db number and queue, the API under uvicorn) shared with tests/service."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from service.conftest import (  # noqa: F401  (fixtures are found by name)
    Server,
    ServerThread,
    clean_db,
    make_key,
    pg_settings,
    pg_url,
    queue_name,
    redis_url,
    wait_until,
)

from grader.db.models import Role
from grader.settings import Settings


@dataclass
class Keys:
    recruiter: str
    other_recruiter: str
    reviewer: str
    admin: str


@pytest.fixture(scope="module")
def open_api(pg_settings: Settings) -> Iterator[Server]:  # noqa: F811
    """The API with the rate limit off, for tests that send many requests on purpose."""
    with ServerThread(pg_settings.model_copy(update={"rate_limit_per_second": 0})) as server:
        yield server


@pytest.fixture(scope="module")
def keys(pg_settings: Settings) -> Keys:  # noqa: F811
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
