"""Grading durations: how long the engine took per answer, recorded by whichever process graded.

Workers are other processes (and other machines), so each records into a Redis hash of histogram buckets
that the API reads when scraped (`grader.web.prometheus`); in embedded mode the grading thread records in
this process.
"""

from __future__ import annotations

import logging
import threading
from typing import Protocol

log = logging.getLogger(__name__)

GRADING_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0)


class DurationRecorder(Protocol):
    def observe(self, seconds: float, count: int = 1) -> None:
        """`count` answers that took `seconds` each."""
        ...

    def snapshot(self) -> tuple[list[int], float, int]:
        """Cumulative-free bucket counts (one per bound plus +Inf), sum, count."""
        ...


class MemoryDurations:
    """Grading durations of this process (embedded mode)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._buckets = [0] * (len(GRADING_BUCKETS) + 1)
        self._sum = 0.0
        self._count = 0

    def observe(self, seconds: float, count: int = 1) -> None:
        with self._lock:
            self._buckets[_bucket(seconds)] += count
            self._sum += seconds * count
            self._count += count

    def snapshot(self) -> tuple[list[int], float, int]:
        with self._lock:
            return list(self._buckets), self._sum, self._count


class RedisDurations:
    """Grading durations of every worker sharing this Redis and queue name: one hash, HINCRBY per answer."""

    def __init__(self, redis_url: str, queue: str) -> None:
        import redis

        self._client = redis.Redis.from_url(redis_url, socket_timeout=1, socket_connect_timeout=1)
        self._key = f"grader:metrics:{queue}:grading_seconds"

    def observe(self, seconds: float, count: int = 1) -> None:
        try:
            pipe = self._client.pipeline(transaction=False)
            pipe.hincrby(self._key, f"b{_bucket(seconds)}", count)
            pipe.hincrbyfloat(self._key, "sum", seconds * count)
            pipe.hincrby(self._key, "count", count)
            pipe.execute()
        except Exception as exc:  # metrics never fail a grade
            log.warning("could not record grading duration in Redis: %s", type(exc).__name__)

    def snapshot(self) -> tuple[list[int], float, int]:
        raw: dict[bytes, bytes] = self._client.hgetall(self._key)  # type: ignore[assignment]
        values = {k.decode(): v.decode() for k, v in raw.items()}
        buckets = [int(values.get(f"b{i}", 0)) for i in range(len(GRADING_BUCKETS) + 1)]
        return buckets, float(values.get("sum", 0.0)), int(values.get("count", 0))


def _bucket(seconds: float) -> int:
    for i, bound in enumerate(GRADING_BUCKETS):
        if seconds <= bound:
            return i
    return len(GRADING_BUCKETS)


# Where this process records: memory by default (embedded mode, tests); a Celery worker switches to Redis
# when it starts (`grader.queue.tasks`), so the API can report what every worker measured.
_recorder: DurationRecorder = MemoryDurations()


def set_recorder(recorder: DurationRecorder) -> None:
    global _recorder
    _recorder = recorder


def current_recorder() -> DurationRecorder:
    return _recorder


def record_grading(seconds: float) -> None:
    """Called after each engine run, in whichever process graded."""
    _recorder.observe(seconds)


def record_grading_many(seconds: float, count: int) -> None:
    """`count` answers graded together in `seconds`: each is recorded at the mean, in one update."""
    if count > 0:
        _recorder.observe(seconds / count, count)
