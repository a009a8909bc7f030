"""Who is calling, and what their role allows.

Roles nest: admin > reviewer > recruiter, except that only recruiters and admins submit answers
(reviewers judge them, they do not send them in).
"""

from __future__ import annotations

from dataclasses import dataclass

from grader.db.models import Role
from grader.errors import Forbidden


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


def require(principal: Principal, *roles: Role) -> Principal:
    if principal.role not in roles:
        allowed = " or ".join(r.value for r in roles)
        raise Forbidden(
            f"this needs the {allowed} role; key '{principal.name}' is {principal.role.value}",
            details={"role": principal.role.value, "allowed": [r.value for r in roles]},
        )
    return principal
