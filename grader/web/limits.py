"""Limits enforced before a request reaches an endpoint: the key (401), the rate (429), the body's size
(413) and pace (408), and admission (503).

Key: a call to /api/ with no key, or with a key that is not active, is refused before its body is read;
valid keys are remembered for a minute so the check costs one indexed lookup per key, not per request.
Unknown keys and dashboard sign-in attempts are charged to the client address (`auth` buckets), so
sending a fresh random key each time does not reset anything.

Body: a declared `Content-Length` over the cap is refused before a byte of the body is read; a body
without one (chunked) is counted as it streams and refused the moment it passes the cap. JSON endpoints
get a small cap; the batch upload and a bank import get the sheet cap plus room for the multipart envelope.
The body is read whole here, under an idle deadline per chunk and a total deadline (408 and the
connection closed), before the request is admitted: a slow client holds a socket, never an admission slot.

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
from collections.abc import Callable
from typing import Any, Protocol
from urllib.parse import quote

from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import cookie_parser

from grader.observability import ASGIApp, Message, Receive, Scope, Send

log = logging.getLogger(__name__)

MB = 1024 * 1024
# A question bank's import takes a document or table upload, under the same cap as an answer sheet; the
# dashboard's import form has its own, smaller cap (`dashboard_uploads`), and the body reader buffers no more.
_BANK_IMPORT = re.compile(r"/api/v1/banks/[^/]+/import")
DASHBOARD_IMPORT = "/dashboard/banks/import"


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


async def send_redirect(send: Send, location: str) -> None:
    """303 to `location`, the request's body left unread (so the connection is closed)."""
    headers = [(b"location", location.encode("latin-1")), (b"content-length", b"0"), (b"connection", b"close")]
    await send({"type": "http.response.start", "status": 303, "headers": headers})
    await send({"type": "http.response.body", "body": b""})


def _cookie(scope: Scope, name: str) -> str | None:
    for key, value in scope.get("headers", []):
        if key == b"cookie":
            found = cookie_parser(value.decode("latin-1")).get(name)
            if found:
                return found
    return None


class BodyTooLarge(HTTPException):
    """Raised from `receive` when a streamed body passes the cap. An HTTPException, so FastAPI's body
    parsing lets it through to the error handler (413) instead of turning it into a 400."""

    def __init__(self, limit: int) -> None:
        super().__init__(413, f"request body over the {_size(limit)} limit")
        self.limit = limit


def _size(n: int) -> str:
    return f"{n / MB:.0f} MB" if n >= MB else f"{n // 1024} KB"


