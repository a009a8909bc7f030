"""Structured logs and request ids.

Every log line of `grader serve`, `worker` and `beat` is one JSON object (`GRADER_LOG_FORMAT=text` for
humans) carrying the id of the request or task it belongs to: the API takes `X-Request-ID` from the
client (or makes one), returns it, and hands it to the Celery task it enqueues, so one id follows an
answer from the POST to the grade.

What is logged is ids, statuses, counts and timings. Candidate names, emails and answers never are:
SQLAlchemy hides statement parameters in its errors (`hide_parameters`), and the access log writes
the route template, not the query string.
"""

from __future__ import annotations

import json
import logging
import re
import time
import uuid
from collections.abc import Awaitable, Callable, MutableMapping
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any

request_id_var: ContextVar[str | None] = ContextVar("grader_request_id", default=None)

REQUEST_ID_HEADER = "X-Request-ID"
# A client's id is echoed into logs and headers: keep it to a short, printable token.
_CLIENT_ID = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

log = logging.getLogger("grader.access")

_RESERVED = set(vars(logging.makeLogRecord({}))) | {"message", "asctime", "request_id"}


class RequestIdFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "request_id"):
            record.request_id = request_id_var.get()
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, request id, and any `extra=` fields."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "request_id": getattr(record, "request_id", None) or request_id_var.get(),
        }
        for key, value in vars(record).items():
            if key not in _RESERVED and not key.startswith("_"):
                entry[key] = value
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False, default=str)


TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s [%(request_id)s]: %(message)s"


def configure_logging(level: str | int = "info", fmt: str = "json") -> None:
    """Root logger to stderr, JSON or text, with the request id on every record. Idempotent."""
    handler = logging.StreamHandler()
    handler.addFilter(RequestIdFilter())
    handler.setFormatter(JsonFormatter() if fmt == "json" else logging.Formatter(TEXT_FORMAT))
    root = logging.getLogger()
    for old in list(root.handlers):
        if getattr(old, "_grader", False):
            root.removeHandler(old)
    handler._grader = True  # type: ignore[attr-defined]
    root.addHandler(handler)
    root.setLevel(level.upper() if isinstance(level, str) else level)
    logging.captureWarnings(True)  # Python warnings become JSON lines too
    # uvicorn's own access log repeats what grader.access writes, with the query string: off.
    logging.getLogger("uvicorn.access").disabled = True
    # Importing alembic logs 7 "setup plugin …" lines at INFO: noise on every start.
    logging.getLogger("alembic.runtime.plugins").setLevel(logging.WARNING)
    for name in ("uvicorn", "uvicorn.error"):
        logging.getLogger(name).handlers.clear()
        logging.getLogger(name).propagate = True


def new_request_id() -> str:
    return uuid.uuid4().hex


def _route_template(scope: Scope) -> str:
    route = scope.get("route")
    path = getattr(route, "path", None)
    return str(path) if path else "unmatched"


class RequestContextMiddleware:
    """Outermost middleware: sets the request id, times the request, writes one access log line and
    feeds the latency histogram (labelled by route template, so ids never become label values)."""

    def __init__(self, app: ASGIApp, observe: Callable[[str, str, int, float], None] | None = None) -> None:
        self.app = app
        self.observe = observe

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        supplied = next(
            (v.decode("latin-1") for k, v in scope.get("headers", []) if k == REQUEST_ID_HEADER.lower().encode()), ""
        )
        request_id = supplied if _CLIENT_ID.match(supplied) else new_request_id()
        token = request_id_var.set(request_id)
        # Kept in the scope too: a 500 is answered by Starlette's outermost error middleware, outside this
        # one and after the context variable is reset; its handler reads the id from here.
        scope.setdefault("state", {})["request_id"] = request_id
        started = time.perf_counter()
        status = 500

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
                message.setdefault("headers", [])
                message["headers"] = [*message["headers"], (b"x-request-id", request_id.encode())]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            elapsed = time.perf_counter() - started
            route = _route_template(scope)
            method = str(scope.get("method", ""))
            if self.observe is not None:
                self.observe(method, route, status, elapsed)
            log.info(
                "%s %s %d %.1f ms",
                method,
                route,
                status,
                elapsed * 1000,
                extra={"method": method, "route": route, "status": status, "duration_ms": round(elapsed * 1000, 1)},
            )
            request_id_var.reset(token)
