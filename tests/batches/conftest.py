"""The worker process for the batch tests. The Postgres database, Redis, queue and API server are the
shared fixtures of tests/conftest.py; the worker is started with the same `Process` helper."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from grader.db.models import Role
from grader.settings import Settings
from tests.support.processes import Process, grader_env, running_worker
from tests.support.services import Server, make_key


@pytest.fixture(scope="module")
def worker_env(pg_settings: Settings) -> dict[str, str]:
    return grader_env(
        database_url=pg_settings.database_url,
        redis_url=pg_settings.redis_url,
        celery_queue=pg_settings.celery_queue,
    )


@pytest.fixture(scope="module")
def worker(worker_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> Iterator[Process]:
    """A real `grader worker` subprocess consuming this session's interactive and batch queues."""
    tmp = tmp_path_factory.mktemp("batch-worker")
    with running_worker(worker_env, tmp) as process:
        yield process


@pytest.fixture(scope="module")
def recruiter(api: Server) -> str:
    return make_key(api.settings, Role.RECRUITER, "batch-recruiter")
