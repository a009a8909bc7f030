"""Dashboard sessions, server-side: opened at sign-in, ended by sign-out or by revoking their key.

The signed cookie only names a session; this table decides whether it is still open, so a cookie
copied before sign-out is refused after it. Functions take the caller's session and never commit.
"""

from __future__ import annotations

import secrets
from collections.abc import Collection

from sqlalchemy import update
from sqlalchemy.orm import Session

from grader.audit import audit
from grader.db.base import utcnow
from grader.db.models import DashboardSession, Role
from grader.keys.api_keys import principal_of
from grader.keys.principal import Principal


def open_session(session: Session, principal: Principal) -> str:
    """A new session for `principal` (an API key), audited as a sign-in; returns its id."""
    assert principal.key_id is not None
    session_id = secrets.token_urlsafe(32)
    session.add(DashboardSession(id=session_id, key_id=principal.key_id))
    audit(session, principal, "dashboard.signed_in", "api_key", principal.key_id)
    return session_id


def session_principal(session: Session, session_id: str, key_id: int, roles: Collection[Role]) -> Principal | None:
    """The principal of an open session of `key_id` whose key is active and holds one of `roles`."""
    row = session.get(DashboardSession, session_id)
    if row is None or row.revoked_at is not None or row.key_id != key_id:
        return None
    return principal_of(session, key_id, roles)


def close_session(session: Session, session_id: str, principal: Principal) -> None:
    """Sign-out: the session ends server-side, and the audit log says who signed out."""
    result = session.execute(
        update(DashboardSession)
        .where(DashboardSession.id == session_id, DashboardSession.revoked_at.is_(None))
        .values(revoked_at=utcnow())
    )
    if getattr(result, "rowcount", 0):
        audit(session, principal, "dashboard.signed_out", "api_key", principal.key_id)


def end_sessions_of(session: Session, key_id: int) -> int:
    """End every open session of a key (on revocation); how many were open."""
    result = session.execute(
        update(DashboardSession)
        .where(DashboardSession.key_id == key_id, DashboardSession.revoked_at.is_(None))
        .values(revoked_at=utcnow())
    )
    return int(getattr(result, "rowcount", 0) or 0)
