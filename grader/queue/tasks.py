"""Celery tasks: ids in, one use case wrapped in the retry policy (`grader.queue.retry`), nothing else.

The session factory is created on first use inside each pool process, after the fork; the grader (model)
is loaded once in the main process before the pool forks (`grader.queue.celery_app`) and inherited.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Sequence
from datetime import timedelta
from functools import lru_cache
from typing import Any

import redis
from sqlalchemy.exc import DBAPIError

from grader.batches.sweep import sweep_batches as sweep_batches_use_case
from grader.batches.uploads import CHUNK_SIZE
from grader.db.session import SessionFactory, get_session_factory, session_scope
from grader.grading import durations
from grader.grading.record import fail
from grader.grading.run import run_chunk
from grader.grading.sweep import sweep_stuck as sweep_stuck_use_case
from grader.queue.celery_app import (
    BATCH_CHUNK_TASK,
    BATCH_SWEEP_TASK,
    GRADE_TASK,
    SWEEP_TASK,
    WEBHOOK_DELIVER_TASK,
    WEBHOOK_DISPATCH_TASK,
    app,
    webhook_queue,
)
from grader.queue.celery_queue import CeleryQueue
from grader.queue.retry import MAX_RETRIES, with_retries
from grader.settings import Settings, get_settings
from grader.webhooks.delivery import Policy, deliver, dispatch_due

log = logging.getLogger(__name__)


@lru_cache(maxsize=1)
def _sessions() -> SessionFactory:
    settings = get_settings()
    # Once per worker process, after the fork: grading durations go to Redis, where /metrics reads them.
    if settings.redis_url is not None:
        durations.set_recorder(durations.RedisDurations(settings.redis_url, settings.celery_queue))
    return get_session_factory(settings.database_url)


@app.task(name=GRADE_TASK, bind=True, max_retries=MAX_RETRIES)  # type: ignore[untyped-decorator]
def grade_submission(self: Any, submission_id: str) -> None:
    from grader.grading.grader import get_grader  # in the pool process, after the fork (see grading.run)

    settings = get_settings()

    primary = uuid.UUID(submission_id)
    # The answers waiting behind this one are graded with it (`grader.grading.gather`): one claim, one
    # engine call, one commit. Once they are claimed their messages are taken off the queue: left there,
    # they would each become a task of its own that finds its answer graded, and the next task's window
    # would be those same answers shifted by one message, with about one new answer in it.
    waiting: dict[uuid.UUID, list[str]] = {}
    for sid, raw in _waiting(CHUNK_SIZE - 1):
        waiting.setdefault(sid, []).append(raw)
    ids = [primary, *(sid for sid in waiting if sid != primary)]

    def take(claimed: Sequence[uuid.UUID]) -> None:
        raws = [raw for sid in claimed for raw in waiting.get(sid, ())]
        if not raws:
            return
        try:
            taken = _queue().take(raws)
        except redis.RedisError as exc:  # their messages come up later and find them graded
            log.warning("could not take the gathered answers' messages off the queue: %s", type(exc).__name__)
            return
        log.info("took %d of %d gathered answers' messages off the queue", taken, len(raws))

    def run(retry: bool) -> None:
        counts = run_chunk(
            _sessions(),
            ids,
            get_grader,
            settings.review_confidence_below,
            retry=retry,
            lease_seconds=settings.lease_seconds,
            leave_leased=True,
            on_claimed=take,
        )
        if len(ids) > 1:
            log.info("graded %d waiting answers together with %s: %s", len(ids), submission_id, counts)

    with_retries(self, run, lambda exc: _give_up(submission_id, exc), f"grading {submission_id}")


def _waiting(limit: int) -> list[tuple[uuid.UUID, str]]:
    try:
        return _queue().waiting_messages(limit)
    except redis.RedisError as exc:  # grading this one alone is still right
        log.warning("could not read the waiting answers: %s", type(exc).__name__)
        return []


@lru_cache(maxsize=1)
def _queue() -> CeleryQueue:
    return CeleryQueue(app, get_settings())


def _give_up(submission_id: str, exc: DBAPIError) -> None:
    reason = f"database error after {MAX_RETRIES} retries: {type(exc).__name__}: {exc}"[:2000]
    try:
        with session_scope(_sessions()) as session:
            fail(session, uuid.UUID(submission_id), reason)
    except Exception:
        # The database is still away; the sweep fails or re-enqueues the submission when it is back.
        log.exception("could not mark submission %s failed", submission_id)


@app.task(name=BATCH_CHUNK_TASK, bind=True, max_retries=MAX_RETRIES)  # type: ignore[untyped-decorator]
def grade_batch_chunk(self: Any, batch_id: str, submission_ids: list[str]) -> dict[str, int] | None:
    from grader.grading.grader import get_grader  # in the pool process, after the fork (see grading.run)

    settings = get_settings()

    def run(retry: bool) -> dict[str, int] | None:
        return run_chunk(
            _sessions(),
            [uuid.UUID(s) for s in submission_ids],
            get_grader,
            settings.review_confidence_below,
            retry=retry,
            lease_seconds=settings.lease_seconds,
        )

    def give_up(exc: DBAPIError) -> None:
        # Its still-open submissions are left to the sweeps, which re-queue them (and fail those out of
        # attempts).
        log.error(
            "batch %s: chunk of %d left to the sweep after %d retries: %s",
            batch_id,
            len(submission_ids),
            MAX_RETRIES,
            exc,
        )
        return None

    counts = with_retries(self, run, give_up, f"grading a chunk of batch {batch_id}")
    if counts is not None:
        log.info("batch %s: chunk of %d done %s", batch_id, len(submission_ids), counts)
    return counts


@app.task(name=SWEEP_TASK)  # type: ignore[untyped-decorator]
def sweep_stuck() -> dict[str, int]:
    settings = get_settings()
    with session_scope(_sessions()) as session:
        result = sweep_stuck_use_case(
            session, CeleryQueue(app, settings), stuck_after=timedelta(seconds=settings.stuck_after_seconds)
        )
    if result.requeued or result.failed:
        log.info("sweep: requeued %d, failed %d", len(result.requeued), len(result.failed))
    return {"requeued": len(result.requeued), "failed": len(result.failed)}


@app.task(name=BATCH_SWEEP_TASK)  # type: ignore[untyped-decorator]
def sweep_batches() -> dict[str, int]:
    settings = get_settings()
    with session_scope(_sessions()) as session:
        result = sweep_batches_use_case(
            session, CeleryQueue(app, settings), stuck_after=timedelta(seconds=settings.stuck_after_seconds)
        )
    if result.redispatched:
        log.warning("batch sweep: re-dispatched %d stalled answers", result.redispatched)
    return {"kept_alive": result.kept_alive, "redispatched": result.redispatched}


def _webhook_policy(settings: Settings) -> Policy:
    return Policy(
        retry_seconds=settings.webhook_retry_seconds,
        timeout_seconds=settings.webhook_timeout_seconds,
        allow_private=settings.webhook_allow_private,
    )


@app.task(name=WEBHOOK_DISPATCH_TASK)  # type: ignore[untyped-decorator]
def dispatch_webhooks() -> int:
    """On beat: hand every due delivery (new, or its retry's time has come) to the webhooks queue."""
    settings = get_settings()
    with session_scope(_sessions()) as session:
        ids = dispatch_due(session, _webhook_policy(settings).lease)
    for delivery_id in ids:  # after the commit: a delivery task never reads a claim that is not there yet
        deliver_webhook.apply_async(args=[delivery_id], queue=webhook_queue(settings))
    return len(ids)


@app.task(name=WEBHOOK_DELIVER_TASK)  # type: ignore[untyped-decorator]
def deliver_webhook(delivery_id: int) -> str:
    # A database error leaves the delivery pending; the dispatcher hands it out again after its lease.
    outcome = deliver(_sessions(), delivery_id, _webhook_policy(get_settings()))
    log.info("webhook delivery %s: %s", delivery_id, outcome)
    return outcome
