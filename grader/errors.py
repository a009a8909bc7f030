"""Errors the grader raises on purpose, each carrying the HTTP status the API answers with.

    GraderError (500)
    ├── ReferenceFileError (500)   a reference_answers/ file is invalid: names file, field, problem
    ├── NotFound (404)             an id that does not exist (or is not yours to see)
    │   ├── QuestionNotFound
    │   ├── SubmissionNotFound
    │   ├── ResultNotFound         a submission with no grade yet (nothing to review)
    │   ├── BatchNotFound
    │   ├── BankNotFound           a question bank name that does not exist
    │   └── BankVersionNotFound    a bank with no (such) published version
    ├── InvalidInput (422)         a request the grader cannot take as given
    │   ├── UnreadableSheet        an uploaded answer sheet that is not a usable table
    │   ├── InvalidBankFile        a bank document or table with bad rows: every row's problem, numbered
    │   └── InvalidDraft           a key-point edit that would not make a valid reference
    ├── UploadTooLarge (413)       an upload over the size cap, or with too many answers
    ├── Unauthorized (401)         missing or unknown API key
    ├── Forbidden (403)            the key's role may not do this
    └── Conflict (409)             the request clashes with existing state
        └── NothingToPublish       the drafts are exactly the latest published version

Every message says what was wrong and, where it helps, what to do instead.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any


class GraderError(Exception):
    status_code = 500
    code = "internal_error"

    def __init__(self, message: str, *, details: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details or {}


class ReferenceFileError(GraderError):
    code = "invalid_reference"

    def __init__(self, path: Path, field: str, problem: str, *, more: int = 0) -> None:
        extra = f" (and {more} more problem{'s' if more != 1 else ''})" if more else ""
        super().__init__(
            f"{path}: field '{field}' {problem}{extra}",
            details={"path": str(path), "field": field, "problem": problem},
        )
        self.path = path
        self.field = field


class NotFound(GraderError):
    status_code = 404
    code = "not_found"


class QuestionNotFound(NotFound):
    code = "question_not_found"

    def __init__(self, question_id: str, known: list[str] | None = None) -> None:
        hint = f"; known questions: {', '.join(known)}" if known else ""
        super().__init__(f"question '{question_id}' does not exist{hint}", details={"question_id": question_id})


class BatchNotFound(NotFound):
    code = "batch_not_found"

    def __init__(self, batch_id: object) -> None:
        super().__init__(f"batch '{batch_id}' does not exist", details={"batch_id": str(batch_id)})


class SubmissionNotFound(NotFound):
    code = "submission_not_found"

    def __init__(self, submission_id: object) -> None:
        super().__init__(f"submission '{submission_id}' does not exist", details={"submission_id": str(submission_id)})


class ResultNotFound(NotFound):
    code = "result_not_found"

    def __init__(self, submission_id: object, status: str | None = None) -> None:
        why = f" (the submission is {status}: nothing graded to review yet)" if status else ""
        super().__init__(
            f"no graded result for submission '{submission_id}'{why}",
            details={"submission_id": str(submission_id), "status": status},
        )


class BankNotFound(NotFound):
    code = "bank_not_found"

    def __init__(self, bank: str, known: list[str] | None = None) -> None:
        hint = f"; known banks: {', '.join(known)}" if known else ""
        super().__init__(f"question bank '{bank}' does not exist{hint}", details={"bank": bank})


class BankVersionNotFound(NotFound):
    code = "bank_version_not_found"

    def __init__(self, bank: str, version: int | None) -> None:
        what = f"no published version {version}" if version is not None else "no published version yet"
        super().__init__(
            f"question bank '{bank}' has {what}; publish its drafts first", details={"bank": bank, "version": version}
        )


class InvalidInput(GraderError):
    status_code = 422
    code = "invalid_input"


class InvalidBankFile(InvalidInput):
    """`errors` lists the bad rows ({"row", "field", "message"}), so one upload shows them all: the first
    ones when there are very many (`total` counts them all, in `details.errors_total`)."""

    code = "invalid_bank_file"

    def __init__(self, message: str, errors: list[dict[str, Any]] | None = None, total: int | None = None) -> None:
        errors = errors or []
        total = len(errors) if total is None else total  # more than listed when the list was capped
        shown = "; ".join(f"row {e['row']}, {e['field']}: {e['message']}" for e in errors[:5])
        more = f" (and {total - 5} more)" if total > 5 else ""
        full = f"{message}: {shown}{more}" if errors else message
        details: dict[str, Any] = {"errors": errors}
        if total > len(errors):
            details["errors_total"] = total
        super().__init__(full, details=details)
        self.errors = errors
        self.total = total


class InvalidDraft(InvalidInput):
    code = "invalid_draft"


class UnreadableSheet(InvalidInput):
    code = "unreadable_sheet"


class UploadTooLarge(GraderError):
    status_code = 413
    code = "upload_too_large"


class Unauthorized(GraderError):
    status_code = 401
    code = "unauthorized"


class Forbidden(GraderError):
    status_code = 403
    code = "forbidden"


class Conflict(GraderError):
    status_code = 409
    code = "conflict"


class NothingToPublish(Conflict):
    code = "nothing_to_publish"

    def __init__(self, bank: str, version: int) -> None:
        super().__init__(
            f"question bank '{bank}' has no changes since version {version}; edit or import "
            "its drafts before publishing again",
            details={"bank": bank, "version": version},
        )