class BodyLimitMiddleware:
    """Reads the whole body before the app sees it: capped (413), with an idle deadline between chunks
    and a total deadline (408, connection closed); then replays it to the app. A request without a body
    (no Content-Length, not chunked) passes straight through."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        default: int,
        uploads: int,
        dashboard_uploads: int | None = None,
        upload_prefix: str = "/api/v1/batches",
        idle_seconds: float = 10.0,
        total_seconds: float = 60.0,
        upload_total_seconds: float = 300.0,
    ) -> None:
        self.app = app
        self.default = default
        self.uploads = uploads
        self.dashboard_uploads = uploads if dashboard_uploads is None else dashboard_uploads
        self.upload_prefix = upload_prefix
        self.idle_seconds = idle_seconds
        self.total_seconds = total_seconds
        self.upload_total_seconds = upload_total_seconds

    def is_upload(self, scope: Scope) -> bool:
        path = str(scope.get("path", ""))
        return scope.get("method") == "POST" and (
            path.startswith(self.upload_prefix) or bool(_BANK_IMPORT.fullmatch(path)) or path == DASHBOARD_IMPORT
        )

    def limit_for(self, scope: Scope) -> int:
        if not self.is_upload(scope):
            return self.default
        return self.dashboard_uploads if scope.get("path") == DASHBOARD_IMPORT else self.uploads

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.limit_for(scope)
        code = "upload_too_large" if self.is_upload(scope) else "request_too_large"
        headers = dict(scope.get("headers", []))
        declared = headers.get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > limit):
            await self._refuse(send, limit, int(declared) if declared.isdigit() else None, code)
            return
        chunked = b"chunked" in headers.get(b"transfer-encoding", b"").lower()
        if (declared is None or declared == b"0") and not chunked:
            await self.app(scope, receive, send)
            return
        total = self.upload_total_seconds if self.is_upload(scope) else self.total_seconds
        try:
            body = await self._read(receive, limit, total)
        except BodyTooLarge:
            await self._refuse(send, limit, None, code)
            return
        except BodyTimeout as exc:
            await send_error(
                send,
                408,
                "request_timeout",
                f"the request body was not received in time ({exc.reason}); send it at a steady pace",
                {"idle_seconds": self.idle_seconds, "total_seconds": total},
            )
            return
        if body is None:
            return  # the client went away while sending
        delivered = False

        async def replay() -> Message:
            nonlocal delivered
            if not delivered:
                delivered = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()  # after the body: wait for the disconnect, as the server would

        await self.app(scope, replay, send)

    async def _read(self, receive: Receive, limit: int, total: float) -> bytes | None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + total
        chunks: list[bytes] = []
        received = 0
        while True:
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise BodyTimeout(f"over the {total:g} s total")
            try:
                message = await asyncio.wait_for(receive(), min(self.idle_seconds, remaining))
            except TimeoutError:
                if remaining <= self.idle_seconds:
                    raise BodyTimeout(f"over the {total:g} s total") from None
                raise BodyTimeout(f"nothing for {self.idle_seconds:g} s") from None
            if message["type"] == "http.disconnect":
                return None
            chunk = message.get("body", b"")
            received += len(chunk)
            if received > limit:
                raise BodyTooLarge(limit)
            chunks.append(chunk)
            if not message.get("more_body", False):
                return b"".join(chunks)

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


class BodyTimeout(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


MISSING_KEY = "missing API key: send it in the X-API-Key header (an admin creates one with `grader keys create`)"


class KeyCheckMiddleware:
    """Before any body is read or parsed: a call to /api/ without a key, or with a key that is not
    active, is refused (401); each unknown key, and each dashboard sign-in attempt, is charged to the
    client address (`auth` buckets: 429 once spent), so random keys cannot buy unlimited attempts.

    `check(raw_key)` says whether a key is active (a use case, run on the thread pool); an active key is
    remembered for `remember_seconds` and marks the request (`scope["state"]["api_key_checked"]`) so the
    rate limit counts it per key. The endpoint's own dependency still authenticates and authorizes every
    call: this is a gate against unknown keys, not the authority (a key revoked within the minute is
    refused there)."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        check: Callable[[str], bool],
        auth_buckets: Bucket | None,
        prefix: str = "/api/",
        login_path: str = "/dashboard/login",
        signed_in: Callable[[str], bool] | None = None,
        cookie: str = "grader_dashboard",
        dashboard_prefix: str = "/dashboard/",
        remember_seconds: float = 60.0,
        max_remembered: int = 10_000,
    ) -> None:
        self.app = app
        self.check = check
        self.auth_buckets = auth_buckets
        self.prefix = prefix
        self.login_path = login_path
        self.signed_in = signed_in
        self.cookie = cookie
        self.dashboard_prefix = dashboard_prefix
        self.remember_seconds = remember_seconds
        self.max_remembered = max_remembered
        self._known: OrderedDict[str, float] = OrderedDict()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = str(scope.get("path", ""))
        raw = next((v.strip() for k, v in scope.get("headers", []) if k == b"x-api-key"), b"")
        if path.startswith(self.prefix):
            if not raw:
                await send_error(send, 401, "unauthorized", MISSING_KEY)
                return
            digest = hashlib.sha256(raw).hexdigest()
            if not self._remembered(digest):
                if await self._over_budget(scope, send):
                    return
                try:
                    active = await _run_sync(self.check, raw.decode("latin-1"))
                except Exception as exc:
                    # The database is away: let the endpoint answer (its dependency reports the outage).
                    log.warning("key check unavailable (%s); deferring to the endpoint", type(exc).__name__)
                    active = True
                else:
                    if not active:
                        await send_error(send, 401, "unauthorized", "unknown or revoked API key")
                        return
                    self._remember(digest)
            scope.setdefault("state", {})["api_key_checked"] = "key:" + digest[:32]
        elif path == self.login_path and scope.get("method") == "POST":
            if await self._over_budget(scope, send):
                return
        elif self._dashboard_form(scope, path) and not await self._has_session(scope):
            # Every dashboard form but the sign-in needs an open session: checked before the body is read,
            # so an anonymous upload costs a header parse, not a buffered body (issue 18, item 1).
            await send_redirect(send, "/dashboard/login?next=" + quote(path))
            return
        await self.app(scope, receive, send)

    def _dashboard_form(self, scope: Scope, path: str) -> bool:
        return self.signed_in is not None and path.startswith(self.dashboard_prefix) and scope.get("method") == "POST"

    async def _has_session(self, scope: Scope) -> bool:
        assert self.signed_in is not None
        value = _cookie(scope, self.cookie)
        if not value:
            return False
        try:
            return bool(await run_in_threadpool(self.signed_in, value))
        except Exception as exc:  # the database is away: the endpoint's own check answers
            log.warning("session check unavailable (%s); deferring to the endpoint", type(exc).__name__)
            return True

    def _remembered(self, digest: str) -> bool:
        until = self._known.get(digest)
        if until is None or until < time.monotonic():
            self._known.pop(digest, None)
            return False
        return True

    def _remember(self, digest: str) -> None:
        self._known[digest] = time.monotonic() + self.remember_seconds
        self._known.move_to_end(digest)
        while len(self._known) > self.max_remembered:
            self._known.popitem(last=False)

    async def _over_budget(self, scope: Scope, send: Send) -> bool:
        if self.auth_buckets is None:
            return False
        wait = await _run_sync(self.auth_buckets.take, client_address(scope))
        if wait <= 0:
            return False
        retry_after = max(1, math.ceil(wait))
        await send_error(
            send,
            429,
            "rate_limited",
            f"too many sign-in attempts or unknown API keys from this address; retry after {retry_after} s",
            {"retry_after_seconds": retry_after},
            headers={"Retry-After": str(retry_after)},
        )
        return True


class ConcurrencyLimitMiddleware:
    """At most `limit` requests inside the app at once; the rest wait here, on the event loop.

    Sync endpoints and their session dependency run on the thread pool (40 threads) while the database pool has
    15 connections. Under a burst every thread could be waiting for a connection that only a request's
    dependency teardown — which itself needs a thread — would give back: the pool times out after 30 s
    and every request fails (measured: a 10x burst got 139 of 1,020 answers in). Admitting fewer
    requests than there are connections makes that impossible; one that cannot get in within `wait`
    seconds is told to come back (503 with Retry-After) instead of timing out.

    It sits inside the body reader (grader.web.hardening): a request is admitted once its body is in
    memory, so slots are held only by requests that can use the database now, never by a slow client.
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


def client_address(scope: Scope) -> str:
    client = scope.get("client")
    return "addr:" + (str(client[0]) if client else "unknown")


def caller_key(scope: Scope) -> str:
    """The API key's digest (never the key) once the key check found it active, else the client address:
    a key header nobody checked (a random one on a page) buys no bucket of its own."""
    checked = scope.get("state", {}).get("api_key_checked")
    return str(checked) if checked else client_address(scope)


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
