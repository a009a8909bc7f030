"""`/api/v1/keys`: admins create, list and revoke API keys."""

from __future__ import annotations

from fastapi import APIRouter

from grader.keys import api_keys
from grader.keys.schemas import KeyCreate, KeyCreated, KeyOut
from grader.web.deps import AdminDep, SessionDep

router = APIRouter(prefix="/api/v1/keys", tags=["api keys"])


@router.post("", status_code=201, response_model=KeyCreated)
def create_key(data: KeyCreate, session: SessionDep, principal: AdminDep) -> KeyCreated:
    """Create a key; the response holds the key itself, which is never shown again."""
    return api_keys.issue_key(session, data.name, data.role, principal)


@router.get("", response_model=list[KeyOut])
def list_keys(session: SessionDep, _principal: AdminDep) -> list[KeyOut]:
    return api_keys.key_list(session)


@router.delete("/{key_id}", response_model=KeyOut)
def revoke_key(key_id: int, session: SessionDep, principal: AdminDep) -> KeyOut:
    return api_keys.revoked(session, key_id, principal)
