"""Fault-injection harness: real `grader` processes on the local Postgres and Redis, broken on purpose.

Each test module gets a throwaway Postgres database of its own (so terminating its backends touches
nothing else), each test a Celery queue of its own. Workers grade with the `hash` embedder: the subject
here is what happens to answers when processes die, not the model, and a fast engine keeps a
500-answer batch inside a minute on two cores. Sweeps run on a short deadline (`STUCK_AFTER`).

Each test prints one `RELIABILITY {...}` line with its figures (submitted, graded, lost, duplicated);
docs/RELIABILITY.md quotes them.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest

from grader.settings import Settings
from tests.reliability.harness import STUCK_AFTER, Stack, drop_queues
from tests.support.services import migrated_database


@pytest.fixture(scope="module")
def fault_db() -> Iterator[str]:
    """A database of this module's own: `grader_fault_<random>`, migrated, dropped afterwards."""
    with migrated_database("grader_fault") as url:
        yield url


@pytest.fixture
def stack(fault_db: str, redis_url: str, tmp_path: Path) -> Iterator[Stack]:
    settings = Settings(
        database_url=fault_db,
        redis_url=redis_url,
        celery_queue=f"grader-fault-{secrets.token_hex(4)}",
        embedder="hash",
        stuck_after_seconds=STUCK_AFTER,
    )
    s = Stack(settings, tmp_path)
    try:
        yield s
    finally:
        s.stop_all()
        drop_queues(redis_url, settings.celery_queue)
