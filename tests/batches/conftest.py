"""Service fixtures for the batch tests. The Postgres database, Redis, queue and API server are the
service tests' own fixtures (tests/service/conftest.py), imported so both suites run the same way;
only the worker process is started here, with the same `Process` helper."""

from __future__ import annotations

from collections.abc import Iterator

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
    wait_until,
)
from service.processes import Process, grader_env

from grader.db.models import Role
from grader.settings import Settings


@pytest.fixture(scope="module")
def worker_env(pg_settings: Settings) -> dict[str, str]:  # noqa: F811
    return grader_env(
        database_url=pg_settings.database_url,
        redis_url=pg_settings.redis_url,
        celery_queue=pg_settings.celery_queue,
    )


@pytest.fixture(scope="module")
def worker(worker_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> Iterator[Process]:
    """A real `grader worker` subprocess consuming this session's interactive and batch queues."""
    tmp = tmp_path_factory.mktemp("batch-worker")
    process = Process(["worker", "--concurrency", "1", "--log-level", "info"], worker_env, tmp / "worker.log", tmp)
    try:
        process.wait_for("ready.", timeout=60)
        yield process
    finally:
        process.stop()


@pytest.fixture(scope="module")
def recruiter(api: Server) -> str:  # noqa: F811
    return make_key(api.settings, Role.RECRUITER, "batch-recruiter")
