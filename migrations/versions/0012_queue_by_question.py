"""An index for the review queue of one question (status, question_id, confidence, submission_id): a page of
it, and the capped count beside it, become one index range scan instead of an intersection of the queue's
and the question's indexes.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-05 03:30:00
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

NAME = "ix_results_status_question_id_confidence_submission_id"


def upgrade() -> None:
    op.create_index(NAME, "results", ["status", "question_id", "confidence", "submission_id"])


def downgrade() -> None:
    op.drop_index(NAME, table_name="results")
