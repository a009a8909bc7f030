"""Dashboard sign-in: a reviewer's API key, exchanged for a signed session cookie, and CSRF tokens.

The cookie holds the key's id, the session's id and its CSRF token, signed with `settings.secret_key`
(itsdangerous, timestamped: it expires after `SESSION_SECONDS`); the API key itself never leaves the
sign-in form. The session is a row (`dashboard_sessions`): every request re-reads it and its key, so
signing out or revoking the key ends the session server-side at once, even for a copied cookie. Every
form carries the session's CSRF token and every POST compares it (synchroniser token); the sign-in form
gets a token in a pre-session cookie, so a third-party page cannot sign a browser into someone's account.
"""

from __future__ import annotations

import hmac
import secrets
from dataclasses import dataclass
from typing import Any

from fastapi import Request, Response
from itsdangerous import BadSignature, URLSafeTimedSerializer

from grader.db.models import Role
from grader.db.session import Session
from grader.keys.principal import Principal
from grader.keys.sessions import session_principal
from grader.settings import Settings

COOKIE = "grader_dashboard"
COOKIE_PATH = "/dashboard"
SESSION_SECONDS = 8 * 3600
ALLOWED = (Role.REVIEWER, Role.ADMIN)


class SignInRequired(Exception):
    """No valid session: the page answers with a redirect to the sign-in page."""

    def __init__(self, next_url: str) -> None:
        super().__init__(next_url)
        self.next_url = next_url


class CsrfRejected(Exception):
    """A form arrived without the session's CSRF token."""


@dataclass(frozen=True)
class DashboardSession:
    csrf: str
    principal: Principal | None
    session_id: str | None = None


def _serializer(settings: Settings) -> URLSafeTimedSerializer:
    # create_app resolves the secret (grader.settings.with_secret); never sign with a missing one.
    if settings.secret_key is None:
        raise RuntimeError("no session secret: build the app with create_app, which resolves it")
    return URLSafeTimedSerializer(settings.secret_key.get_secret_value(), salt="grader-dashboard-session")


def read(request: Request, settings: Settings) -> dict[str, Any] | None:
    raw = request.cookies.get(COOKIE)
    if not raw:
        return None
    try:
        data = _serializer(settings).loads(raw, max_age=SESSION_SECONDS)
    except BadSignature:  # includes SignatureExpired
        return None
    return data if isinstance(data, dict) and isinstance(data.get("csrf"), str) else None


def signed_in(cookie: str, settings: Settings, db: Session) -> bool:
    """Whether a session cookie's value names an open session of an active reviewer or admin: what the
    server checks before it reads a dashboard form's body (grader.web.limits.KeyCheckMiddleware)."""
    try:
        data = _serializer(settings).loads(cookie, max_age=SESSION_SECONDS)
    except BadSignature:
        return False
    if not isinstance(data, dict):
        return False
    key_id, session_id = data.get("key"), data.get("sid")
    if not isinstance(key_id, int) or not isinstance(session_id, str):
        return False  # no session, or a pre-session (the sign-in form's CSRF token only)
    return session_principal(db, session_id, key_id, ALLOWED) is not None


def current(request: Request, settings: Settings, db: Session) -> DashboardSession | None:
    """The signed-in reviewer, or a pre-session (CSRF token only), or None."""
    data = read(request, settings)
    if data is None:
        return None
    key_id, session_id = data.get("key"), data.get("sid")
    if not isinstance(key_id, int):
        return DashboardSession(csrf=data["csrf"], principal=None)
    # A signed cookie is not enough: its session must still be open and its key still active.
    principal = session_principal(db, session_id, key_id, ALLOWED) if isinstance(session_id, str) else None
    if principal is None:
        return None
    return DashboardSession(csrf=data["csrf"], principal=principal, session_id=session_id)


def new_csrf() -> str:
    return secrets.token_urlsafe(32)


def write(
    response: Response,
    request: Request,
    settings: Settings,
    *,
    key_id: int | None,
    csrf: str,
    session_id: str | None = None,
) -> None:
    """Set the session cookie; sign-in passes a fresh CSRF token, so a token seen before it is useless."""
    value = _serializer(settings).dumps({"key": key_id, "sid": session_id, "csrf": csrf})
    response.set_cookie(
        COOKIE,
        value,
        max_age=SESSION_SECONDS,
        path=COOKIE_PATH,
        httponly=True,
        samesite="lax",
        secure=request.url.scheme == "https",
    )


def clear(response: Response) -> None:
    response.delete_cookie(COOKIE, path=COOKIE_PATH)


def check_csrf(session: DashboardSession | None, token: str | None) -> None:
    if session is None or not token or not hmac.compare_digest(session.csrf, token):
        raise CsrfRejected()
