"""Building the one queue backend an API process uses, once, in the app's lifespan."""

from __future__ import annotations

from datetime import timedelta

from grader.db.session import SessionFactory
from grader.queue.port import QueueBackend
from grader.settings import Settings


def build_queue(settings: Settings, sessions: SessionFactory) -> QueueBackend:
    """Embedded (no GRADER_REDIS_URL): a grading thread in this process. Otherwise Celery workers."""
    if settings.embedded:
        from grader.grading.grader import LazyGrader
        from grader.queue.embedded import EmbeddedQueue

        return EmbeddedQueue(
            sessions,
            LazyGrader(settings),
            review_confidence_below=settings.review_confidence_below,
            stuck_after=timedelta(seconds=settings.stuck_after_seconds),
            # Also hands on work whose lease ran out (a grading run that died with this process's thread).
            sweep_every=max(min(settings.stuck_after_seconds / 2, settings.lease_sweep_seconds), 1),
        )
    from grader.queue.celery_queue import CeleryQueue

    return CeleryQueue.for_api(settings)
