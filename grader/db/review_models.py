"""The reviewers' view of results: one `ResultRow` per graded submission, kept current by the service.

The source of truth stays in `submissions` and `grades`; this table repeats the few fields the queue,
the filters and the statistics read (latest grade's score, confidence, flags, batch) next to the
reviewer's final score, so the review queue is one index range scan and the statistics one pass over a
narrow table, instead of a "latest grade per submission" join over every grade. Review history is not
kept here: each review appends an `audit_log` entry (append-only), and this row only holds the outcome.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from grader.db.base import Base


class ResultRow(Base):
    __tablename__ = "results"
    __table_args__ = (
        # The review queue: needs_review, least confident first (ties by id for a stable page order).
        Index(None, "status", "confidence", "submission_id"),
        Index(None, "question_id", "graded_at"),
        Index(None, "graded_at"),
        Index(None, "candidate_id"),
        Index(None, "batch_id"),
        Index(None, "final_score"),
        # Statistics: every column they read, so Postgres answers from the index alone, ordered by score.
        Index("ix_results_stats", "question_id", "final_score", "grader_score", "flagged", "reviewed", "overridden"),
        Index(None, "reviewed", "reviewed_at"),  # the overview's latest reviewed results
    )

    submission_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("submissions.id", ondelete="CASCADE"), primary_key=True)
    grade_id: Mapped[int] = mapped_column(ForeignKey("grades.id", ondelete="CASCADE"))
    question_id: Mapped[str] = mapped_column(String(16))
    candidate_id: Mapped[str] = mapped_column(String(200))
    batch_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("batches.id", ondelete="SET NULL"))
    status: Mapped[str] = mapped_column(String(16))  # graded | needs_review, as on the submission
    grader_score: Mapped[float]
    final_score: Mapped[float]  # the reviewer's score once reviewed, the grader's before
    confidence: Mapped[float]
    # "|off_topic|too_short|": a LIKE '%|flag|%' filter reads the same on Postgres and SQLite.
    flags: Mapped[str] = mapped_column(String(200))
    flagged: Mapped[bool]
    reviewed: Mapped[bool]
    overridden: Mapped[bool]  # reviewed and the final score differs from the grader's
    review_count: Mapped[int]
    reviewed_at: Mapped[datetime | None]
    reviewed_by: Mapped[str | None] = mapped_column(String(200))
    key_point_corrections: Mapped[list[Any]]
    graded_at: Mapped[datetime]
