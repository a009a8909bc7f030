"""Reviewer queries: the `results` table (one row per graded submission) with the queue's indexes,
filled from the grades already in the database.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-29 09:10:00
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

INDEXES = {
    "ix_results_status_confidence_submission_id": ["status", "confidence", "submission_id"],
    "ix_results_question_id_graded_at": ["question_id", "graded_at"],
    "ix_results_graded_at": ["graded_at"],
    "ix_results_candidate_id": ["candidate_id"],
    "ix_results_batch_id": ["batch_id"],
    "ix_results_final_score": ["final_score"],
}


def upgrade() -> None:
    op.create_table(
        "results",
        sa.Column("submission_id", sa.Uuid(), nullable=False),
        sa.Column("grade_id", sa.Integer(), nullable=False),
        sa.Column("question_id", sa.String(length=16), nullable=False),
        sa.Column("candidate_id", sa.String(length=200), nullable=False),
        sa.Column("batch_id", sa.Uuid(), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("grader_score", sa.Double(), nullable=False),
        sa.Column("final_score", sa.Double(), nullable=False),
        sa.Column("confidence", sa.Double(), nullable=False),
        sa.Column("flags", sa.String(length=200), nullable=False),
        sa.Column("flagged", sa.Boolean(), nullable=False),
        sa.Column("reviewed", sa.Boolean(), nullable=False),
        sa.Column("overridden", sa.Boolean(), nullable=False),
        sa.Column("review_count", sa.Integer(), nullable=False),
        sa.Column("reviewed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("reviewed_by", sa.String(length=200), nullable=True),
        sa.Column("key_point_corrections", sa.JSON(), nullable=False),
        sa.Column("graded_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["batch_id"], ["batches.id"], name=op.f("fk_results_batch_id_batches"), ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(
            ["grade_id"], ["grades.id"], name=op.f("fk_results_grade_id_grades"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["submission_id"], ["submissions.id"], name=op.f("fk_results_submission_id_submissions"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("submission_id", name=op.f("pk_results")),
    )
    with op.batch_alter_table("results", schema=None) as batch_op:
        for name, columns in INDEXES.items():
            batch_op.create_index(batch_op.f(name), columns, unique=False)
    _backfill()


def _backfill() -> None:
    """One row per submission already graded, from its latest grade (as `grader.results_index` does)."""
    submissions = sa.table(
        "submissions",
        sa.column("id", sa.Uuid()),
        sa.column("question_id", sa.String()),
        sa.column("candidate_id", sa.String()),
        sa.column("status", sa.String()),
        sa.column("graded_at", sa.DateTime(timezone=True)),
    )
    grades = sa.table(
        "grades",
        sa.column("id", sa.Integer()),
        sa.column("submission_id", sa.Uuid()),
        sa.column("score", sa.Float()),
        sa.column("confidence", sa.Float()),
        sa.column("flags", sa.JSON()),
        sa.column("created_at", sa.DateTime(timezone=True)),
    )
    items = sa.table("batch_items", sa.column("submission_id", sa.Uuid()), sa.column("batch_id", sa.Uuid()))
    results = sa.table("results", *_typed())
    query = (
        sa.select(
            submissions,
            grades.c.id.label("grade_id"),
            grades.c.score,
            grades.c.confidence,
            grades.c.flags,
            grades.c.created_at,
            items.c.batch_id,
        )
        .join(grades, grades.c.submission_id == submissions.c.id)
        .outerjoin(items, items.c.submission_id == submissions.c.id)
        .where(submissions.c.status.in_(["graded", "needs_review"]))
        .order_by(submissions.c.id, grades.c.created_at.desc(), grades.c.id.desc())
    )
    conn = op.get_bind()
    seen: set[uuid.UUID] = set()
    pending: list[dict[str, Any]] = []
    for row in conn.execute(query).mappings():
        if row["id"] in seen:
            continue
        seen.add(row["id"])
        flags = row["flags"] if not isinstance(row["flags"], str) else json.loads(row["flags"])
        values = sorted(set(flags or []))
        pending.append(
            {
                "submission_id": row["id"],
                "grade_id": row["grade_id"],
                "question_id": row["question_id"],
                "candidate_id": row["candidate_id"],
                "batch_id": row["batch_id"],
                "status": row["status"],
                "grader_score": row["score"],
                "final_score": row["score"],
                "confidence": row["confidence"],
                "flags": "|" + "|".join(values) + "|" if values else "",
                "flagged": bool(values),
                "reviewed": False,
                "overridden": False,
                "review_count": 0,
                "key_point_corrections": [],
                "graded_at": row["graded_at"] or row["created_at"],
            }
        )
        if len(pending) >= 1000:
            conn.execute(sa.insert(results), pending)
            pending.clear()
    if pending:
        conn.execute(sa.insert(results), pending)


def _typed() -> list[sa.ColumnClause[Any]]:
    return [
        sa.column("submission_id", sa.Uuid()),
        sa.column("grade_id", sa.Integer()),
        sa.column("question_id", sa.String()),
        sa.column("candidate_id", sa.String()),
        sa.column("batch_id", sa.Uuid()),
        sa.column("status", sa.String()),
        sa.column("grader_score", sa.Float()),
        sa.column("final_score", sa.Float()),
        sa.column("confidence", sa.Float()),
        sa.column("flags", sa.String()),
        sa.column("flagged", sa.Boolean()),
        sa.column("reviewed", sa.Boolean()),
        sa.column("overridden", sa.Boolean()),
        sa.column("review_count", sa.Integer()),
        sa.column("key_point_corrections", sa.JSON()),
        sa.column("graded_at", sa.DateTime(timezone=True)),
    ]


def downgrade() -> None:
    with op.batch_alter_table("results", schema=None) as batch_op:
        for name in INDEXES:
            batch_op.drop_index(batch_op.f(name))
    op.drop_table("results")
