"""Limits enforced before a request reaches an endpoint: body size (413) and rate per API key (429).

Body size: a declared `Content-Length` over the cap is refused before a byte of the body is read; a body
without one (chunked) is counted as it streams and refused the moment it passes the cap. JSON endpoints
get a small cap; the batch upload and a bank import get the sheet cap plus room for the multipart envelope.

Rate: a token bucket per API key (per client address for calls without a key): `rate_limit_per_second`
refill, `rate_limit_burst` capacity. With Redis configured the buckets live there (one Lua script, the
Redis clock), so every API process behind a balancer shares them; in embedded mode they are in memory.
If Redis is unreachable the limiter falls back to memory for a while instead of refusing traffic: an
outage of the broker must not become an outage of the API.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import math
import re
import threading
import time
from collections import OrderedDict
from typing import Any, Protocol

from starlette.exceptions import HTTPException

from grader.observability import ASGIApp, Message, Receive, Scope, Send

log = logging.getLogger(__name__)

MB = 1024 * 1024
# A question bank's import takes a document or table upload, under the same cap as an answer sheet.
_BANK_IMPORT = re.compile(r"/api/v1/banks/[^/]+/import")


async def send_error(
    send: Send,
    status: int,
    code: str,
    message: str,
    details: dict[str, Any] | None = None,
    headers: dict[str, str] | None = None,
) -> None:
    body = json.dumps({"error": {"code": code, "message": message, "details": details or {}}}).encode()
    raw_headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
        # The rest of the body is never read: the client must not reuse this connection.
        (b"connection", b"close"),
    ]
    raw_headers += [(k.lower().encode(), v.encode()) for k, v in (headers or {}).items()]
    await send({"type": "http.response.start", "status": status, "headers": raw_headers})
    await send({"type": "http.response.body", "body": body})


class BodyTooLarge(HTTPException):
    """Raised from `receive` when a streamed body passes the cap. An HTTPException, so FastAPI's body
    parsing lets it through to the error handler (413) instead of turning it into a 400."""

    def __init__(self, limit: int) -> None:
        super().__init__(413, f"request body over the {_size(limit)} limit")
        self.limit = limit


def _size(n: int) -> str:
    return f"{n / MB:.0f} MB" if n >= MB else f"{n // 1024} KB"


class BodyLimitMiddleware:
    def __init__(self, app: ASGIApp, *, default: int, uploads: int, upload_prefix: str = "/api/v1/batches") -> None:
        self.app = app
        self.default = default
        self.uploads = uploads
        self.upload_prefix = upload_prefix

    def limit_for(self, scope: Scope) -> int:
        path = str(scope.get("path", ""))
        if scope.get("method") == "POST" and (path.startswith(self.upload_prefix) or _BANK_IMPORT.fullmatch(path)):
            return self.uploads
        return self.default

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.limit_for(scope)
        code = "upload_too_large" if limit == self.uploads else "request_too_large"
        declared = next((v for k, v in scope.get("headers", []) if k == b"content-length"), None)
        if declared is not None and (not declared.isdigit() or int(declared) > limit):
            await self._refuse(send, limit, int(declared) if declared.isdigit() else None, code)
            return
        received = 0
        started = False

        async def counting_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise BodyTooLarge(limit)
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, counting_receive, tracking_send)
        except BodyTooLarge:
            # Read outside the exception handlers' reach (a middleware, a background read): answer here.
            if started:
                raise
            await self._refuse(send, limit, None, code)

    @staticmethod
    async def _refuse(send: Send, limit: int, declared: int | None, code: str) -> None:
        said = f" of {_size(declared)}" if declared is not None else ""
        hint = "; split the answers over several files" if code == "upload_too_large" else ""
        await send_error(
            send,
            413,
            code,
            f"request body{said} is over the {_size(limit)} limit for this endpoint{hint}",
            {"max_bytes": limit},
        )


class RequireKeyMiddleware:
    """A call to the API with no key at all is refused (401) before its body is read or parsed: an
    anonymous client cannot make the server parse an upload or a JSON body. Whether a key that is
    present is valid, and what its role may do, is the endpoints' dependency's business."""

    def __init__(self, app: ASGIApp, *, prefix: str = "/api/") -> None:
        self.app = app
        self.prefix = prefix

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] == "http"
            and str(scope.get("path", "")).startswith(self.prefix)
            and not any(k == b"x-api-key" and v.strip() for k, v in scope.get("headers", []))
        ):
            await send_error(
                send,
                401,
                "unauthorized",
                "missing API key: send it in the X-API-Key header (an admin creates one with `grader keys create`)",
            )
            return
        await self.app(scope, receive, send)


class ConcurrencyLimitMiddleware:
    """At most `limit` requests inside the app at once; the rest wait here, on the event loop.

    Sync endpoints and their session dependency run on the thread pool (40 threads) while the database pool has
    15 connections. Under a burst every thread could be waiting for a connection that only a request's
    dependency teardown — which itself needs a thread — would give back: the pool times out after 30 s
    and every request fails (measured: a 10x burst got 139 of 1,020 answers in). Admitting fewer
    requests than there are connections makes that impossible; one that cannot get in within `wait`
    seconds is told to come back (503 with Retry-After) instead of timing out.
    """

    def __init__(
        self, app: ASGIApp, *, limit: int, wait: float = 20.0, exempt: tuple[str, ...] = ("/healthz",)
    ) -> None:
        self.app = app
        self.limit = limit
        self.wait = wait
        self.exempt = exempt
        self._semaphore: asyncio.Semaphore | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or str(scope.get("path", "")).startswith(self.exempt):
            await self.app(scope, receive, send)
            return
        if self._semaphore is None:
            self._semaphore = asyncio.Semaphore(self.limit)
        try:
            await asyncio.wait_for(self._semaphore.acquire(), self.wait)
        except TimeoutError:
            await send_error(
                send,
                503,
                "busy",
                "the server is at capacity; retry shortly",
                {"retry_after_seconds": 1},
                headers={"Retry-After": "1"},
            )
            return
        try:
            await self.app(scope, receive, send)
        finally:
            self._semaphore.release()


# --- rate limiting ---------------------------------------------------------------------------------------


class Bucket(Protocol):
    def take(self, key: str) -> float:
        """0 when the request may go ahead, else the seconds until a token is available."""
        ...


class MemoryBuckets:
    """Token buckets in this process, least recently used dropped past `max_keys`."""

    def __init__(self, rate: float, burst: int, max_keys: int = 10_000) -> None:
        self.rate = rate
        self.burst = burst
        self.max_keys = max_keys
        self._state: OrderedDict[str, tuple[float, float]] = OrderedDict()
        self._lock = threading.Lock()

    def take(self, key: str) -> float:
        now = time.monotonic()
        with self._lock:
            tokens, at = self._state.pop(key, (float(self.burst), now))
            tokens = min(float(self.burst), tokens + (now - at) * self.rate)
            wait = 0.0
            if tokens >= 1:
                tokens -= 1
            else:
                wait = (1 - tokens) / self.rate
            self._state[key] = (tokens, now)
            while len(self._state) > self.max_keys:
                self._state.popitem(last=False)
            return wait


TOKEN_BUCKET = """
local rate = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local state = redis.call('HMGET', KEYS[1], 'tokens', 'at')
local tokens = tonumber(state[1]) or burst
local at = tonumber(state[2]) or now
tokens = math.min(burst, tokens + math.max(0, now - at) * rate)
local wait = 0
if tokens >= 1 then tokens = tokens - 1 else wait = (1 - tokens) / rate end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'at', tostring(now))
redis.call('EXPIRE', KEYS[1], math.ceil(burst / rate) + 2)
return tostring(wait)
"""


class RedisBuckets:
    """Token buckets shared by every API process on one Redis; memory while Redis is away."""

    RETRY_REDIS_AFTER = 5.0

    def __init__(self, redis_url: str, namespace: str, rate: float, burst: int) -> None:
        import redis

        self._client = redis.Redis.from_url(redis_url, socket_timeout=0.5, socket_connect_timeout=0.5)
        self._script = self._client.register_script(TOKEN_BUCKET)
        self._namespace = namespace
        self.rate = rate
        self.burst = burst
        self._fallback = MemoryBuckets(rate, burst)
        self._down_until = 0.0

    def take(self, key: str) -> float:
        if time.monotonic() >= self._down_until:
            try:
                return float(
                    self._script(keys=[f"grader:ratelimit:{self._namespace}:{key}"], args=[self.rate, self.burst])
                )
            except Exception as exc:
                self._down_until = time.monotonic() + self.RETRY_REDIS_AFTER
                log.warning(
                    "rate limiter: Redis unavailable (%s); limiting in memory for %.0f s",
                    type(exc).__name__,
                    self.RETRY_REDIS_AFTER,
                )
        return self._fallback.take(key)


EXEMPT = ("/healthz", "/readyz", "/metrics")


def caller_key(scope: Scope) -> str:
    """The API key's digest (never the key), or the client address for calls without one."""
    for name, value in scope.get("headers", []):
        if name == b"x-api-key" and value.strip():
            return "key:" + hashlib.sha256(value.strip()).hexdigest()[:32]
    client = scope.get("client")
    return "addr:" + (str(client[0]) if client else "unknown")


class RateLimitMiddleware:
    def __init__(self, app: ASGIApp, *, buckets: Bucket) -> None:
        self.app = app
        self.buckets = buckets

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or str(scope.get("path", "")).startswith(EXEMPT):
            await self.app(scope, receive, send)
            return
        wait = await _run_sync(self.buckets.take, caller_key(scope))
        if wait > 0:
            retry_after = max(1, math.ceil(wait))
            await send_error(
                send,
                429,
                "rate_limited",
                f"too many requests for this API key; retry after {retry_after} s",
                {"retry_after_seconds": retry_after},
                headers={"Retry-After": str(retry_after)},
            )
            return
        await self.app(scope, receive, send)


async def _run_sync(fn: Any, *args: Any) -> float:
    # A Redis round trip is short but blocking; keep it off the event loop.
    from starlette.concurrency import run_in_threadpool

    result: float = await run_in_threadpool(fn, *args)
    return result
