"""Hole 7 of issue 13: `/metrics` needed no key and counted every submission on every scrape.

Now it answers the addresses in `metrics_allow` (loopback by default) or `Authorization: Bearer
<metrics_key>`, and the submissions-by-status gauge is counted at most every `metrics_refresh_seconds`:
fifty scrapes run at most one count (statements counted on the server's own engine, real Postgres)."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from typing import Any

import pytest
from pydantic import SecretStr
from sqlalchemy import event

from grader.db.session import get_engine
from grader.settings import Settings
from tests.support.services import Server, ServerThread

pytestmark = [pytest.mark.services]

METRICS_KEY = secrets.token_hex(32)


@pytest.fixture(scope="module")
def remote_only(pg_settings: Settings) -> Iterator[Server]:
    """An API whose allow-list leaves the test's own address (loopback) out, with a metrics key."""
    settings = pg_settings.model_copy(
        update={"metrics_allow": ["10.0.0.0/8"], "metrics_key": SecretStr(METRICS_KEY), "rate_limit_per_second": 0}
    )
    with ServerThread(settings) as server:
        yield server


def test_metrics_refused_outside_the_allow_list_without_the_key(remote_only: Server) -> None:
    with remote_only.client() as client:
        assert client.get("/metrics").status_code == 403
        assert client.get("/metrics", headers={"Authorization": "Bearer wrong"}).status_code == 403
        assert client.get("/metrics", headers={"X-API-Key": METRICS_KEY}).status_code == 403
        reply = client.get("/metrics", headers={"Authorization": f"Bearer {METRICS_KEY}"})
        assert reply.status_code == 200 and "grader_submissions" in reply.text


def test_metrics_served_to_loopback_by_default(open_api: Server) -> None:
    assert Settings().metrics_allow == ["127.0.0.0/8", "::1/128"]
    with open_api.client() as client:
        reply = client.get("/metrics")
        assert reply.status_code == 200 and "grader_http_request_duration_seconds" in reply.text


def test_fifty_scrapes_run_at_most_one_count(open_api: Server) -> None:
    engine = get_engine(open_api.settings.database_url)
    counts: list[str] = []

    def seen(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        lowered = statement.lower()
        if "count(" in lowered and "submissions" in lowered:
            counts.append(statement)

    event.listen(engine, "before_cursor_execute", seen)
    try:
        with open_api.client() as client:
            for _ in range(50):
                reply = client.get("/metrics")
                assert reply.status_code == 200
                assert 'grader_submissions{status="' in reply.text or "grader_submissions " in reply.text
    finally:
        event.remove(engine, "before_cursor_execute", seen)
    assert len(counts) <= 1, f"{len(counts)} count statements over 50 scrapes"
