"""Holes 2 and 5 of issue 13, over real sockets against the real app under uvicorn:

- fourteen `POST /dashboard/login` declaring 900,000 bytes and sending one byte every couple of
  seconds took every admission slot (12) while their bodies trickled in: every authenticated call
  answered 503. Now bodies are read before admission, under an idle and a total deadline: the slow
  ones get 408 within the (short, test-configured) deadline and their connection is closed, while
  authenticated calls keep answering 200;
- a fresh random `X-API-Key` per request escaped the rate limit: now unknown keys are charged to the
  client address and 429 follows the per-address budget (the real default: 20, then 0.5/s);
- with any key header present the body was parsed before the key was checked (deeply nested JSON → 422):
  now an unknown key is 401 before a byte of the body is read.
"""

from __future__ import annotations

import json
import secrets
import threading
import time
from collections import Counter
from collections.abc import Iterator

import pytest

from grader.settings import Settings
from tests.support import raw
from tests.support.services import Keys, Server, ServerThread

pytestmark = [pytest.mark.services, pytest.mark.slow]

IDLE, TOTAL = 3.0, 8.0
SLOW = 16  # more than the admission limit of 12


@pytest.fixture(scope="module")
def guarded(pg_settings: Settings, queue_name: str) -> Iterator[Server]:
    """Default limits but short body deadlines (so the test takes seconds, not a minute), and an address
    budget of its own (a Redis namespace no other test server shares)."""
    settings = pg_settings.model_copy(
        update={
            "body_idle_timeout_seconds": IDLE,
            "body_total_timeout_seconds": TOTAL,
            "auth_failures_burst": Settings.model_fields["auth_failures_burst"].default,
            "celery_queue": f"{queue_name}-guarded-{secrets.token_hex(3)}",
        }
    )
    assert settings.max_concurrent_requests == 12
    with ServerThread(settings) as server:
        yield server


def trickle(url: str, results: list[tuple[int, float, bool]], interval: float) -> None:
    """A slow sign-in: 900,000 bytes declared, one sent every `interval` seconds until the server answers."""
    started = time.monotonic()
    with raw.connect(url, timeout=60) as sock:
        sock.sendall(
            raw.head(
                "POST",
                "/dashboard/login",
                {"Content-Type": "application/x-www-form-urlencoded", "Content-Length": "900000"},
            )
        )
        sock.settimeout(interval)
        status, closed = 0, False
        while time.monotonic() - started < 60:
            try:
                status, _headers, _body = raw.read_reply(sock)
                break
            except TimeoutError:
                try:
                    sock.sendall(b"a")
                except OSError:
                    sock.settimeout(5)
            except OSError:
                break
        closed = raw.closed_by_server(sock) if status else False
        results.append((status, time.monotonic() - started, closed))


def test_slow_bodies_get_408_while_authenticated_calls_still_succeed(guarded: Server, keys: Keys) -> None:
    results: list[tuple[int, float, bool]] = []
    threads = [threading.Thread(target=trickle, args=(guarded.url, results, 2.0)) for _ in range(SLOW)]
    for thread in threads:
        thread.start()
    time.sleep(2.5)  # every slow body is in flight; before the fix every admission slot was taken by now
    calls: list[tuple[int, float]] = []
    with guarded.client(keys.reviewer) as client:
        while any(t.is_alive() for t in threads) and len(calls) < 40:
            started = time.monotonic()
            reply = client.get("/api/v1/questions")
            calls.append((reply.status_code, time.monotonic() - started))
            time.sleep(0.2)
    for thread in threads:
        thread.join(30)
    assert len(results) == SLOW
    assert calls and all(status == 200 for status, _ in calls), calls
    assert max(seconds for _, seconds in calls) < 5, calls
    for status, seconds, closed in results:
        assert status == 408, results
        assert seconds < TOTAL + 4, results  # the total deadline, plus the test's own pacing
        assert closed, "the connection of a timed-out body must be closed"


def test_a_body_that_stops_gets_408_after_the_idle_deadline(guarded: Server) -> None:
    with raw.connect(guarded.url) as sock:
        started = time.monotonic()
        sock.sendall(raw.head("POST", "/dashboard/login", {"Content-Length": "100"}) + b"api_key=")
        status, headers, body = raw.read_reply(sock)
        elapsed = time.monotonic() - started
        assert status == 408 and json.loads(body)["error"]["code"] == "request_timeout"
        assert IDLE - 0.5 < elapsed < IDLE + 3 and headers.get("connection") == "close"
        assert raw.closed_by_server(sock)


def test_an_unknown_key_is_refused_before_the_body_is_parsed(guarded: Server, keys: Keys) -> None:
    nested = b"[" * 200_000 + b"]" * 200_000  # 400 KB of nesting: under the body cap, costly to parse
    with guarded.client("grd_" + secrets.token_urlsafe(32)) as stranger:
        reply = stranger.post("/api/v1/submissions", content=nested, headers={"Content-Type": "application/json"})
        assert reply.status_code == 401, reply.text
    with guarded.client(keys.recruiter) as recruiter:  # a real key gets its body parsed, and refused
        reply = recruiter.post("/api/v1/submissions", content=nested, headers={"Content-Type": "application/json"})
        assert reply.status_code == 422, reply.text


@pytest.fixture
def fresh_budget(pg_settings: Settings, queue_name: str) -> Iterator[Server]:
    settings = pg_settings.model_copy(
        update={
            "auth_failures_burst": Settings.model_fields["auth_failures_burst"].default,
            "celery_queue": f"{queue_name}-keys-{secrets.token_hex(3)}",
        }
    )
    with ServerThread(settings) as server:
        yield server


def test_random_keys_draw_on_one_address_budget(fresh_budget: Server, keys: Keys) -> None:
    statuses: Counter[int] = Counter()
    first_429 = None
    started = time.monotonic()
    with fresh_budget.client() as client:
        for attempt in range(900):
            reply = client.get("/api/v1/questions", headers={"X-API-Key": "grd_" + secrets.token_urlsafe(32)})
            statuses[reply.status_code] += 1
            if reply.status_code == 429 and first_429 is None:
                first_429 = attempt
                assert int(reply.headers["retry-after"]) >= 1
    elapsed = time.monotonic() - started
    budget = Settings.model_fields["auth_failures_burst"].default
    refill = Settings.model_fields["auth_failures_per_second"].default
    assert set(statuses) == {401, 429}, statuses
    assert first_429 is not None and first_429 <= budget + 1
    assert statuses[401] <= budget + refill * elapsed + 1, (statuses, elapsed)
    # Sign-in attempts draw on the same address budget (the dashboard's form takes a key too). The budget refills
    # at 0.5 a second, so it is drawn dry again just before (a 429), and the sign-in follows at once on the same
    # client: under load, opening a new client could take long enough for a token to come back.
    with fresh_budget.client() as browser:
        while (
            browser.get("/api/v1/questions", headers={"X-API-Key": "grd_" + secrets.token_urlsafe(32)}).status_code
            != 429
        ):
            pass
        assert browser.post("/dashboard/login", data={"api_key": "grd_guess"}).status_code == 429
