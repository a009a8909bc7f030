"""Review tests run on the service tests' throwaway Postgres (tests/service/conftest.py) with the real
grader; they fail, never skip, when Postgres is not there."""

from __future__ import annotations

import pytest
from service.conftest import (  # noqa: F401  (fixtures are found by name)
    Server,
    api,
    clean_db,
    make_key,
    pg_settings,
    pg_url,
    queue_name,
    redis_url,
)

from grader.grading.grader import Grader, build_grader
from grader.settings import Settings

from .seed import Seeded, seed_graded


@pytest.fixture(scope="session")
def grader() -> Grader:
    return build_grader(Settings(database_url="sqlite://"))


@pytest.fixture
def seeded(clean_db: Settings, grader: Grader) -> Seeded:  # noqa: F811
    return seed_graded(clean_db, grader)
