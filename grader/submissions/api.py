"""`/api/v1/submissions`: submit an answer (202, graded in the background), read it back, list."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Header, Query, Response

from grader.db.models import Status
from grader.submissions import reads
from grader.submissions.schemas import SubmissionCreate, SubmissionOut, SubmissionPage
from grader.submissions.submit import accept
from grader.web.deps import QueueDep, ReaderDep, SessionDep, SettingsDep, SubmitterDep

router = APIRouter(prefix="/api/v1/submissions", tags=["submissions"])

ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"description": "missing or unknown API key"},
    403: {"description": "the key's role may not do this"},
    404: {"description": "unknown question or submission (or another recruiter's)"},
    422: {"description": "invalid body: empty or over-long answer, malformed JSON, missing field"},
}


@router.post(
    "",
    status_code=202,
    response_model=SubmissionOut,
    responses={**ERRORS, 409: {"description": "Idempotency-Key already used with a different body"}},
)
def create_submission(
    data: SubmissionCreate,
    session: SessionDep,
    principal: SubmitterDep,
    settings: SettingsDep,
    queue: QueueDep,
    response: Response,
    idempotency_key: Annotated[
        str | None,
        Header(alias="Idempotency-Key", description="retrying with the same key and body returns the same submission"),
    ] = None,
) -> SubmissionOut:
    """Accept an answer for grading. Poll the `Location` it returns until `status` is no longer pending."""
    submission, created = accept(
        session,
        data,
        actor=principal,
        max_answer_chars=settings.max_answer_chars,
        queue=queue,
        idempotency_key=idempotency_key,
    )
    response.headers["Location"] = f"{router.prefix}/{submission.id}"
    if not created:
        response.headers["Idempotent-Replayed"] = "true"
    return submission


@router.get("/{submission_id}", response_model=SubmissionOut, responses=ERRORS)
def get_submission(submission_id: uuid.UUID, session: SessionDep, principal: ReaderDep) -> SubmissionOut:
    """The submission's status and, once graded, the full result with its per-key-point breakdown."""
    return reads.submission_view(session, submission_id, principal)


@router.get("", response_model=SubmissionPage, responses=ERRORS)
def list_submissions(
    session: SessionDep,
    principal: ReaderDep,
    candidate_id: str | None = None,
    question_id: str | None = None,
    status: Status | None = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> SubmissionPage:
    """Newest first. Recruiters see their own submissions; reviewers and admins see all."""
    return reads.submission_page(
        session,
        principal,
        reads.SubmissionFilter(candidate_id, question_id, status),
        limit=limit,
        offset=offset,
    )
