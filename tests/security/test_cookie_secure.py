"""The session cookie's `Secure` flag behind a TLS proxy (issue 13, not confirmed by the probe): uvicorn
with proxy headers (as `grader serve` runs it when GRADER_TRUSTED_PROXIES names the proxy) trusts
`X-Forwarded-Proto` from the addresses in forwarded-allow-ips, so a proxy that terminates TLS gets a Secure
cookie; plain http locally gets none, and the header from an address not trusted is ignored."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from grader.settings import Settings
from tests.support.services import Server, ServerThread

pytestmark = [pytest.mark.services]


def session_cookie(server: Server, headers: dict[str, str]) -> str:
    with server.client() as client:
        reply = client.get("/dashboard/login", headers=headers)
    assert reply.status_code == 200
    cookie = next(v for k, v in reply.headers.multi_items() if k == "set-cookie" and "grader_dashboard=" in v)
    return cookie.lower()


@pytest.fixture(scope="module")
def behind_proxy(pg_settings: Settings) -> Iterator[Server]:
    with ServerThread(pg_settings, proxy_headers=True, forwarded_allow_ips="127.0.0.1") as server:
        yield server


@pytest.fixture(scope="module")
def proxy_elsewhere(pg_settings: Settings) -> Iterator[Server]:
    with ServerThread(pg_settings, proxy_headers=True, forwarded_allow_ips="10.9.9.9") as server:
        yield server


def test_secure_behind_a_trusted_tls_proxy_and_not_on_plain_http(behind_proxy: Server) -> None:
    assert "; secure" in session_cookie(behind_proxy, {"X-Forwarded-Proto": "https", "X-Forwarded-For": "203.0.113.7"})
    plain = session_cookie(behind_proxy, {})
    assert "; secure" not in plain and "httponly" in plain and "samesite=lax" in plain


def test_x_forwarded_proto_from_an_untrusted_address_is_ignored(proxy_elsewhere: Server) -> None:
    assert "; secure" not in session_cookie(proxy_elsewhere, {"X-Forwarded-Proto": "https"})
