"""Interactive answers that arrive together are graded together.

Each REST answer has a task of its own on the interactive queue. The worker that takes one also takes
the answers still waiting behind it (up to a chunk, read from the queue without consuming it: see
`grader.queue.tasks`) and grades them as a batch chunk is graded: one claim, one engine call, one
record and commit. A lone answer is graded at once, alone: nothing waits for company.

Once their claim is committed, the answers taken that way have their messages removed from the queue,
so they never become tasks of their own. (Left there, they did: each came up, found its answer graded,
and the next task's window was the same answers shifted by one message, about one new answer in it: a
task graded one answer.) An answer whose message another worker took meanwhile is left to it: the claim
leaves alone what another live worker holds (`leave_leased`), so an answer is graded once. A worker
that dies holding gathered answers stops renewing its lease, and the lease sweep enqueues them again,
as for any claim.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from grader.db.models import Status


def lease_check(me: str, now: datetime) -> Callable[[Any], bool]:
    """Whether a claimed row (status, claimed_by, lease_until) is held by another worker whose lease runs."""

    def leased_elsewhere(row: Any) -> bool:
        return (
            row.status == Status.RUNNING.value
            and row.claimed_by is not None
            and row.claimed_by != me
            and row.lease_until is not None
            and _aware(row.lease_until) > now
        )

    return leased_elsewhere


def _aware(at: datetime) -> datetime:
    # SQLite hands back naive UTC when a column is read through a Core select.
    return at if at.tzinfo is not None else at.replace(tzinfo=UTC)
