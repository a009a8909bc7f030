"""The groups of submission statuses the features reason with, named once.

pending ─┐ OPEN: waiting for a grade (claims take them, sweeps re-queue them)
running ─┘
graded ───────┐ GRADED: carry a grade to show (result rows, batch results)
needs_review ─┘
failed         with GRADED, FINISHED: nothing more happens without a person or a re-grade
"""

from __future__ import annotations

from collections.abc import Iterable

from grader.db.models import Status

OPEN = (Status.PENDING, Status.RUNNING)
GRADED = (Status.GRADED, Status.NEEDS_REVIEW)
FINISHED = (*GRADED, Status.FAILED)


def values(statuses: Iterable[Status]) -> list[str]:
    """The column values, for SQL `IN (...)`."""
    return [status.value for status in statuses]
