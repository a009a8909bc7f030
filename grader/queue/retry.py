"""The retry policy of every Celery task, written once: database errors (Postgres restarting, a dropped
connection) are retried with exponential backoff, up to `MAX_RETRIES`; then the task gives up in its
own way (fail the submission, or leave a chunk to the sweeps). Any other error propagates."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, TypeVar

from sqlalchemy.exc import DBAPIError

log = logging.getLogger(__name__)

MAX_RETRIES = 5
T = TypeVar("T")


def backoff(retries: int) -> int:
    return int(min(2 ** (retries + 1), 60))


def with_retries(task: Any, run: Callable[[bool], T], give_up: Callable[[DBAPIError], T], what: str) -> T:
    """Run a use case for a bound Celery task. `run` gets whether this is a retry (a retry after a
    database error is not charged as a grading attempt: see `grader.grading.record.claim`)."""
    retries: int = task.request.retries
    try:
        return run(retries > 0)
    except DBAPIError as exc:
        if retries >= MAX_RETRIES:
            return give_up(exc)
        log.warning("database error %s, retry %d: %s", what, retries + 1, exc)
        raise task.retry(exc=exc, countdown=backoff(retries)) from exc
