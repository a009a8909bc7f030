"""Celery tasks: ids in, one service call, nothing else.

Database errors (Postgres restarting, a dropped connection) are retried with exponential backoff; after
the last retry the submission is marked `failed` with the reason. The engine and session factory are
created on first use inside each worker process, after the fork.
"""

from __future__ import annotations

import logging
import uuid
from datetime import timedelta
from functools import lru_cache
from typing import Any

from sqlalchemy.exc import DBAPIError

from grader import metrics, service
from grader.db.session import SessionFactory, get_session_factory, session_scope
from grader.errors import SubmissionNotFound
from grader.settings import get_settings
from grader.worker.celery_app import GRADE_TASK, SWEEP_TASK, CeleryDispatcher, app

log = logging.getLogger(__name__)

MAX_RETRIES = 5


@lru_cache(maxsize=1)
def _sessions() -> SessionFactory:
    settings = get_settings()
    # Once per worker process, after the fork: grading durations go to Redis, where /metrics reads them.
    if settings.redis_url is not None:
        metrics.set_recorder(metrics.RedisDurations(settings.redis_url, settings.celery_queue))
    return get_session_factory(settings.database_url)


def backoff(retries: int) -> int:
    return int(min(2 ** (retries + 1), 60))


@app.task(name=GRADE_TASK, bind=True, max_retries=MAX_RETRIES)  # type: ignore[untyped-decorator]
def grade_submission(self: Any, submission_id: str) -> None:
    from grader.grading import get_grader

    settings = get_settings()
    try:
        service.run_grading(_sessions(), uuid.UUID(submission_id), get_grader,
                            settings.review_confidence_below, retry=self.request.retries > 0)
    except SubmissionNotFound:
        log.warning("submission %s does not exist; dropping the task", submission_id)
    except DBAPIError as exc:
        if self.request.retries >= MAX_RETRIES:
            _give_up(submission_id, exc)
            return
        log.warning("database error grading %s, retry %d: %s", submission_id, self.request.retries + 1, exc)
        raise self.retry(exc=exc, countdown=backoff(self.request.retries)) from exc


def _give_up(submission_id: str, exc: Exception) -> None:
    reason = f"database error after {MAX_RETRIES} retries: {type(exc).__name__}: {exc}"[:2000]
    try:
        with session_scope(_sessions()) as session:
            service.fail(session, uuid.UUID(submission_id), reason)
    except Exception:
        # The database is still away; the sweep fails or re-enqueues the submission when it is back.
        log.exception("could not mark submission %s failed", submission_id)


@app.task(name=SWEEP_TASK)  # type: ignore[untyped-decorator]
def sweep_stuck() -> dict[str, int]:
    settings = get_settings()
    with session_scope(_sessions()) as session:
        result = service.sweep_stuck(session, CeleryDispatcher(app),
                                     stuck_after=timedelta(seconds=settings.stuck_after_seconds))
    if result.requeued or result.failed:
        log.info("sweep: requeued %d, failed %d", len(result.requeued), len(result.failed))
    return {"requeued": len(result.requeued), "failed": len(result.failed)}
