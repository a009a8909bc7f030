"""`/api/v1/submissions`: submit an answer (202, graded in the background), read it back, list."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Header, Query, Response

from grader.db.models import Grade, Status, Submission
from grader.submissions import reads
from grader.submissions.schemas import (
    GradeOut,
    KeyPointGrade,
    SubmissionCreate,
    SubmissionOut,
    SubmissionPage,
    SubmissionSummary,
)
from grader.submissions.submit import submit
from grader.web.deps import QueueDep, ReaderDep, SessionDep, SettingsDep, SubmitterDep

router = APIRouter(prefix="/api/v1/submissions", tags=["submissions"])

ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"description": "missing or unknown API key"},
    403: {"description": "the key's role may not do this"},
    404: {"description": "unknown question or submission (or another recruiter's)"},
    422: {"description": "invalid body: empty or over-long answer, malformed JSON, missing field"},
}


def grade_out(grade: Grade) -> GradeOut:
    return GradeOut(
        score=grade.score,
        confidence=grade.confidence,
        flags=list(grade.flags),
        feedback=grade.feedback,
        key_points=[KeyPointGrade.model_validate(kp) for kp in grade.key_points],
        scoring_version=grade.scoring_version,
        reference_hash=grade.reference_hash,
        embedder=grade.embedder,
        calibration=grade.calibration,
        graded_at=grade.created_at,
    )


def submission_out(submission: Submission, grade: Grade | None) -> SubmissionOut:
    return SubmissionOut(
        id=submission.id,
        status=Status(submission.status),
        candidate_id=submission.candidate_id,
        candidate_name=submission.candidate_name,
        candidate_email=submission.candidate_email,
        question_id=submission.question_id,
        reference_hash=submission.reference_hash,
        answer=submission.answer,
        created_at=submission.created_at,
        updated_at=submission.updated_at,
        failure_reason=submission.failure_reason,
        grade=grade_out(grade) if grade is not None else None,
    )


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
    submission, created = submit(
        session,
        data,
        actor=principal,
        max_answer_chars=settings.max_answer_chars,
        queue=queue,
        idempotency_key=idempotency_key,
    )
    response.headers["Location"] = f"{router.prefix}/{submission.id}"
    grade = None
    if not created:
        response.headers["Idempotent-Replayed"] = "true"
        grade = reads.latest_grades(session, [submission.id]).get(submission.id)
    return submission_out(submission, grade)


@router.get("/{submission_id}", response_model=SubmissionOut, responses=ERRORS)
def get_submission(submission_id: uuid.UUID, session: SessionDep, principal: ReaderDep) -> SubmissionOut:
    """The submission's status and, once graded, the full result with its per-key-point breakdown."""
    return submission_out(*reads.get_submission(session, submission_id, principal))


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
    rows, total = reads.list_submissions(
        session,
        principal,
        reads.SubmissionFilter(candidate_id, question_id, status),
        limit=limit,
        offset=offset,
    )
    items = [
        SubmissionSummary(
            id=s.id,
            status=Status(s.status),
            candidate_id=s.candidate_id,
            question_id=s.question_id,
            created_at=s.created_at,
            score=g.score if g is not None else None,
        )
        for s, g in rows
    ]
    return SubmissionPage(items=items, total=total, limit=limit, offset=offset)
