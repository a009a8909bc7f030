"""The latest reviewer's reason on the result row, so the feedback shown after an override can carry it
instead of only the grader's overridden reasoning. Existing reviewed rows take it from their latest
`result.reviewed` audit entry.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-04 17:40:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("results", schema=None) as batch_op:
        batch_op.add_column(sa.Column("review_comment", sa.Text(), nullable=True))
    bind = op.get_bind()
    audit = sa.table(
        "audit_log",
        sa.column("id", sa.Integer),
        sa.column("action", sa.String),
        sa.column("entity_id", sa.String),
        sa.column("details", sa.JSON),
    )
    results = sa.table("results", sa.column("submission_id", sa.Uuid), sa.column("review_comment", sa.Text))
    latest: dict[str, str] = {}
    for entity_id, details in bind.execute(
        sa.select(audit.c.entity_id, audit.c.details).where(audit.c.action == "result.reviewed").order_by(audit.c.id)
    ):
        comment = (details or {}).get("comment")
        if comment:
            latest[entity_id] = comment
    for sid, comment in latest.items():
        bind.execute(
            sa.update(results).where(sa.cast(results.c.submission_id, sa.String) == sid).values(review_comment=comment)
        )


def downgrade() -> None:
    with op.batch_alter_table("results", schema=None) as batch_op:
        batch_op.drop_column("review_comment")
