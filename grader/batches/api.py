"""`/api/v1/batches`: upload an answer sheet, watch it progress, download the results."""

from __future__ import annotations

import uuid
from typing import Annotated, Any, Literal

from fastapi import APIRouter, File, Query, Request, Response, UploadFile

from grader.batches import uploads
from grader.batches.export import MEDIA_TYPES
from grader.batches.parsing import DEFAULT_LIMITS, MB
from grader.batches.schemas import PATH, BatchOut
from grader.web.deps import QueueDep, ReaderDep, SessionDep, SettingsDep, SubmitterDep
from grader.web.uploads import read_upload

router = APIRouter(prefix=PATH, tags=["batches"])

ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"description": "missing or unknown API key"},
    403: {"description": "the key's role may not do this"},
    404: {"description": "unknown batch (or another recruiter's)"},
}
UPLOAD_ERRORS: dict[int | str, dict[str, Any]] = {
    **ERRORS,
    413: {
        "description": f"file over {DEFAULT_LIMITS.max_bytes // MB} MB or over {DEFAULT_LIMITS.max_answers:,} answers"
    },
    422: {"description": "not a table, no usable columns, unreadable encoding or workbook"},
}
ERRORS_IN_STATUS = 100


@router.post(
    "",
    status_code=202,
    response_model=BatchOut,
    responses={**UPLOAD_ERRORS, 200: {"description": "the same file was uploaded before: that batch, unchanged"}},
)
def create_batch(
    request: Request,
    response: Response,
    session: SessionDep,
    principal: SubmitterDep,
    settings: SettingsDep,
    queue: QueueDep,
    file: Annotated[UploadFile, File(description="answer sheet: .csv (UTF-8, BOM or GBK) or .xlsx")],
    force: Annotated[bool, Query(description="grade again even if this file was uploaded before")] = False,
) -> BatchOut:
    """Upload an answer sheet (long: candidate, question, answer per row; or wide: a column per question).

    Bad rows are reported with their row number and skipped; the rest are graded in the background.
    Poll the `Location` it returns for progress, then fetch `results_url`.
    """
    data = read_upload(request, file, "; split the answers over several files")
    batch = uploads.upload(
        session,
        data,
        filename=file.filename,
        actor=principal,
        queue=queue,
        max_answer_chars=settings.max_answer_chars,
        force=force,
    )
    if not batch.created:
        response.status_code = 200
    response.headers["Location"] = f"{router.prefix}/{batch.id}"
    return batch


@router.get("/{batch_id}", response_model=BatchOut, responses=ERRORS)
def get_batch(batch_id: uuid.UUID, session: SessionDep, principal: ReaderDep) -> BatchOut:
    """Status, counts, progress and time left. Lists the first row errors; the upload response has all."""
    return uploads.batch_status(session, batch_id, principal, errors_limit=ERRORS_IN_STATUS)


@router.get(
    "/{batch_id}/results",
    responses={
        **ERRORS,
        200: {
            "content": {m: {} for m in MEDIA_TYPES.values()},
            "description": "one row per answer, or one per candidate with view=summary (xlsx has both sheets)",
        },
    },
)
def get_results(
    batch_id: uuid.UUID,
    session: SessionDep,
    principal: ReaderDep,
    format: Annotated[Literal["csv", "xlsx", "json"], Query(description="csv is UTF-8 with BOM")] = "csv",
    view: Annotated[Literal["answers", "summary"], Query(description="csv only; xlsx and json hold both")] = "answers",
) -> Response:
    """Results so far: score, flags, confidence, missed key points and feedback per answer, and a summary
    per candidate (total and per question). Cells that a spreadsheet would run as a formula are escaped."""
    file = uploads.batch_download(session, batch_id, principal, format, view)
    return Response(
        file.body,
        media_type=file.media_type,
        headers={"Content-Disposition": f'attachment; filename="{file.filename}"'},
    )
