"""Statistics kept as running sums: `result_day_stats` (per UTC day and question) and
`result_score_counts` (per question and final score), written with every result row
(`grader.review.aggregates`), so `/api/v1/stats` and the overview stop reading every result. The
backfill computes both from the existing results in one pass each.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-04 17:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.orm import Session

from grader.review.aggregates import rebuild

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "result_day_stats",
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("question_id", sa.String(length=16), nullable=False),
        sa.Column("results", sa.Integer(), nullable=False),
        sa.Column("final_sum", sa.Double(), nullable=False),
        sa.Column("grader_sum", sa.Double(), nullable=False),
        sa.Column("flagged", sa.Integer(), nullable=False),
        sa.Column("reviewed", sa.Integer(), nullable=False),
        sa.Column("overridden", sa.Integer(), nullable=False),
        sa.Column("reviewed_delta_sum", sa.Double(), nullable=False),
        *(sa.Column(f"bin_{i}", sa.Integer(), nullable=False) for i in range(10)),
        sa.PrimaryKeyConstraint("day", "question_id", name=op.f("pk_result_day_stats")),
    )
    op.create_table(
        "result_score_counts",
        sa.Column("question_id", sa.String(length=16), nullable=False),
        sa.Column("final_score", sa.Double(), nullable=False),
        sa.Column("results", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("question_id", "final_score", name=op.f("pk_result_score_counts")),
    )
    # The backfill: the sums over the results already there (the code that keeps them up to date from now on).
    rebuild(Session(bind=op.get_bind()))


def downgrade() -> None:
    op.drop_table("result_score_counts")
    op.drop_table("result_day_stats")
