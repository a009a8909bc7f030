"""`/api/v1/interviews` (a candidate's answers in one call) and `/api/v1/candidates` (scorecards, ranking)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Header, Response

from grader.candidates.interviews import submit_interview
from grader.candidates.schemas import InterviewCreate, InterviewCreated, InterviewSubmission
from grader.db.models import Status
from grader.web.deps import QueueDep, SessionDep, SettingsDep, SubmitterDep

router = APIRouter(tags=["candidates"])

ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"description": "missing or unknown API key"},
    403: {"description": "the key's role may not do this"},
    404: {"description": "unknown candidate or interview (or another recruiter's)"},
}


@router.post(
    "/api/v1/interviews",
    status_code=202,
    response_model=InterviewCreated,
    responses={
        **ERRORS,
        409: {"description": "Idempotency-Key already used with a different body"},
        422: {"description": "bad answers, each named by its index in `details.errors`; nothing was stored"},
    },
)
def create_interview(
    data: InterviewCreate,
    session: SessionDep,
    principal: SubmitterDep,
    settings: SettingsDep,
    queue: QueueDep,
    response: Response,
    idempotency_key: Annotated[
        str | None,
        Header(alias="Idempotency-Key", description="retrying with the same key and body returns the same ids"),
    ] = None,
) -> InterviewCreated:
    """Accept a candidate's answers to several questions of one bank. Each answer is a submission of its
    own (poll `/api/v1/submissions/{id}`); the scorecard is at `/api/v1/interviews/{id}`."""
    accepted = submit_interview(
        session,
        data,
        actor=principal,
        max_answer_chars=settings.max_answer_chars,
        queue=queue,
        idempotency_key=idempotency_key,
    )
    interview = accepted.interview
    response.headers["Location"] = f"/api/v1/interviews/{interview.id}"
    if not accepted.created:
        response.headers["Idempotent-Replayed"] = "true"
    return InterviewCreated(
        id=interview.id,
        candidate_id=interview.candidate_id,
        bank=interview.bank,
        created_at=interview.created_at,
        submissions=[
            InterviewSubmission(index=i, id=s.id, question_id=s.question_id, status=Status(s.status))
            for i, s in enumerate(accepted.submissions)
        ],
    )
