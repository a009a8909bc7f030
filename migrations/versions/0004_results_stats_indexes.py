"""Indexes for the reviewers' statistics: one covering index per question's scores (the stats endpoint
reads it with an index-only scan, already ordered for the median), and one for the reviewed results
the overview's agreement chart reads, newest first.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-29 09:40:00
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

INDEXES = {
    "ix_results_stats": ["question_id", "final_score", "grader_score", "flagged", "reviewed", "overridden"],
    "ix_results_reviewed_reviewed_at": ["reviewed", "reviewed_at"],
}


def upgrade() -> None:
    with op.batch_alter_table("results", schema=None) as batch_op:
        for name, columns in INDEXES.items():
            batch_op.create_index(batch_op.f(name), columns, unique=False)


def downgrade() -> None:
    with op.batch_alter_table("results", schema=None) as batch_op:
        for name in INDEXES:
            batch_op.drop_index(batch_op.f(name))
