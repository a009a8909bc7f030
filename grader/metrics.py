"""`/metrics` in the Prometheus text format.

- `grader_http_request_duration_seconds{method,route,status}`: request latency, measured in the API.
- `grader_queue_depth{queue}`: messages waiting on the broker (Redis list length of the interactive
  and batch queues), or in the embedded grading thread's queue.
- `grader_submissions{status}`: submissions by status, counted in the database at scrape time, so every
  API process reports the same exact figures whichever worker graded them.
- `grader_grading_duration_seconds`: time the engine took per answer (a batch chunk, graded in one
  engine call, records its mean once per answer). Workers are other processes (and
  other machines), so each records into a Redis hash of histogram buckets that the API reads when
  scraped; in embedded mode the grading thread records in this process.

Scraping needs no key: the figures are counts and timings, never ids, names or answers.
"""

from __future__ import annotations

import logging
import math
import threading
from collections.abc import Callable, Iterable, Iterator
from typing import Any, Protocol

from prometheus_client import CollectorRegistry, Histogram
from prometheus_client.core import GaugeMetricFamily, HistogramMetricFamily
from prometheus_client.registry import Collector

log = logging.getLogger(__name__)

GRADING_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0)
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


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
# when it starts (`grader.worker.tasks`), so the API can report what every worker measured.
_recorder: DurationRecorder = MemoryDurations()


def set_recorder(recorder: DurationRecorder) -> None:
    global _recorder
    _recorder = recorder


def current_recorder() -> DurationRecorder:
    return _recorder


def record_grading(seconds: float) -> None:
    """Called by the service after each engine run, in whichever process graded."""
    _recorder.observe(seconds)


def record_grading_many(seconds: float, count: int) -> None:
    """`count` answers graded together in `seconds`: each is recorded at the mean, in one update."""
    if count > 0:
        _recorder.observe(seconds / count, count)


class GraderCollector(Collector):
    """Figures read at scrape time: queue depth, submissions by status, grading durations."""

    def __init__(self, queue_depths: Callable[[], dict[str, int]], status_counts: Callable[[], dict[str, int]],
                 durations: DurationRecorder) -> None:
        self._queue_depths = queue_depths
        self._status_counts = status_counts
        self._durations = durations

    def collect(self) -> Iterator[Any]:
        depth = GaugeMetricFamily("grader_queue_depth", "Grading jobs waiting to be taken by a worker",
                                  labels=["queue"])
        for queue, value in _safely(self._queue_depths, "queue depth").items():
            depth.add_metric([queue], value)
        yield depth
        by_status = GaugeMetricFamily("grader_submissions", "Submissions by status (from the database)",
                                      labels=["status"])
        for status, value in _safely(self._status_counts, "submission counts").items():
            by_status.add_metric([status], value)
        yield by_status
        try:
            buckets, total, _count = self._durations.snapshot()
        except Exception as exc:
            log.warning("grading durations unavailable: %s", type(exc).__name__)
            buckets, total = [0] * (len(GRADING_BUCKETS) + 1), 0.0
        cumulative, running = [], 0
        for bound, n in zip([*map(str, GRADING_BUCKETS), "+Inf"], buckets, strict=True):
            running += n
            cumulative.append((bound, running))
        histogram = HistogramMetricFamily("grader_grading_duration_seconds",
                                          "Engine time per graded answer (all workers)")
        histogram.add_metric([], cumulative, sum_value=total if math.isfinite(total) else 0.0)
        yield histogram


def _safely(read: Callable[[], dict[str, int]], what: str) -> dict[str, int]:
    try:
        return read()
    except Exception as exc:
        # A scrape during an outage still answers: the figure is missing, the endpoint is not a 500.
        log.warning("metrics: %s unavailable: %s", what, type(exc).__name__)
        return {}


class Metrics:
    """The registry of one API app (one per app, so test apps in one process never collide)."""

    def __init__(self, collector: GraderCollector) -> None:
        self.registry = CollectorRegistry()
        self.latency = Histogram("grader_http_request_duration_seconds", "API request latency",
                                 ["method", "route", "status"], buckets=LATENCY_BUCKETS, registry=self.registry)
        self.registry.register(collector)

    def observe_request(self, method: str, route: str, status: int, seconds: float) -> None:
        if route == "/metrics":
            return
        self.latency.labels(method, route, str(status)).observe(seconds)


def redis_queue_depths(redis_url: str, queues: Iterable[str]) -> Callable[[], dict[str, int]]:
    import redis

    client = redis.Redis.from_url(redis_url, socket_timeout=1, socket_connect_timeout=1)
    names = list(queues)

    def read() -> dict[str, int]:
        pipe = client.pipeline(transaction=False)
        for name in names:
            pipe.llen(name)
        return dict(zip(names, (int(n) for n in pipe.execute()), strict=True))

    return read
