"""What the dashboard's bank pages need beside the bank use cases themselves: each change undone as a
whole when it refuses (so the page can carry on in the same transaction and show the bank as it is,
with the reason), and the bank's audit trail.

Plain functions over the caller's Session, like `grader.questions.banks`; the caller commits.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import ParamSpec, TypeVar

from sqlalchemy import select
from sqlalchemy.orm import Session

from grader.db.models import AuditEntry
from grader.questions.banks import get_bank

P = ParamSpec("P")
T = TypeVar("T")


def atomically(session: Session, use_case: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
    """Run `use_case(*args, **kwargs)` (which takes `session` among its arguments) in a savepoint:
    when it raises (a refused file, an invalid edit, a concurrent publish), everything it wrote is
    rolled back and the caller's transaction stays usable."""
    with session.begin_nested():
        return use_case(*args, **kwargs)


def bank_history(session: Session, bank: str, limit: int = 50) -> list[AuditEntry]:
    """The bank's audit entries (imports, draft edits, publishes, calibrations), newest first."""
    get_bank(session, bank)
    return list(
        session.scalars(
            select(AuditEntry)
            .where(AuditEntry.entity_type == "bank", AuditEntry.entity_id == bank)
            .order_by(AuditEntry.at.desc(), AuditEntry.id.desc())
            .limit(limit)
        )
    )
