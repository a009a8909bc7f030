"""`/metrics` in the Prometheus text format.

- `grader_http_request_duration_seconds{method,route,status}`: request latency, measured in the API.
- `grader_queue_depth{queue}`: messages waiting on the broker (Redis list length of the interactive
  and batch queues), or in the embedded grading thread's queue.
- `grader_submissions{status}`: submissions by status, counted in the database at most every
  `metrics_refresh_seconds` (`Refreshed`), so every API process reports the same figures whichever
  worker graded them, and scraping often does not scan the table on every scrape.
- `grader_grading_duration_seconds`: time the engine took per answer (a batch chunk, graded in one
  engine call, records its mean once per answer), as `grader.grading.durations` recorded it.

Scraping is for the addresses in `metrics_allow` (loopback by default) or a caller with `metrics_key`
(grader.web.hardening); the figures are counts and timings, never ids, names or answers.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

from prometheus_client import CollectorRegistry, Histogram
from prometheus_client.core import GaugeMetricFamily, HistogramMetricFamily
from prometheus_client.registry import Collector

from grader.grading.durations import GRADING_BUCKETS, DurationRecorder

log = logging.getLogger(__name__)

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


class GraderCollector(Collector):
    """Figures read at scrape time: queue depth, submissions by status, grading durations."""

    def __init__(
        self,
        queue_depths: Callable[[], dict[str, int]],
        status_counts: Callable[[], dict[str, int]],
        durations: DurationRecorder,
    ) -> None:
        self._queue_depths = queue_depths
        self._status_counts = status_counts
        self._durations = durations

    def collect(self) -> Iterator[Any]:
        depth = GaugeMetricFamily(
            "grader_queue_depth", "Grading jobs waiting to be taken by a worker", labels=["queue"]
        )
        for queue, value in _safely(self._queue_depths, "queue depth").items():
            depth.add_metric([queue], value)
        yield depth
        by_status = GaugeMetricFamily(
            "grader_submissions", "Submissions by status (from the database)", labels=["status"]
        )
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
        histogram = HistogramMetricFamily(
            "grader_grading_duration_seconds", "Engine time per graded answer (all workers)"
        )
        histogram.add_metric([], cumulative, sum_value=total if math.isfinite(total) else 0.0)
        yield histogram


def _safely(read: Callable[[], dict[str, int]], what: str) -> dict[str, int]:
    try:
        return read()
    except Exception as exc:
        # A scrape during an outage still answers: the figure is missing, the endpoint is not a 500.
        log.warning("metrics: %s unavailable: %s", what, type(exc).__name__)
        return {}


class Refreshed:
    """`read()` at most once per `every` seconds; calls in between get the last figures. One caller
    refreshes while the others keep the previous figures, so a burst of scrapes runs one count."""

    def __init__(self, read: Callable[[], dict[str, int]], every: float) -> None:
        self._read = read
        self.every = every
        self._value: dict[str, int] | None = None
        self._at = -math.inf
        self._lock = threading.Lock()
        self.reads = 0

    def __call__(self) -> dict[str, int]:
        now = time.monotonic()
        if self._value is not None and now - self._at < self.every:
            return self._value
        if not self._lock.acquire(blocking=self._value is None):
            return self._value or {}
        try:
            if self._value is None or time.monotonic() - self._at >= self.every:
                self.reads += 1
                try:
                    self._value = self._read()
                finally:
                    # A failed count is retried after `every` too, not on every scrape during an outage.
                    self._at = time.monotonic()
            return self._value or {}
        finally:
            self._lock.release()


class Metrics:
    """The registry of one API app (one per app, so test apps in one process never collide)."""

    def __init__(self, collector: GraderCollector) -> None:
        self.registry = CollectorRegistry()
        self.latency = Histogram(
            "grader_http_request_duration_seconds",
            "API request latency",
            ["method", "route", "status"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.registry.register(collector)

    def observe_request(self, method: str, route: str, status: int, seconds: float) -> None:
        if route == "/metrics":
            return
        self.latency.labels(method, route, str(status)).observe(seconds)
