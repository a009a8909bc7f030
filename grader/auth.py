"""API keys and roles.

A key is `grd_` + 32 random bytes (URL-safe base64); only its sha256 is stored. A slow password hash
buys nothing for a 256-bit random secret, and a plain digest lets every request find its key with
one indexed lookup. Roles nest: admin > reviewer > recruiter, except that only recruiters and
admins submit answers (reviewers judge them, they do not send them in).
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from grader.db.models import ApiKey, Role
from grader.errors import Forbidden, InvalidInput, Unauthorized

KEY_PREFIX = "grd_"


@dataclass(frozen=True)
class Principal:
    """Who is calling: an API key, or the operator at the command line (`key_id` None)."""

    key_id: int | None
    name: str
    role: Role

    @property
    def sees_everything(self) -> bool:
        return self.role in (Role.REVIEWER, Role.ADMIN)


CLI = Principal(key_id=None, name="cli", role=Role.ADMIN)
SYSTEM = Principal(key_id=None, name="system", role=Role.ADMIN)


def hash_key(raw: str) -> str:
    return hashlib.sha256(raw.encode("utf-8")).hexdigest()


def parse_role(value: str) -> Role:
    try:
        return Role(value)
    except ValueError:
        raise InvalidInput(f"unknown role {value!r}; use one of: {', '.join(r.value for r in Role)}",
                           details={"role": value}) from None


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
        raise Unauthorized("missing API key: send it in the X-API-Key header "
                           "(an admin creates one with `grader keys create`)")
    key = session.scalar(select(ApiKey).where(ApiKey.key_hash == hash_key(raw.strip())))
    if key is None or key.revoked_at is not None:
        raise Unauthorized("unknown or revoked API key")
    return Principal(key_id=key.id, name=key.name, role=Role(key.role))


def require(principal: Principal, *roles: Role) -> Principal:
    if principal.role not in roles:
        allowed = " or ".join(r.value for r in roles)
        raise Forbidden(f"this needs the {allowed} role; key '{principal.name}' is {principal.role.value}",
                        details={"role": principal.role.value, "allowed": [r.value for r in roles]})
    return principal
