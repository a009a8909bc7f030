"""Hole 6 of issue 13: extreme dates on the result filters were 500s (`OverflowError` moving them to
UTC), and error replies had no `X-Request-ID`. Now: 422 with a message naming the field (the dashboard
shows a notice and ignores the filter), and every error reply names its request id — the 500 of the
catch-all handler, which Starlette sends outside every middleware, included."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from fastapi import FastAPI

from grader.settings import Settings
from grader.web.app import create_app
from tests.support import raw
from tests.support.dashboard import sign_in
from tests.support.services import Keys, Server, ServerThread

pytestmark = [pytest.mark.services]

EXTREMES = [
    {"graded_from": "0001-01-01T00:00:00+14:00"},
    {"graded_to": "9999-12-31T23:59:59-14:00"},
    {"graded_from": "0001-01-01T00:00:00+14:00", "graded_to": "9999-12-31T23:59:59-14:00"},
]


@pytest.mark.parametrize("path", ["/api/v1/results", "/api/v1/stats"])
@pytest.mark.parametrize("params", EXTREMES)
def test_extreme_dates_on_the_api_are_422_naming_the_field(
    open_api: Server, keys: Keys, path: str, params: dict[str, str]
) -> None:
    with open_api.client(keys.reviewer) as client:
        reply = client.get(path, params=params)
    assert reply.status_code == 422, reply.text
    error = reply.json()["error"]
    assert error["code"] == "invalid_input" and "out of range" in error["message"]
    assert error["details"]["field"] in params
    assert reply.headers["x-request-id"]


def test_extreme_dates_on_the_dashboard_queue_are_a_notice_not_a_500(open_api: Server, keys: Keys) -> None:
    with httpx.Client(base_url=open_api.url, timeout=30) as browser:
        sign_in(browser, keys.reviewer)
        for params in [*EXTREMES, {"graded_from": "0001-01-01", "graded_to": "9999-12-31"}]:
            page = browser.get("/dashboard/queue", params=params)
            assert page.status_code == 200, page.text[-2000:]
            assert "已忽略" in page.text  # the filter is named as ignored


@pytest.fixture(scope="module")
def failing_api(pg_settings: Settings) -> Iterator[Server]:
    """The real app with one route that raises, for the catch-all 500."""
    app: FastAPI = create_app(pg_settings.model_copy(update={"rate_limit_per_second": 0}))

    @app.get("/boom")
    def boom() -> None:
        raise RuntimeError("an unexpected failure")

    with ServerThread(pg_settings, app) as server:
        yield server


def test_every_error_reply_carries_the_request_id(failing_api: Server, keys: Keys) -> None:
    with failing_api.client() as anonymous, failing_api.client(keys.reviewer) as reviewer:
        replies = {
            # uvicorn closes the connection after an unhandled exception: ask for a fresh one.
            "500 catch-all": anonymous.get("/boom", headers={"Connection": "close"}),
            "401 middleware (no key)": anonymous.get("/api/v1/results"),
            "401 dependency (unknown key)": anonymous.get("/api/v1/results", headers={"X-API-Key": "grd_nope"}),
            "404 route": anonymous.get("/nowhere"),
            "422 validation": reviewer.get("/api/v1/results", params={"score_min": "abc"}),
            "422 extreme date": reviewer.get("/api/v1/stats", params=EXTREMES[0]),
        }
        assert replies["500 catch-all"].status_code == 500
        for what, reply in replies.items():
            assert reply.status_code >= 400, what
            assert reply.headers.get("x-request-id"), f"{what}: {reply.status_code} without X-Request-ID"
        # The body cap answers from a middleware, before reading a byte of the declared 99 MB.
        with raw.connect(failing_api.url) as sock:
            sock.sendall(
                raw.head("POST", "/api/v1/submissions", {"X-API-Key": keys.reviewer, "Content-Length": "99999999"})
            )
            status, headers, _body = raw.read_reply(sock)
        assert status == 413 and headers.get("x-request-id")
        # A request id the client supplied is the one echoed, on a 500 too.
        echoed = anonymous.get("/boom", headers={"X-Request-ID": "probe-0123456789", "Connection": "close"})
        assert echoed.headers["x-request-id"] == "probe-0123456789"
