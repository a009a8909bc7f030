"""Fixtures every suite shares: the throwaway Postgres database, Redis and its queue, the API in a thread,
a worker process, the real grader and a seeded set of graded results. Helpers they use live in tests/support/.

Settings validation refuses the placeholder secret whenever Redis or a database server is configured,
so the test session runs with a random secret of its own (subprocesses get it via `grader_env`)."""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator

import pytest
import redis

from grader.db.session import get_engine
from grader.grading.grader import Grader, build_grader
from grader.settings import Settings
from tests.support.processes import Process, grader_env, running_worker
from tests.support.seed import Seeded, seed_graded
from tests.support.services import (
    REDIS_DEFAULT,
    REDIS_TEST_DB,
    START_REDIS,
    Server,
    ServerThread,
    migrated_database,
    with_path,
)

os.environ.setdefault("GRADER_SECRET_KEY", "test-" + secrets.token_hex(32))
# Every test server shares 127.0.0.1, and in Redis mode one budget of unknown keys and sign-ins per
# address: the suite signs in and sends unknown keys on purpose far more often than a person would.
# tests/security/test_slow_bodies.py measures the real default budget on a server of its own.
os.environ.setdefault("GRADER_AUTH_FAILURES_BURST", "100000")


# --- the service's dependencies: Postgres, Redis, the API -------------------------------------------------
# Shared by every suite that runs the service for real; helpers in tests/support/services.py.


@pytest.fixture(scope="session")
def pg_url() -> Iterator[str]:
    """A fresh database `grader_test_<random>` for the test session, migrated once."""
    with migrated_database("grader_test") as url:
        yield url


@pytest.fixture(scope="session")
def redis_url() -> str:
    base = os.environ.get("GRADER_TEST_REDIS_URL", REDIS_DEFAULT)
    url = with_path(base, f"/{REDIS_TEST_DB}")
    try:
        redis.Redis.from_url(url, socket_connect_timeout=3).ping()
    except redis.RedisError as exc:
        pytest.fail(
            f"Redis is not reachable at {base} (GRADER_TEST_REDIS_URL): {exc}\n"
            f"The service tests need it; start it with:\n    {START_REDIS}",
            pytrace=False,
        )
    return url


@pytest.fixture(scope="session")
def queue_name(redis_url: str) -> Iterator[str]:
    """A Celery queue of this test session's own, deleted at the end."""
    name = f"grader-test-{secrets.token_hex(4)}"
    yield name
    client = redis.Redis.from_url(redis_url)
    for key in client.scan_iter(f"*{name}*"):
        client.delete(key)


@pytest.fixture(scope="session")
def pg_settings(pg_url: str, redis_url: str, queue_name: str) -> Settings:
    return Settings(database_url=pg_url, redis_url=redis_url, celery_queue=queue_name)


@pytest.fixture
def clean_db(pg_settings: Settings) -> Settings:
    """Empty the tables a test writes (questions and reference versions stay: they mirror the bank)."""
    with get_engine(pg_settings.database_url).begin() as conn:
        conn.exec_driver_sql(
            "TRUNCATE grades, submissions, audit_log, api_keys, result_day_stats, result_score_counts, "
            "interviews, webhook_endpoints, webhook_events "
            "RESTART IDENTITY CASCADE"
        )
    return pg_settings


@pytest.fixture(scope="module")
def api(pg_settings: Settings) -> Iterator[Server]:
    """The API in Redis mode against the test database; submissions go to this session's queue."""
    with ServerThread(pg_settings) as server:
        yield server


@pytest.fixture(scope="module")
def worker_env(pg_settings: Settings) -> dict[str, str]:
    """The environment `worker` runs with; a module that needs other settings overrides this fixture."""
    return grader_env(
        database_url=pg_settings.database_url,
        redis_url=pg_settings.redis_url,
        celery_queue=pg_settings.celery_queue,
    )


@pytest.fixture(scope="module")
def worker(worker_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> Iterator[Process]:
    """A real `grader worker` subprocess (Celery on the real Redis) consuming `worker_env`'s queues."""
    with running_worker(worker_env, tmp_path_factory.mktemp("worker")) as process:
        yield process


# --- the real grader ------------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def grader() -> Grader:
    """The real default embedder and reference bank, loaded once for the session."""
    return build_grader(Settings(database_url="sqlite://"))


@pytest.fixture
def seeded(clean_db: Settings, grader: Grader) -> Seeded:
    """Graded submissions in the test database, for the review and dashboard tests."""
    return seed_graded(clean_db, grader)
