"""The reviewers' view of results: one `ResultRow` per graded submission, kept current by the service.

The source of truth stays in `submissions` and `grades`; this table repeats the few fields the queue,
the filters and the statistics read (latest grade's score, confidence, flags, batch) next to the
reviewer's final score, so the review queue is one index range scan and the statistics one pass over a
narrow table, instead of a "latest grade per submission" join over every grade. Review history is not
kept here: each review appends an `audit_log` entry (append-only), and this row only holds the outcome.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from grader.db.base import Base


class ResultRow(Base):
    __tablename__ = "results"
    __table_args__ = (
        # The review queue: needs_review, least confident first (ties by id for a stable page order).
        Index(None, "status", "confidence", "submission_id"),
        # ... of one question, the filter reviewers use most: without it Postgres intersects the two indexes
        # above and below (10,000,000 results: 180 ms a page for q05's least confident).
        Index(None, "status", "question_id", "confidence", "submission_id"),
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
    # The latest reviewer's reason, shown with the feedback (grader.review.feedback); all are in the audit log.
    review_comment: Mapped[str | None] = mapped_column(Text)
    key_point_corrections: Mapped[list[Any]]
    graded_at: Mapped[datetime]


class ResultDayStats(Base):
    """Per UTC day (of `graded_at`) and question: sums and counts over the result rows, kept up to date in
    the transaction that writes a result row (`grader.review.aggregates`), so statistics read a row per
    day and question instead of every result. Per bank is these rows over the bank's questions (a question
    belongs to one bank)."""

    __tablename__ = "result_day_stats"

    day: Mapped[date] = mapped_column(primary_key=True)
    question_id: Mapped[str] = mapped_column(String(16), primary_key=True)
    results: Mapped[int]
    final_sum: Mapped[float]
    grader_sum: Mapped[float]
    flagged: Mapped[int]
    reviewed: Mapped[int]
    overridden: Mapped[int]
    reviewed_delta_sum: Mapped[float]  # Σ |final − grader| over the reviewed results
    # Final scores in ten bins, [0,10) … [90,100] (`grader.review.stats.BIN_EDGES`).
    bin_0: Mapped[int]
    bin_1: Mapped[int]
    bin_2: Mapped[int]
    bin_3: Mapped[int]
    bin_4: Mapped[int]
    bin_5: Mapped[int]
    bin_6: Mapped[int]
    bin_7: Mapped[int]
    bin_8: Mapped[int]
    bin_9: Mapped[int]


class ResultScoreCount(Base):
    """How many results of a question have each final score: the exact median without reading the
    results (a question has at most a few thousand distinct scores, however many results)."""

    __tablename__ = "result_score_counts"

    question_id: Mapped[str] = mapped_column(String(16), primary_key=True)
    final_score: Mapped[float] = mapped_column(primary_key=True)
    results: Mapped[int]
