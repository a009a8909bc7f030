"""Embedded mode: with no GRADER_REDIS_URL, one background thread in the API process grades what the API
accepts, through the same `service.run_grading` the Celery worker runs, and sweeps stuck submissions
(including those left pending by a previous run of the process) on the same schedule beat would."""

from __future__ import annotations

import logging
import queue
import threading
import uuid
from collections.abc import Callable
from datetime import timedelta
from typing import TYPE_CHECKING

from grader import service
from grader.db.session import SessionFactory, session_scope

if TYPE_CHECKING:
    from grader.grading import Grader

log = logging.getLogger(__name__)

_STOP = object()


class EmbeddedWorker:
    def __init__(self, factory: SessionFactory, grader: Callable[[], Grader], *,
                 review_confidence_below: float, stuck_after: timedelta,
                 sweep_every: float | None = None) -> None:
        self._factory = factory
        self._grader = grader
        self._review_below = review_confidence_below
        self._stuck_after = stuck_after
        default_every = max(stuck_after.total_seconds() / 2, 1)
        self._sweep_every = sweep_every if sweep_every is not None else default_every
        self._queue: queue.Queue[object] = queue.Queue()
        self._thread = threading.Thread(target=self._run, name="grader-embedded-worker", daemon=True)

    def enqueue(self, submission_id: uuid.UUID) -> None:
        self._queue.put(submission_id)

    def queue_size(self) -> int:
        return self._queue.qsize()

    def start(self) -> None:
        self._thread.start()
        # Whatever a previous process accepted but never graded: nothing else is working on it.
        self._sweep(timedelta(0))

    def stop(self, timeout: float = 30) -> None:
        self._queue.put(_STOP)
        self._thread.join(timeout)

    def _sweep(self, stuck_after: timedelta) -> None:
        try:
            with session_scope(self._factory) as session:
                service.sweep_stuck(session, self, stuck_after=stuck_after)
        except Exception:
            log.exception("embedded sweep failed")

    def _run(self) -> None:
        while True:
            try:
                item = self._queue.get(timeout=self._sweep_every)
            except queue.Empty:
                self._sweep(self._stuck_after)
                continue
            if item is _STOP:
                return
            assert isinstance(item, uuid.UUID)
            try:
                service.run_grading(self._factory, item, self._grader, self._review_below)
            except Exception:
                # Left pending/running: the periodic sweep hands it back to this thread later.
                log.exception("embedded grading of %s failed", item)
