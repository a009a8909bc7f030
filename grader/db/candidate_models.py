"""Interviews: a candidate's answers to several questions, sent together (`POST /api/v1/interviews`) or
read from one candidate's rows of an answer sheet. Each answer stays an ordinary `Submission`; an
`InterviewItem` ties it to its interview, as `BatchItem` ties it to its batch, so the submissions table
and the grading path stay as they are."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from grader.db.base import Base, utcnow


class Interview(Base):
    __tablename__ = "interviews"
    __table_args__ = (
        # Idempotency keys are scoped to the API key that sent them, as for submissions; NULLs never collide.
        UniqueConstraint("submitted_by", "idempotency_key"),
        Index(None, "candidate_id"),
        Index(None, "batch_id"),
        Index(None, "created_at"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    candidate_id: Mapped[str] = mapped_column(String(200))
    candidate_name: Mapped[str | None] = mapped_column(String(200))
    candidate_email: Mapped[str | None] = mapped_column(String(320))
    bank: Mapped[str | None] = mapped_column(String(64))  # the bank named in the request, if any
    submitted_by: Mapped[int | None] = mapped_column(ForeignKey("api_keys.id"))
    idempotency_key: Mapped[str | None] = mapped_column(String(200))
    request_hash: Mapped[str | None] = mapped_column(String(64))
    batch_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("batches.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # Set when `interview.completed` is raised (no answer pending, running or waiting for review), which is
    # only checked while some webhook endpoint subscribes to it (grader.webhooks.events).
    completed_at: Mapped[datetime | None]


class InterviewItem(Base):
    __tablename__ = "interview_items"
    __table_args__ = (Index(None, "interview_id", "position"),)

    submission_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("submissions.id", ondelete="CASCADE"), primary_key=True)
    interview_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("interviews.id", ondelete="CASCADE"))
    position: Mapped[int]  # the answer's index in the request (or order in the sheet)
