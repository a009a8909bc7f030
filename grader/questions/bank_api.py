"""`/api/v1/banks`: import a bank from a document or table, edit its drafts, publish, diff, export,
its calibration versions, and re-grading against its latest version. Admins only."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, File, Query, Request, Response, UploadFile

from grader.grading.regrade import RegradeReport, regrade
from grader.questions import bank_views, banks, calibrations
from grader.questions.banks import ImportReport, PublishReport
from grader.questions.calibrations import CalibrationInfo
from grader.questions.drafts import DraftEdit
from grader.questions.schemas import BankDetail, DraftOut
from grader.questions.versions import BankDiff
from grader.tables import DEFAULT_TABLE_LIMITS, MB
from grader.web.deps import AdminDep, QueueDep, SessionDep
from grader.web.uploads import read_upload

router = APIRouter(prefix="/api/v1/banks", tags=["banks"])

ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"description": "missing or unknown API key"},
    403: {"description": "only admins manage question banks"},
    404: {"description": "unknown bank, question or version"},
}


@router.get("", response_model=list[banks.BankSummary], responses=ERRORS)
def list_banks(session: SessionDep, _admin: AdminDep) -> list[banks.BankSummary]:
    return banks.list_banks(session)


@router.get("/{bank}", response_model=BankDetail, responses=ERRORS)
def get_bank(bank: str, session: SessionDep, _admin: AdminDep) -> BankDetail:
    """The bank, its questions (draft and published hashes, pending edits) and its published versions."""
    return bank_views.bank_detail(session, bank)


@router.get("/{bank}/questions", response_model=list[banks.QuestionSummary], responses=ERRORS)
def list_questions(bank: str, session: SessionDep, _admin: AdminDep) -> list[banks.QuestionSummary]:
    return banks.list_questions(session, bank)


@router.post(
    "/{bank}/import",
    status_code=201,
    response_model=ImportReport,
    responses={
        **ERRORS,
        200: {"description": "dry run: what the import would do, nothing written"},
        409: {"description": "a concurrent import or publish of the same bank won"},
        413: {"description": f"file over {DEFAULT_TABLE_LIMITS.max_bytes // MB} MB"},
        422: {"description": "bad rows: every one listed in details.errors as {row, field, message}"},
    },
)
def import_bank(
    bank: str,
    request: Request,
    response: Response,
    session: SessionDep,
    admin: AdminDep,
    file: Annotated[UploadFile, File(description="Markdown/text, JSONL, CSV (UTF-8 or GBK), XLSX or a YAML export")],
    dry_run: Annotated[bool, Query(description="validate and report, write nothing")] = False,
    publish: Annotated[bool, Query(description="publish the generated drafts at once")] = False,
    title: Annotated[str | None, Query(max_length=200)] = None,
) -> ImportReport:
    """Read the file into the bank's drafts (creating the bank), generating key points, keywords and
    aliases; nothing is imported if any row is bad."""
    data = read_upload(request, file)
    report = banks.import_bank(
        session, bank, data, file.filename, actor=admin, title=title, dry_run=dry_run, publish=publish
    )
    if dry_run:
        response.status_code = 200
    return report


@router.post(
    "/{bank}/publish",
    status_code=201,
    response_model=PublishReport,
    responses={**ERRORS, 409: {"description": "the drafts are the latest version already, or a concurrent publish"}},
)
def publish_bank(bank: str, session: SessionDep, admin: AdminDep) -> PublishReport:
    """The drafts become the bank's next immutable version; grades made before keep their version."""
    return banks.publish_bank(session, bank, actor=admin)


@router.get("/{bank}/questions/{question_id}/draft", response_model=DraftOut, responses=ERRORS)
def get_draft(bank: str, question_id: str, session: SessionDep, _admin: AdminDep) -> DraftOut:
    return bank_views.get_draft(session, bank, question_id)


@router.put(
    "/{bank}/questions/{question_id}/draft",
    response_model=DraftOut,
    responses={**ERRORS, 422: {"description": "the edit would not make a valid reference (e.g. weights)"}},
)
def edit_draft(bank: str, question_id: str, edit: DraftEdit, session: SessionDep, admin: AdminDep) -> DraftOut:
    """Change key point text, weight, keywords with aliases, statements or misconceptions; edited key
    points become curated (later imports keep them). Publish to grade with it."""
    return bank_views.edit_draft(session, bank, question_id, edit, actor=admin)


@router.get("/{bank}/diff", response_model=BankDiff, responses=ERRORS)
def diff(
    bank: str,
    session: SessionDep,
    _admin: AdminDep,
    old: Annotated[int | None, Query(ge=1, description="default: the version before `new`")] = None,
    new: Annotated[int | None, Query(ge=1, description="default: the drafts (what publishing would change)")] = None,
) -> BankDiff:
    return banks.diff_versions(session, bank, old, new)


@router.get(
    "/{bank}/export",
    responses={**ERRORS, 200: {"content": {"application/yaml": {}}, "description": "the bank as YAML"}},
)
def export(
    bank: str,
    session: SessionDep,
    _admin: AdminDep,
    version: Annotated[int | None, Query(ge=1, description="default: the latest published")] = None,
    drafts: Annotated[bool, Query(description="export the drafts instead of a published version")] = False,
) -> Response:
    """A YAML file that `import` reads back with every key point as it is."""
    text = banks.export_bank(session, bank, version, drafts=drafts)
    return Response(
        text,
        media_type="application/yaml",
        headers={"Content-Disposition": f'attachment; filename="{bank}.yaml"'},
    )


@router.get("/{bank}/calibrations", response_model=list[CalibrationInfo], responses=ERRORS)
def list_calibrations(bank: str, session: SessionDep, _admin: AdminDep) -> list[CalibrationInfo]:
    """The bank's calibration versions; the latest published one grades it (none: the shipped one)."""
    return calibrations.list_calibrations(session, bank)


@router.post(
    "/{bank}/calibrations/{version}/publish",
    response_model=CalibrationInfo,
    responses={
        **ERRORS,
        409: {"description": "already published, or its fit warned and `confirm` does not name every warning"},
    },
)
def publish_calibration(
    bank: str,
    version: int,
    session: SessionDep,
    admin: AdminDep,
    confirm: Annotated[
        str, Query(max_length=200, description="the warning codes you confirm, comma-separated (see the proposal)")
    ] = "",
) -> CalibrationInfo:
    return calibrations.publish_calibration(session, bank, version, actor=admin, confirm=confirm.split(","))


@router.post("/{bank}/regrade", status_code=202, response_model=RegradeReport, responses=ERRORS)
def regrade_bank(
    bank: str,
    session: SessionDep,
    admin: AdminDep,
    queue: QueueDep,
    question_id: Annotated[str | None, Query(description="only this question")] = None,
) -> RegradeReport:
    """Grade the bank's finished submissions again against its latest published version (those pinned
    to an older one); the earlier grades stay in each result's history."""
    return regrade(session, bank, actor=admin, queue=queue, question_id=question_id)
