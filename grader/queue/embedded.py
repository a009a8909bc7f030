"""The embedded queue: with no GRADER_REDIS_URL, one background thread in the API process grades what
the API accepts, through the same runs a Celery worker calls (`run_grading` for a submission,
`run_chunk` for a batch chunk), and runs both sweeps (stuck submissions, stalled batches) on the
schedule beat would, starting with whatever a previous run of the process left pending.

Like the worker, it takes interactive submissions before batch chunks.
"""

from __future__ import annotations

import itertools
import logging
import queue
import threading
import uuid
from collections.abc import Callable, Sequence
from datetime import timedelta
from typing import TYPE_CHECKING

from grader.batches.sweep import sweep_batches
from grader.db.base import utcnow
from grader.db.session import SessionFactory, session_scope
from grader.grading.run import run_chunk, run_grading
from grader.grading.sweep import sweep_stuck

if TYPE_CHECKING:
    from grader.grading.grader import Grader

log = logging.getLogger(__name__)

# Lower first: interactive submissions, then batch chunks, then the stop signal (after what is queued).
_INTERACTIVE, _CHUNK, _STOP = 0, 1, 2
# A submission id, a (batch id, submission ids) chunk, or None for the stop signal.
_Work = uuid.UUID | tuple[uuid.UUID, list[uuid.UUID]] | None


class EmbeddedQueue:
    def __init__(
        self,
        factory: SessionFactory,
        grader: Callable[[], Grader],
        *,
        review_confidence_below: float,
        stuck_after: timedelta,
        sweep_every: float | None = None,
    ) -> None:
        self._factory = factory
        self._grader = grader
        self._review_below = review_confidence_below
        self._stuck_after = stuck_after
        default_every = max(stuck_after.total_seconds() / 2, 1)
        self._sweep_every = sweep_every if sweep_every is not None else default_every
        # (priority, arrival order, work): the arrival order keeps each priority first in, first out.
        self._queue: queue.PriorityQueue[tuple[int, int, _Work]] = queue.PriorityQueue()
        self._arrivals = itertools.count()
        self._thread = threading.Thread(target=self._run, name="grader-embedded-worker", daemon=True)

    def enqueue(self, submission_id: uuid.UUID) -> None:
        self._queue.put((_INTERACTIVE, next(self._arrivals), submission_id))

    def enqueue_chunk(self, batch_id: uuid.UUID, submission_ids: Sequence[uuid.UUID]) -> None:
        self._queue.put((_CHUNK, next(self._arrivals), (batch_id, list(submission_ids))))

    def depths(self) -> dict[str, int]:
        return {"embedded": self._queue.qsize()}

    def check(self) -> tuple[bool, str]:
        return True, "embedded mode: grading in this process, no broker"

    def start(self) -> None:
        self._thread.start()
        # Whatever a previous process accepted but never graded: nothing else is working on it.
        self._sweep(timedelta(0))

    def stop(self, timeout: float = 30) -> None:
        self._queue.put((_STOP, next(self._arrivals), None))
        self._thread.join(timeout)

    def _sweep(self, stuck_after: timedelta) -> None:
        # One clock for both sweeps: the batch answers the first re-queues are not also re-queued one by one.
        now = utcnow()
        try:
            with session_scope(self._factory) as session:
                sweep_batches(session, self, stuck_after=stuck_after, now=now)
        except Exception:
            log.exception("embedded batch sweep failed")
        try:
            with session_scope(self._factory) as session:
                sweep_stuck(session, self, stuck_after=stuck_after, now=now)
        except Exception:
            log.exception("embedded sweep failed")

    def _run(self) -> None:
        while True:
            try:
                _, _, work = self._queue.get(timeout=self._sweep_every)
            except queue.Empty:
                self._sweep(self._stuck_after)
                continue
            if work is None:
                return
            try:
                if isinstance(work, uuid.UUID):
                    run_grading(self._factory, work, self._grader, self._review_below)
                else:
                    batch_id, ids = work
                    counts = run_chunk(self._factory, ids, self._grader, self._review_below)
                    log.info("batch %s: chunk of %d done %s", batch_id, len(ids), counts)
            except Exception:
                # Left pending/running: the periodic sweeps hand it back to this thread later.
                log.exception("embedded grading of %s failed", work)
