"""Reading an uploaded file (a sheet, a bank document) within the sheet cap: a declared size far past it
is refused unread, and no more than the cap plus one byte is ever read."""

from __future__ import annotations

from fastapi import Request, UploadFile

from grader.errors import UploadTooLarge
from grader.tables import DEFAULT_TABLE_LIMITS, MB


def read_upload(request: Request, file: UploadFile, advice: str = "") -> bytes:
    """The file's bytes; `advice` ends the 413 message ("; split the answers over several files")."""
    limit = DEFAULT_TABLE_LIMITS.max_bytes
    declared = request.headers.get("content-length")
    # The multipart envelope adds a little; anything far past the cap is refused unread.
    if declared and declared.isdigit() and int(declared) > limit + MB:
        raise UploadTooLarge(
            f"the upload is {int(declared) / MB:.1f} MB, over the {limit // MB} MB limit{advice}",
            details={"max_bytes": limit},
        )
    data = file.file.read(limit + 1)
    if len(data) > limit:
        raise UploadTooLarge(f"the file is over the {limit // MB} MB limit{advice}", details={"max_bytes": limit})
    return data
