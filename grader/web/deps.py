"""Request dependencies as `Annotated` aliases: an endpoint states what it needs in its signature.

The session dependency owns the transaction: it commits when the endpoint returns (before the response
is sent, `scope="function"`, so a client that follows `Location` finds the row) and rolls back when it
raises. Use cases never commit.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Request, Security
from fastapi.security import APIKeyHeader

from grader.db.models import Role
from grader.db.session import Session, session_scope
from grader.keys.api_keys import authenticate
from grader.keys.principal import Principal, require
from grader.queue.port import Queue
from grader.settings import Settings


def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


SettingsDep = Annotated[Settings, Depends(get_settings)]


def get_db(request: Request) -> Iterator[Session]:
    with session_scope(request.app.state.sessions) as session:
        yield session


SessionDep = Annotated[Session, Depends(get_db, scope="function")]


def get_queue(request: Request) -> Queue:
    queue: Queue = request.app.state.queue
    return queue


QueueDep = Annotated[Queue, Depends(get_queue)]

api_key_header = APIKeyHeader(
    name="X-API-Key", auto_error=False, description="an API key from `grader keys create` or POST /api/v1/keys"
)


def get_principal(session: SessionDep, key: Annotated[str | None, Security(api_key_header)]) -> Principal:
    return authenticate(session, key)


PrincipalDep = Annotated[Principal, Depends(get_principal)]


def _roles(*roles: Role) -> object:
    def check(principal: PrincipalDep) -> Principal:
        return require(principal, *roles)

    return Depends(check)


SubmitterDep = Annotated[Principal, _roles(Role.RECRUITER, Role.ADMIN)]
ReaderDep = Annotated[Principal, _roles(Role.RECRUITER, Role.REVIEWER, Role.ADMIN)]
AdminDep = Annotated[Principal, _roles(Role.ADMIN)]
ReviewerDep = Annotated[Principal, _roles(Role.REVIEWER, Role.ADMIN)]
