"""`/api/v1/batches`: upload an answer sheet, watch it progress, download the results."""

from __future__ import annotations

import uuid
from typing import Annotated, Any, Literal

from fastapi import APIRouter, File, Query, Request, Response, UploadFile

from grader.batches import uploads
from grader.batches.export import MEDIA_TYPES
from grader.batches.parsing import DEFAULT_LIMITS, MB, content_hash, parse_sheet
from grader.batches.schemas import BatchCounts, BatchOut, RowErrorOut
from grader.db.batch_models import Batch
from grader.web.deps import QueueDep, ReaderDep, SessionDep, SettingsDep, SubmitterDep
from grader.web.uploads import read_upload

router = APIRouter(prefix="/api/v1/batches", tags=["batches"])

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


def batch_out(session: SessionDep, batch: Batch, *, created: bool, errors_limit: int | None) -> BatchOut:
    progress = uploads.progress(session, batch)
    errors = batch.row_errors if errors_limit is None else batch.row_errors[:errors_limit]
    return BatchOut(
        id=batch.id,
        created=created,
        status=progress.status,
        filename=batch.filename,
        file_format=batch.file_format,
        layout=batch.layout,
        encoding=batch.encoding,
        sheet_name=batch.sheet_name,
        columns=batch.columns,
        content_hash=batch.content_hash,
        counts=BatchCounts(rows=batch.data_rows, accepted=batch.accepted, rejected=batch.rejected, **progress.counts),
        progress=round(progress.progress, 4),
        answers_per_second=progress.answers_per_second,
        eta_seconds=progress.eta_seconds,
        created_at=batch.created_at,
        finished_at=progress.finished_at,
        row_errors=[RowErrorOut.model_validate(e) for e in errors],
        row_errors_total=batch.rejected,
        results_url=f"{router.prefix}/{batch.id}/results",
    )


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
    if not force:
        existing = uploads.find_existing(session, principal, content_hash(data))
        if existing is not None:
            response.status_code = 200
            response.headers["Location"] = f"{router.prefix}/{existing.id}"
            return batch_out(session, existing, created=False, errors_limit=None)
    questions = uploads.gradable_questions(session)
    sheet = parse_sheet(data, questions, filename=file.filename, max_answer_chars=settings.max_answer_chars)
    batch = uploads.create_batch(session, sheet, filename=file.filename, actor=principal, queue=queue)
    response.headers["Location"] = f"{router.prefix}/{batch.id}"
    return batch_out(session, batch, created=True, errors_limit=None)


@router.get("/{batch_id}", response_model=BatchOut, responses=ERRORS)
def get_batch(batch_id: uuid.UUID, session: SessionDep, principal: ReaderDep) -> BatchOut:
    """Status, counts, progress and time left. Lists the first row errors; the upload response has all."""
    batch = uploads.get_batch(session, batch_id, principal)
    return batch_out(session, batch, created=False, errors_limit=ERRORS_IN_STATUS)


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
    batch = uploads.get_batch(session, batch_id, principal)
    file = uploads.download(session, batch, format, view)
    return Response(
        file.body,
        media_type=file.media_type,
        headers={"Content-Disposition": f'attachment; filename="{file.filename}"'},
    )
