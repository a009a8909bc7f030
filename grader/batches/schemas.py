"""What `/api/v1/batches` returns, built from rows by the use cases in `grader.batches.uploads`, not ORM classes."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field

PATH = "/api/v1/batches"  # the endpoints' prefix, which `results_url` names


class RowErrorOut(BaseModel):
    row: int = Field(description="1-based row number as the spreadsheet shows it")
    code: str
    reason: str
    column: str | None = None
    candidate_id: str | None = None
    question_id: str | None = None


class BatchCounts(BaseModel):
    rows: int = Field(description="non-blank rows under the header")
    accepted: int = Field(description="answers turned into submissions")
    rejected: int = Field(description="answers skipped with a row error")
    pending: int
    graded: int
    needs_review: int
    failed: int


class BatchOut(BaseModel):
    id: uuid.UUID
    created: bool = Field(description="false: the same file was uploaded before; that batch is returned")
    status: Literal["queued", "running", "done"]
    filename: str | None
    file_format: str
    layout: str
    encoding: str | None = Field(description="how the CSV was decoded: utf-8, utf-8-sig (BOM), gb18030 (GBK)")
    sheet_name: str | None
    columns: dict[str, Any]
    content_hash: str
    counts: BatchCounts
    progress: float = Field(description="share of accepted answers finished, 0 to 1")
    answers_per_second: float | None
    eta_seconds: float | None = Field(description="estimated time left at the rate so far")
    created_at: datetime
    finished_at: datetime | None
    row_errors: list[RowErrorOut]
    row_errors_total: int
    results_url: str
