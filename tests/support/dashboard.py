"""Signing in to the dashboard over real HTTP, as a browser does: the pre-session cookie, its CSRF token."""

from __future__ import annotations

import re

import httpx

CSRF_RE = re.compile(r'name="csrf_token" value="([^"]+)"')


def csrf_of(html: str) -> str:
    found = CSRF_RE.search(html)
    assert found, "no CSRF token in the page"
    return found.group(1)


def sign_in(client: httpx.Client, key: str) -> str:
    """Sign `client` in with `key`; returns the session's CSRF token (from the queue page)."""
    form = client.get("/dashboard/login")
    assert form.status_code == 200, form.text
    reply = client.post(
        "/dashboard/login", data={"api_key": key, "csrf_token": csrf_of(form.text), "next": "/dashboard/queue"}
    )
    assert reply.status_code == 303, reply.text
    page = client.get("/dashboard/queue")
    assert page.status_code == 200, page.text
    return csrf_of(page.text)
