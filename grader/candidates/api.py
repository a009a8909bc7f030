"""`/api/v1/interviews` (a candidate's answers in one call) and `/api/v1/candidates` (scorecards, ranking)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Header, Query, Response

from grader.candidates import scorecards
from grader.candidates.interviews import accept_interview
from grader.candidates.schemas import (
    CandidatePage,
    CandidateStatus,
    InterviewCreate,
    InterviewCreated,
    Scorecard,
)
from grader.errors import InvalidInput
from grader.web.deps import QueueDep, ReaderDep, SessionDep, SettingsDep, SubmitterDep

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
    interview, created = accept_interview(
        session,
        data,
        actor=principal,
        max_answer_chars=settings.max_answer_chars,
        queue=queue,
        idempotency_key=idempotency_key,
    )
    response.headers["Location"] = f"/api/v1/interviews/{interview.id}"
    if not created:
        response.headers["Idempotent-Replayed"] = "true"
    return interview


@router.get("/api/v1/interviews/{interview_id}", response_model=Scorecard, responses=ERRORS)
def get_interview(interview_id: uuid.UUID, session: SessionDep, principal: ReaderDep) -> Scorecard:
    """The interview's scorecard: each answer's score, review state, the overall score and standing."""
    return scorecards.interview_scorecard(session, interview_id, principal)


@router.get("/api/v1/candidates", response_model=CandidatePage, responses=ERRORS)
def list_candidates(
    session: SessionDep,
    principal: ReaderDep,
    bank: str | None = None,
    batch: uuid.UUID | None = None,
    since: datetime | None = None,
    status: CandidateStatus | None = None,
    sort: Annotated[str, Query(pattern="^(score|-score|candidate|recent)$")] = "score",
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> CandidatePage:
    """Candidates ranked by overall score (ties share a rank); those still being graded or waiting for a
    reviewer follow with `status` saying so and a partial score, never a 0. Recruiters see their own."""
    if since is not None and since.tzinfo is None:
        raise InvalidInput("since needs a time zone (2026-12-01T00:00:00+08:00 or …Z)", details={"field": "since"})
    f = scorecards.CandidateFilter(bank=bank, batch_id=batch, since=since, status=status)
    return scorecards.ranking(session, principal, f, sort=sort, limit=limit, offset=offset)


@router.get("/api/v1/candidates/{candidate_id}", response_model=Scorecard, responses=ERRORS)
def get_candidate(candidate_id: str, session: SessionDep, principal: ReaderDep) -> Scorecard:
    """The candidate's scorecard over every question they answered (the latest answer to each)."""
    return scorecards.candidate_scorecard(session, candidate_id, principal)
