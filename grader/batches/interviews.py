"""One candidate's rows of an answer sheet form that candidate's interview (`grader.db.candidate_models`):
written with the batch, so scorecards and `interview.completed` see a sheet as interviews too."""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Sequence
from typing import Any

from sqlalchemy import insert
from sqlalchemy.orm import Session

from grader.db.base import utcnow
from grader.db.candidate_models import Interview, InterviewItem
from grader.keys.principal import Principal


def group_sheet_interviews(
    session: Session,
    *,
    batch_id: uuid.UUID,
    actor: Principal,
    rows: Sequence[tuple[uuid.UUID, str, str | None, str | None]],
) -> int:
    """One interview per candidate of an answer sheet: `rows` are (submission id, candidate id, name,
    email) in sheet order. Bulk inserts (a sheet can hold tens of thousands of answers). Returns how many."""
    by_candidate: dict[str, list[tuple[uuid.UUID, str | None, str | None]]] = defaultdict(list)
    for sid, candidate_id, name, email in rows:
        by_candidate[candidate_id].append((sid, name, email))
    if not by_candidate:
        return 0
    now = utcnow()
    interviews: list[dict[str, Any]] = []
    items: list[dict[str, Any]] = []
    for candidate_id, answers in by_candidate.items():
        iid = uuid.uuid4()
        name = next((n for _, n, _ in answers if n), None)
        email = next((e for _, _, e in answers if e), None)
        interviews.append(
            {
                "id": iid,
                "candidate_id": candidate_id,
                "candidate_name": name,
                "candidate_email": email,
                "submitted_by": actor.key_id,
                "batch_id": batch_id,
                "created_at": now,
            }
        )
        items.extend(
            {"submission_id": sid, "interview_id": iid, "position": i} for i, (sid, _, _) in enumerate(answers)
        )
    session.execute(insert(Interview), interviews)
    session.execute(insert(InterviewItem), items)
    return len(interviews)
