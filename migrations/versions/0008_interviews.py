"""Interviews: a candidate's answers to several questions as one unit (`POST /api/v1/interviews`, or one
candidate's rows of an answer sheet). Each answer stays a submission; `interview_items` ties it to its
interview.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-04 16:23:43.079260
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "interviews",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("candidate_id", sa.String(length=200), nullable=False),
        sa.Column("candidate_name", sa.String(length=200), nullable=True),
        sa.Column("candidate_email", sa.String(length=320), nullable=True),
        sa.Column("bank", sa.String(length=64), nullable=True),
        sa.Column("submitted_by", sa.Integer(), nullable=True),
        sa.Column("idempotency_key", sa.String(length=200), nullable=True),
        sa.Column("request_hash", sa.String(length=64), nullable=True),
        sa.Column("batch_id", sa.Uuid(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("completed_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["batch_id"], ["batches.id"], name=op.f("fk_interviews_batch_id_batches"), ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(["submitted_by"], ["api_keys.id"], name=op.f("fk_interviews_submitted_by_api_keys")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_interviews")),
        sa.UniqueConstraint("submitted_by", "idempotency_key", name=op.f("uq_interviews_submitted_by_idempotency_key")),
    )
    op.create_index(op.f("ix_interviews_batch_id"), "interviews", ["batch_id"], unique=False)
    op.create_index(op.f("ix_interviews_candidate_id"), "interviews", ["candidate_id"], unique=False)
    op.create_index(op.f("ix_interviews_created_at"), "interviews", ["created_at"], unique=False)
    op.create_table(
        "interview_items",
        sa.Column("submission_id", sa.Uuid(), nullable=False),
        sa.Column("interview_id", sa.Uuid(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["interview_id"],
            ["interviews.id"],
            name=op.f("fk_interview_items_interview_id_interviews"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["submission_id"],
            ["submissions.id"],
            name=op.f("fk_interview_items_submission_id_submissions"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("submission_id", name=op.f("pk_interview_items")),
    )
    op.create_index(
        op.f("ix_interview_items_interview_id_position"), "interview_items", ["interview_id", "position"], unique=False
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_interview_items_interview_id_position"), table_name="interview_items")
    op.drop_table("interview_items")
    op.drop_index(op.f("ix_interviews_created_at"), table_name="interviews")
    op.drop_index(op.f("ix_interviews_candidate_id"), table_name="interviews")
    op.drop_index(op.f("ix_interviews_batch_id"), table_name="interviews")
    op.drop_table("interviews")
