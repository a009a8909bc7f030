"""What every request passes through before an endpoint sees it, and `/metrics`.

Order, outermost first: request id + access log + latency (sees every response, including refusals),
the key check (401 for a missing or unknown key on /api/, before the body is read; unknown keys and
sign-in attempts charged to the client address, 429), the rate limit (429 with Retry-After; per checked
key, else per address), the body read (413 over the cap, 408 past its idle or total deadline; read whole
before admission), at most `max_concurrent_requests` inside the app (the rest wait), then the app.
"""

from __future__ import annotations

import hmac
import ipaddress
from collections.abc import Callable
from typing import Any

from fastapi import FastAPI, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import BaseModel

from grader.dashboard import signin
from grader.grading import durations
from grader.keys.api_keys import is_active_key
from grader.observability import RequestContextMiddleware
from grader.settings import Settings
from grader.submissions.reads import count_by_status
from grader.tables import DEFAULT_TABLE_LIMITS
from grader.web import prometheus
from grader.web.errors import error_response
from grader.web.limits import (
    BodyLimitMiddleware,
    Bucket,
    ConcurrencyLimitMiddleware,
    KeyCheckMiddleware,
    MemoryBuckets,
    RateLimitMiddleware,
    RedisBuckets,
)

MULTIPART_ROOM = 1024 * 1024
FORM_ROOM = 64 * 1024  # the dashboard form's other fields and multipart envelope


class ErrorDetail(BaseModel):
    code: str
    message: str
    details: dict[str, Any]


class ErrorBody(BaseModel):
    """Every error the API returns has this shape."""

    error: ErrorDetail


# Answers any endpoint may give besides its own: documented so clients (and schema checks) expect them.
COMMON_RESPONSES: dict[int | str, dict[str, Any]] = {
    413: {"model": ErrorBody, "description": "request body over the cap (refused before it is read)"},
    422: {"model": ErrorBody, "description": "invalid request"},
    429: {
        "model": ErrorBody,
        "description": "rate limit for this API key; see the Retry-After header",
        "headers": {"Retry-After": {"description": "seconds to wait", "schema": {"type": "integer"}}},
    },
    503: {
        "model": ErrorBody,
        "description": "the database is unavailable or the server is at capacity; retry after Retry-After seconds",
    },
}
AUTH_RESPONSES: dict[int | str, dict[str, Any]] = {
    401: {"model": ErrorBody, "description": "missing or unknown API key"},
    403: {"model": ErrorBody, "description": "the key's role may not do this"},
    404: {"model": ErrorBody, "description": "not found, or not yours to see"},
}


def install(app: FastAPI, settings: Settings) -> None:
    app.state.metrics = prometheus.Metrics(
        prometheus.GraderCollector(
            _queue_depths(app),
            prometheus.Refreshed(_status_counts(app), settings.metrics_refresh_seconds),
            _durations(settings),
        )
    )
    app.state.metrics_allow = [ipaddress.ip_network(cidr, strict=False) for cidr in settings.metrics_allow]
    # add_middleware wraps: the last added is the outermost.
    app.add_middleware(ConcurrencyLimitMiddleware, limit=settings.max_concurrent_requests)
    from grader.dashboard.banks import MAX_UPLOAD_BYTES as DASHBOARD_IMPORT_BYTES

    app.add_middleware(
        BodyLimitMiddleware,
        default=settings.max_body_bytes,
        uploads=DEFAULT_TABLE_LIMITS.max_bytes + MULTIPART_ROOM,
        # The dashboard's import form takes 1 MB files: its door buffers no more than that and the form.
        dashboard_uploads=DASHBOARD_IMPORT_BYTES + FORM_ROOM,
        idle_seconds=settings.body_idle_timeout_seconds,
        total_seconds=settings.body_total_timeout_seconds,
        upload_total_seconds=settings.upload_total_timeout_seconds,
    )
    if settings.rate_limit_per_second > 0:
        app.add_middleware(
            RateLimitMiddleware,
            buckets=_buckets(settings, "requests", settings.rate_limit_per_second, settings.rate_limit_burst),
        )
    auth_buckets = None
    if settings.auth_failures_per_second > 0:
        auth_buckets = _buckets(settings, "auth", settings.auth_failures_per_second, settings.auth_failures_burst)
    app.add_middleware(
        KeyCheckMiddleware,
        check=_key_check(app),
        auth_buckets=auth_buckets,
        signed_in=_signed_in(app, settings),
        cookie=signin.COOKIE,
    )
    app.add_middleware(RequestContextMiddleware, observe=app.state.metrics.observe_request)
    app.add_api_route("/metrics", metrics_endpoint, methods=["GET"], include_in_schema=False)


def metrics_endpoint(request: Request) -> Response:
    """Prometheus text format, for the allowed addresses or the metrics key (counts and timings only)."""
    if not _may_scrape(request):
        return error_response(
            403,
            "forbidden",
            "/metrics is served to the addresses in GRADER_METRICS_ALLOW (loopback by default) or with "
            "`Authorization: Bearer <GRADER_METRICS_KEY>`",
        )
    registry = request.app.state.metrics.registry
    return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)


def _may_scrape(request: Request) -> bool:
    settings: Settings = request.app.state.settings
    if settings.metrics_key is not None:
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        expected = settings.metrics_key.get_secret_value()
        if scheme.lower() == "bearer" and token and hmac.compare_digest(token.encode(), expected.encode()):
            return True
    host = request.client.host if request.client else ""
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    return any(address in network for network in request.app.state.metrics_allow)


def _buckets(settings: Settings, name: str, rate: float, burst: int) -> Bucket:
    if settings.redis_url is not None:
        return RedisBuckets(settings.redis_url, f"{settings.celery_queue}:{name}", rate, burst)
    return MemoryBuckets(rate, burst)


def _key_check(app: FastAPI) -> Callable[[str], bool]:
    def check(raw: str) -> bool:
        with app.state.sessions() as session:
            return is_active_key(session, raw)

    return check


def _signed_in(app: FastAPI, settings: Settings) -> Callable[[str], bool]:
    def check(cookie: str) -> bool:
        with app.state.sessions() as session:
            return signin.signed_in(cookie, settings, session)

    return check


def _queue_depths(app: FastAPI) -> Any:
    def read() -> dict[str, int]:
        # The queue is built in the lifespan; a scrape before it has nothing to report.
        queue = getattr(app.state, "queue", None)
        return queue.depths() if queue is not None else {}

    return read


def _status_counts(app: FastAPI) -> Any:
    def read() -> dict[str, int]:
        with app.state.sessions() as session:
            return count_by_status(session)

    return read


def _durations(settings: Settings) -> durations.DurationRecorder:
    if settings.redis_url is not None:
        return durations.RedisDurations(settings.redis_url, settings.celery_queue)
    return durations.current_recorder()
