"""Issue 18, items 1, 8, 9 and 10: edges an outside probe found open, each rerun against a real server.

1. `POST /dashboard/banks/import` read the whole (21 MB capped) body before it checked the session:
   anonymous slow uploads filled the API's memory. Now every dashboard form but the sign-in is refused
   (303 to the sign-in page, connection closed) before a byte of its body is read, and the import form
   buffers no more than its own 1 MB cap plus the form.
8. `/docs` loaded Swagger UI from a CDN into the app's origin. Now it and `/redoc` load only files served
   by the app, under the dashboard's CSP.
9. The embedded database and its -wal/-shm were 0644. Now 0600.
10. `X-Forwarded-For` was believed from any loopback peer, so a fresh header per request escaped the
    per-address budget. Now it is believed only from the proxies named in GRADER_TRUSTED_PROXIES.
"""

from __future__ import annotations

import re
import secrets
import stat
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from grader.settings import Settings
from tests.support import raw
from tests.support.dashboard import sign_in
from tests.support.processes import embedded_env, run, start_server
from tests.support.services import Keys, Server, ServerThread

pytestmark = [pytest.mark.services]


def declared_upload(url: str, path: str, length: int, cookie: str | None = None) -> tuple[int, dict[str, str], bool]:
    """A multipart POST that declares `length` bytes and sends only its first few: the status, headers and
    whether the server closed the connection, all without the rest of the body ever being sent."""
    headers = {"Content-Type": "multipart/form-data; boundary=x", "Content-Length": str(length)}
    if cookie:
        headers["Cookie"] = cookie
    with raw.connect(url, timeout=10) as sock:
        sock.sendall(raw.head("POST", path, headers) + b"--x\r\n")
        status, reply_headers, _body = raw.read_reply(sock)
        return status, reply_headers, raw.closed_by_server(sock)


def test_anonymous_dashboard_forms_are_refused_before_their_body(open_api: Server) -> None:
    for path in ("/dashboard/banks/import", "/dashboard/results/1/review", "/dashboard/banks/x/publish"):
        status, headers, closed = declared_upload(open_api.url, path, 900_000)
        assert status == 303 and headers["location"].startswith("/dashboard/login"), (path, status, headers)
        assert closed, "the unread body's connection must be closed"
    # A pre-session (the sign-in form's cookie) and a forged cookie are no session either.
    with httpx.Client(base_url=open_api.url) as browser:
        browser.get("/dashboard/login")
        pre_session = f"grader_dashboard={browser.cookies['grader_dashboard']}"
    for cookie in (pre_session, "grader_dashboard=forged.value.here"):
        status, headers, _closed = declared_upload(open_api.url, "/dashboard/banks/import", 900_000, cookie)
        assert status == 303, (cookie, status, headers)


def test_a_signed_in_import_is_refused_past_the_forms_own_cap_unread(open_api: Server, keys: Keys) -> None:
    with httpx.Client(base_url=open_api.url) as browser:
        sign_in(browser, keys.admin)
        cookie = f"grader_dashboard={browser.cookies['grader_dashboard']}"
    status, _headers, closed = declared_upload(open_api.url, "/dashboard/banks/import", 2_000_000, cookie)
    assert status == 413 and closed  # 1 MB form cap: not the 22 MB the API's upload doors take
    status, _headers, _closed = declared_upload(open_api.url, "/api/v1/batches", 20_000_000)
    assert status == 401  # the API door without a key, as before


ASSET = re.compile(r"""(?:src|href)=['"]([^'"]+)['"]""")


@pytest.fixture(scope="module")
def no_docs(pg_settings: Settings) -> Iterator[Server]:
    with ServerThread(pg_settings.model_copy(update={"api_docs": False})) as server:
        yield server


def test_api_docs_load_only_the_apps_own_files_under_its_csp(open_api: Server, no_docs: Server) -> None:
    with httpx.Client(base_url=open_api.url) as client:
        for page in ("/docs", "/redoc"):
            reply = client.get(page)
            assert reply.status_code == 200, reply.text
            csp = reply.headers["content-security-policy"]
            assert "script-src 'self'" in csp and "unsafe-inline" not in csp.split("script-src")[1].split(";")[0]
            assert "<script>" not in reply.text  # no inline script: the CSP would block it anyway
            assets = ASSET.findall(reply.text)
            assert assets and all(a.startswith("/docs/static/") for a in assets), assets
            for asset in assets:
                loaded = client.get(asset)
                assert loaded.status_code == 200 and len(loaded.content) > 0, asset
                assert loaded.headers["content-security-policy"] == csp
        assert client.get("/openapi.json").status_code == 200
        assert client.get("/docs/static/../../settings.py").status_code == 404
    with httpx.Client(base_url=no_docs.url) as client:
        assert client.get("/docs").status_code == 404 and client.get("/redoc").status_code == 404


@pytest.mark.slow
def test_the_embedded_database_and_its_side_files_are_private(tmp_path: Path) -> None:
    env = embedded_env(tmp_path)
    run(["db", "upgrade"], env, tmp_path)
    admin = run(["keys", "create", "--role", "admin", "--name", "ops"], env, tmp_path).stdout.strip()
    server, url = start_server(env, tmp_path)
    try:
        with httpx.Client(base_url=url) as browser:
            sign_in(browser, admin)  # writes a session row: the WAL is in use
        files = [tmp_path / name for name in ("grader.db", "grader.db-wal", "grader.db-shm")]
        assert all(f.exists() for f in files), list(tmp_path.iterdir())
        for file in files:
            assert stat.S_IMODE(file.stat().st_mode) == 0o600, (file.name, oct(file.stat().st_mode))
    finally:
        server.stop()


def random_keys_from_fresh_addresses(url: str, count: int) -> Counter[int]:
    statuses: Counter[int] = Counter()
    with httpx.Client(base_url=url) as client:
        for n in range(count):
            reply = client.get(
                "/api/v1/questions",
                headers={
                    "X-API-Key": "grd_" + secrets.token_urlsafe(32),
                    "X-Forwarded-For": f"10.{n % 250}.{n // 250}.7",
                },
            )
            statuses[reply.status_code] += 1
    return statuses


@pytest.mark.slow
def test_forwarded_addresses_are_believed_only_from_named_proxies(tmp_path: Path) -> None:
    budget = str(Settings.model_fields["auth_failures_burst"].default)
    env = embedded_env(tmp_path, auth_failures_burst=budget)
    run(["db", "upgrade"], env, tmp_path)
    server, url = start_server(env, tmp_path)
    try:
        statuses = random_keys_from_fresh_addresses(url, 40)
        assert statuses[429] >= 40 - int(budget) - 2, statuses  # one budget: the header bought nothing
    finally:
        server.stop()
    # Behind a proxy named in the setting the header is the client's address: each has its own budget.
    env = embedded_env(tmp_path, auth_failures_burst=budget, trusted_proxies='["127.0.0.1"]')
    server, url = start_server(env, tmp_path, name="behind-proxy")
    try:
        statuses = random_keys_from_fresh_addresses(url, 40)
        assert statuses == Counter({401: 40}), statuses
    finally:
        server.stop()
