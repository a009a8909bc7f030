"""Statistics kept as running sums: `result_day_stats` (per UTC day and question) and
`result_score_counts` (per question and final score), written with every result row
(`grader.review.aggregates`), so `/api/v1/stats` and the overview stop reading every result. The
backfill computes both from the existing results in one pass each (the same sums as
`grader.review.aggregates.rebuild`, written out here so the migration stays as it was written).

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-04 17:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
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
    # The backfill: the sums over the results already there (the service keeps them up to date from now on).
    postgres = op.get_bind().dialect.name == "postgresql"
    day = "CAST(timezone('UTC', graded_at) AS date)" if postgres else "date(graded_at)"
    bins = ", ".join(
        f"SUM(CASE WHEN final_score < {10 * (i + 1)} THEN 1 ELSE 0 END)"
        if i == 0
        else f"SUM(CASE WHEN final_score >= {10 * i} THEN 1 ELSE 0 END)"
        if i == 9
        else f"SUM(CASE WHEN final_score >= {10 * i} AND final_score < {10 * (i + 1)} THEN 1 ELSE 0 END)"
        for i in range(10)
    )
    op.execute(
        "INSERT INTO result_day_stats (day, question_id, results, final_sum, grader_sum, flagged, reviewed, "
        f"overridden, reviewed_delta_sum, {', '.join(f'bin_{i}' for i in range(10))}) "
        f"SELECT {day}, question_id, COUNT(*), SUM(final_score), SUM(grader_score), "
        "SUM(CASE WHEN flagged THEN 1 ELSE 0 END), SUM(CASE WHEN reviewed THEN 1 ELSE 0 END), "
        "SUM(CASE WHEN overridden THEN 1 ELSE 0 END), "
        f"SUM(CASE WHEN reviewed THEN abs(final_score - grader_score) ELSE 0 END), {bins} "
        f"FROM results GROUP BY {day}, question_id"
    )
    op.execute(
        "INSERT INTO result_score_counts (question_id, final_score, results) "
        "SELECT question_id, final_score, COUNT(*) FROM results GROUP BY question_id, final_score"
    )


def downgrade() -> None:
    op.drop_table("result_score_counts")
    op.drop_table("result_day_stats")
