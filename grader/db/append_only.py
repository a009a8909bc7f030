"""The audit log is append-only, enforced twice: the database refuses UPDATE and DELETE on `audit_log`
(a trigger on Postgres, migration 0001), and the ORM refuses to flush a changed or
deleted `AuditEntry` or to run a bulk UPDATE/DELETE on the table, so the mistake fails in tests and in
the application before it reaches the database."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Delete, Update, event
from sqlalchemy.orm import ORMExecuteState, Session

from grader.db.models import AuditEntry


class AuditLogIsAppendOnly(RuntimeError):
    pass


@event.listens_for(Session, "before_flush")
def _no_changed_audit_rows(session: Session, _context: Any, _instances: Any) -> None:
    for obj in session.deleted:
        if isinstance(obj, AuditEntry):
            raise AuditLogIsAppendOnly(f"audit_log is append-only: DELETE of entry {obj.id} refused")
    for obj in session.dirty:
        if isinstance(obj, AuditEntry) and session.is_modified(obj, include_collections=False):
            raise AuditLogIsAppendOnly(f"audit_log is append-only: UPDATE of entry {obj.id} refused")


@event.listens_for(Session, "do_orm_execute")
def _no_bulk_audit_changes(state: ORMExecuteState) -> None:
    statement = state.statement
    table = getattr(statement, "table", None)
    if isinstance(statement, Update | Delete) and getattr(table, "name", None) == AuditEntry.__tablename__:
        raise AuditLogIsAppendOnly(f"audit_log is append-only: bulk {type(statement).__name__.upper()} refused")
