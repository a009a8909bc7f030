"""The audit trail: every use case that changes state records who did what to which entity.

One function for every feature, so entries look the same whoever writes them. It only adds the row to
the caller's session; the caller's transaction decides whether it is kept (`grader.db.append_only`
makes sure it is never changed afterwards).
"""

from __future__ import annotations

from typing import Any, Protocol

from sqlalchemy.orm import Session

from grader.db.models import AuditEntry


class Actor(Protocol):
    """Who did it, as the trail records it: a `grader.keys.principal.Principal` (the keys feature records
    its own changes here, so the trail names no feature)."""

    @property
    def key_id(self) -> int | None: ...

    @property
    def name(self) -> str: ...


def audit(session: Session, actor: Actor, action: str, entity_type: str, entity_id: object, **details: Any) -> None:
    session.add(
        AuditEntry(
            actor_key_id=actor.key_id,
            actor=actor.name,
            action=action,
            entity_type=entity_type,
            entity_id=str(entity_id),
            details=details,
        )
    )
