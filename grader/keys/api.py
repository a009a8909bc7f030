"""`/api/v1/keys`: admins create, list and revoke API keys."""

from __future__ import annotations

from fastapi import APIRouter

from grader.db.models import ApiKey, Role
from grader.keys import api_keys
from grader.keys.schemas import KeyCreate, KeyCreated, KeyOut
from grader.web.deps import AdminDep, SessionDep

router = APIRouter(prefix="/api/v1/keys", tags=["api keys"])


def key_out(key: ApiKey) -> KeyOut:
    return KeyOut(
        id=key.id,
        name=key.name,
        role=Role(key.role),
        prefix=key.prefix,
        created_at=key.created_at,
        revoked_at=key.revoked_at,
    )


@router.post("", status_code=201, response_model=KeyCreated)
def create_key(data: KeyCreate, session: SessionDep, principal: AdminDep) -> KeyCreated:
    """Create a key; the response holds the key itself, which is never shown again."""
    key, raw = api_keys.create_api_key(session, data.name, data.role, principal)
    return KeyCreated(**key_out(key).model_dump(), key=raw)


@router.get("", response_model=list[KeyOut])
def list_keys(session: SessionDep, _principal: AdminDep) -> list[KeyOut]:
    return [key_out(k) for k in api_keys.list_keys(session)]


@router.delete("/{key_id}", response_model=KeyOut)
def revoke_key(key_id: int, session: SessionDep, principal: AdminDep) -> KeyOut:
    return key_out(api_keys.revoke_key(session, key_id, principal))
