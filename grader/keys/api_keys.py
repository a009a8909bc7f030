"""API keys: create, list, revoke, and find the principal behind a key.

A key is `grd_` + 32 random bytes (URL-safe base64); only its sha256 is stored. A slow password hash
buys nothing for a 256-bit random secret, and a plain digest lets every request find its key with
one indexed lookup. Functions take the caller's session and never commit.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Collection

from sqlalchemy import select
from sqlalchemy.orm import Session

from grader.audit import audit
from grader.db.base import utcnow
from grader.db.models import ApiKey, Role
from grader.errors import InvalidInput, NotFound, Unauthorized
from grader.keys.principal import Principal
from grader.keys.schemas import KeyCreated, KeyOut

KEY_PREFIX = "grd_"


def hash_key(raw: str) -> str:
    return hashlib.sha256(raw.encode("utf-8")).hexdigest()


def create_key(session: Session, name: str, role: Role) -> tuple[ApiKey, str]:
    """A new key row and the key itself, which exists nowhere else once the caller has shown it."""
    if not name.strip():
        raise InvalidInput("a key needs a name saying who holds it, e.g. --name screening-team")
    raw = KEY_PREFIX + secrets.token_urlsafe(32)
    key = ApiKey(name=name.strip(), role=role.value, key_hash=hash_key(raw), prefix=raw[:10])
    session.add(key)
    session.flush()
    return key, raw


def authenticate(session: Session, raw: str | None) -> Principal:
    if not raw:
        raise Unauthorized(
            "missing API key: send it in the X-API-Key header (an admin creates one with `grader keys create`)"
        )
    key = session.scalar(select(ApiKey).where(ApiKey.key_hash == hash_key(raw.strip())))
    if key is None or key.revoked_at is not None:
        raise Unauthorized("unknown or revoked API key")
    return Principal(key_id=key.id, name=key.name, role=Role(key.role))


def is_active_key(session: Session, raw: str) -> bool:
    """Whether `raw` is a key that exists and is not revoked (the gate before a body is read)."""
    found = session.scalar(
        select(ApiKey.id).where(ApiKey.key_hash == hash_key(raw.strip()), ApiKey.revoked_at.is_(None))
    )
    return found is not None


def principal_of(session: Session, key_id: int, roles: Collection[Role]) -> Principal | None:
    """The principal of a key still active and holding one of `roles` (a dashboard session re-reads its
    key on every request, so revoking the key ends the session at once); None otherwise."""
    key = session.get(ApiKey, key_id)
    if key is None or key.revoked_at is not None or Role(key.role) not in roles:
        return None
    return Principal(key_id=key.id, name=key.name, role=Role(key.role))


def create_api_key(session: Session, name: str, role: Role, actor: Principal) -> tuple[ApiKey, str]:
    key, raw = create_key(session, name, role)
    audit(session, actor, "api_key.created", "api_key", key.id, name=key.name, role=role.value)
    return key, raw


def list_keys(session: Session) -> list[ApiKey]:
    return list(session.scalars(select(ApiKey).order_by(ApiKey.id)))


def revoke_key(session: Session, key_id: int, actor: Principal) -> ApiKey:
    key = session.get(ApiKey, key_id)
    if key is None:
        raise NotFound(f"API key {key_id} does not exist", details={"key_id": key_id})
    if key.revoked_at is None:
        from grader.keys.sessions import end_sessions_of  # sessions.py builds on this module

        key.revoked_at = utcnow()
        ended = end_sessions_of(session, key_id)
        audit(session, actor, "api_key.revoked", "api_key", key_id, name=key.name, sessions_ended=ended)
    return key


# --- as `/api/v1/keys` shows them (never the hash) -------------------------------------------------------------


def key_out(key: ApiKey) -> KeyOut:
    return KeyOut(
        id=key.id,
        name=key.name,
        role=Role(key.role),
        prefix=key.prefix,
        created_at=key.created_at,
        revoked_at=key.revoked_at,
    )


def issue_key(session: Session, name: str, role: Role, actor: Principal) -> KeyCreated:
    """`create_api_key`, with the key itself in the answer: shown this once."""
    key, raw = create_api_key(session, name, role, actor)
    return KeyCreated(**key_out(key).model_dump(), key=raw)


def key_list(session: Session) -> list[KeyOut]:
    return [key_out(k) for k in list_keys(session)]


def revoked(session: Session, key_id: int, actor: Principal) -> KeyOut:
    return key_out(revoke_key(session, key_id, actor))
