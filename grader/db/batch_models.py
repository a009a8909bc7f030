"""Batch uploads. Each answer in a sheet is an ordinary `Submission`; a `BatchItem` ties it to its batch,
its row in the sheet and the chunk of work it was sent in, so the submissions table stays as it is."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from grader.db.base import Base, utcnow


class Batch(Base):
    __tablename__ = "batches"
    __table_args__ = (Index(None, "submitted_by", "content_hash"), Index(None, "created_at"))

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    content_hash: Mapped[str] = mapped_column(String(64))  # sha256 of the uploaded bytes
    filename: Mapped[str | None] = mapped_column(String(255))
    file_format: Mapped[str] = mapped_column(String(8))  # csv | xlsx
    layout: Mapped[str] = mapped_column(String(8))  # long | wide
    encoding: Mapped[str | None] = mapped_column(String(32))
    sheet_name: Mapped[str | None] = mapped_column(String(255))
    data_rows: Mapped[int]
    accepted: Mapped[int]  # answers turned into submissions
    rejected: Mapped[int]  # answers refused with a row error
    row_errors: Mapped[list[Any]]
    columns: Mapped[dict[str, Any]]
    submitted_by: Mapped[int | None] = mapped_column(ForeignKey("api_keys.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    finished_at: Mapped[datetime | None]  # set once every answer is graded, failed or in review


class BatchItem(Base):
    __tablename__ = "batch_items"
    __table_args__ = (Index(None, "batch_id", "position"),)

    submission_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("submissions.id", ondelete="CASCADE"), primary_key=True)
    batch_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("batches.id", ondelete="CASCADE"))
    position: Mapped[int]  # order in the sheet
    row: Mapped[int]  # the row number the recruiter sees in Excel
