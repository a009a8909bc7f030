"""Celery tasks for batches: ids in, one call into `grader.batches.service`, nothing else.

A chunk is retried with backoff on database errors, like `grade_submission`; after the last retry its
still-open submissions are left to the sweeps, which re-dispatch them (and fail those out of attempts).
"""

from __future__ import annotations

import logging
import uuid
from datetime import timedelta
from typing import Any

from sqlalchemy.exc import DBAPIError

from grader.batches import service as batches
from grader.db.session import session_scope
from grader.settings import get_settings
from grader.worker.celery_app import BATCH_CHUNK_TASK, BATCH_SWEEP_TASK, app, batch_queue
from grader.worker.tasks import MAX_RETRIES, _sessions, backoff

log = logging.getLogger(__name__)


@app.task(name=BATCH_CHUNK_TASK, bind=True, max_retries=MAX_RETRIES)  # type: ignore[untyped-decorator]
def grade_batch_chunk(self: Any, batch_id: str, submission_ids: list[str]) -> dict[str, int] | None:
    from grader.grading import get_grader

    settings = get_settings()
    try:
        counts = batches.run_chunk(_sessions(), [uuid.UUID(s) for s in submission_ids], get_grader,
                                   settings.review_confidence_below, retry=self.request.retries > 0)
    except DBAPIError as exc:
        if self.request.retries >= MAX_RETRIES:
            log.error("batch %s: chunk of %d left to the sweep after %d retries: %s", batch_id,
                      len(submission_ids), MAX_RETRIES, exc)
            return None
        raise self.retry(exc=exc, countdown=backoff(self.request.retries)) from exc
    log.info("batch %s: chunk of %d done %s", batch_id, len(submission_ids), counts)
    return counts


@app.task(name=BATCH_SWEEP_TASK)  # type: ignore[untyped-decorator]
def sweep_batches() -> dict[str, int]:
    settings = get_settings()
    dispatcher = batches.CeleryBatchDispatcher(app, batch_queue(settings))
    with session_scope(_sessions()) as session:
        result = batches.sweep_batches(session, dispatcher,
                                       stuck_after=timedelta(seconds=settings.stuck_after_seconds))
    if result.redispatched:
        log.warning("batch sweep: re-dispatched %d stalled answers", result.redispatched)
    return {"kept_alive": result.kept_alive, "redispatched": result.redispatched}
