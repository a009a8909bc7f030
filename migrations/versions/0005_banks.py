"""Question banks: banks, their questions' drafts, published bank versions, per-bank calibration
versions; reference versions keep their question text; a submission may pin its reference version.
Loads the default bank (the curated LLM interview questions of `reference_answers/*.yaml`) as
version 1 of bank `llm`; it grades with the shipped calibration until it has one of its own.

The bank's rows are read from `0005_banks.json` beside this file: the YAML files, their content hashes
and the bank digest as the grader computed them when this migration was written, frozen, so a database
built from zero later holds the same version 1 whatever the YAML files, `Reference` or the hashing
have become since (a later change to the bank is a new bank version, published as any other).

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-29 16:00:00
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from alembic import context, op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

FROZEN_BANK = Path(__file__).with_name("0005_banks.json")


def upgrade() -> None:
    op.create_table(
        "banks",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_banks")),
        sa.UniqueConstraint("name", name=op.f("uq_banks_name")),
    )
    op.create_table(
        "bank_questions",
        sa.Column("question_id", sa.String(length=16), nullable=False),
        sa.Column("bank_id", sa.Integer(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("question", sa.Text(), nullable=False),
        sa.Column("reference_answer", sa.Text(), nullable=False),
        sa.Column("key_points", sa.JSON(), nullable=False),
        sa.Column("draft_hash", sa.String(length=64), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["bank_id"], ["banks.id"], name=op.f("fk_bank_questions_bank_id_banks"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("question_id", name=op.f("pk_bank_questions")),
    )
    with op.batch_alter_table("bank_questions", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_bank_questions_bank_id_position"), ["bank_id", "position"], unique=False)
    op.create_table(
        "bank_versions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("bank_id", sa.Integer(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("digest", sa.String(length=64), nullable=False),
        sa.Column("published_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("published_by", sa.String(length=200), nullable=False),
        sa.ForeignKeyConstraint(
            ["bank_id"], ["banks.id"], name=op.f("fk_bank_versions_bank_id_banks"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_bank_versions")),
        sa.UniqueConstraint("bank_id", "version", name=op.f("uq_bank_versions_bank_id_version")),
    )
    with op.batch_alter_table("reference_versions", schema=None) as batch_op:
        batch_op.add_column(sa.Column("question", sa.Text(), nullable=True))
    op.create_table(
        "bank_version_questions",
        sa.Column("bank_version_id", sa.Integer(), nullable=False),
        sa.Column("question_id", sa.String(length=16), nullable=False),
        sa.Column("content_hash", sa.String(length=64), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["bank_version_id"],
            ["bank_versions.id"],
            name=op.f("fk_bank_version_questions_bank_version_id_bank_versions"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["question_id", "content_hash"],
            ["reference_versions.question_id", "reference_versions.content_hash"],
            name="fk_bank_version_questions_reference_versions",
        ),
        sa.PrimaryKeyConstraint("bank_version_id", "question_id", name=op.f("pk_bank_version_questions")),
    )
    op.create_table(
        "calibration_versions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("bank_id", sa.Integer(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("digest", sa.String(length=64), nullable=False),
        sa.Column("params", sa.JSON(), nullable=False),
        sa.Column("source", sa.String(length=200), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("published_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("published_by", sa.String(length=200), nullable=True),
        sa.ForeignKeyConstraint(
            ["bank_id"], ["banks.id"], name=op.f("fk_calibration_versions_bank_id_banks"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_calibration_versions")),
        sa.UniqueConstraint("bank_id", "version", name=op.f("uq_calibration_versions_bank_id_version")),
    )
    with op.batch_alter_table("submissions", schema=None) as batch_op:
        batch_op.add_column(sa.Column("reference_hash", sa.String(length=64), nullable=True))
        batch_op.create_foreign_key(
            batch_op.f("fk_submissions_question_id_reference_hash_reference_versions"),
            "reference_versions",
            ["question_id", "reference_hash"],
            ["question_id", "content_hash"],
        )
    load_default_bank()


# Lightweight tables for the data load: the migration must not depend on the models as they evolve.
_banks = sa.table(
    "banks",
    sa.column("id", sa.Integer),
    sa.column("name", sa.String),
    sa.column("title", sa.String),
    sa.column("created_at", sa.DateTime(timezone=True)),
)
_questions = sa.table(
    "questions",
    sa.column("id", sa.String),
    sa.column("text", sa.Text),
    sa.column("current_hash", sa.String),
    sa.column("updated_at", sa.DateTime(timezone=True)),
)
_versions = sa.table(
    "reference_versions",
    sa.column("question_id", sa.String),
    sa.column("content_hash", sa.String),
    sa.column("question", sa.Text),
    sa.column("reference_answer", sa.Text),
    sa.column("key_points", sa.JSON),
    sa.column("created_at", sa.DateTime(timezone=True)),
)
_drafts = sa.table(
    "bank_questions",
    sa.column("question_id", sa.String),
    sa.column("bank_id", sa.Integer),
    sa.column("position", sa.Integer),
    sa.column("question", sa.Text),
    sa.column("reference_answer", sa.Text),
    sa.column("key_points", sa.JSON),
    sa.column("draft_hash", sa.String),
    sa.column("updated_at", sa.DateTime(timezone=True)),
)
_bank_versions = sa.table(
    "bank_versions",
    sa.column("id", sa.Integer),
    sa.column("bank_id", sa.Integer),
    sa.column("version", sa.Integer),
    sa.column("digest", sa.String),
    sa.column("published_at", sa.DateTime(timezone=True)),
    sa.column("published_by", sa.String),
)
_members = sa.table(
    "bank_version_questions",
    sa.column("bank_version_id", sa.Integer),
    sa.column("question_id", sa.String),
    sa.column("content_hash", sa.String),
    sa.column("position", sa.Integer),
)


def load_default_bank() -> None:
    """Bank `llm`, version 1, from the frozen file. A database that graded before this migration
    already holds these questions (the service synced them); they are adopted, not duplicated."""
    if context.is_offline_mode():
        return  # `alembic upgrade --sql` renders DDL only; run `grader db upgrade` to load the bank
    frozen: dict[str, Any] = json.loads(FROZEN_BANK.read_text(encoding="utf-8"))
    conn = op.get_bind()
    now = datetime.now(UTC)
    by = "migration 0005"
    conn.execute(_banks.insert().values(name=frozen["bank"], title=frozen["title"], created_at=now))
    bank_id = conn.execute(sa.select(_banks.c.id).where(_banks.c.name == frozen["bank"])).scalar_one()
    conn.execute(
        _bank_versions.insert().values(
            bank_id=bank_id, version=1, published_at=now, published_by=by, digest=frozen["digest"]
        )
    )
    version_id = conn.execute(sa.select(_bank_versions.c.id).where(_bank_versions.c.bank_id == bank_id)).scalar_one()
    for position, ref in enumerate(frozen["questions"], start=1):
        qid, question, content_hash = ref["id"], ref["question"], ref["content_hash"]
        key_points, reference_answer = ref["key_points"], ref["reference_answer"]
        if conn.execute(sa.select(_questions.c.id).where(_questions.c.id == qid)).first():
            conn.execute(
                _questions.update()
                .where(_questions.c.id == qid)
                .values(text=question, current_hash=content_hash, updated_at=now)
            )
        else:
            conn.execute(_questions.insert().values(id=qid, text=question, current_hash=content_hash, updated_at=now))
        same = (_versions.c.question_id == qid) & (_versions.c.content_hash == content_hash)
        if conn.execute(sa.select(_versions.c.question_id).where(same)).first():
            conn.execute(_versions.update().where(same).values(question=question))
        else:
            conn.execute(
                _versions.insert().values(
                    question_id=qid,
                    content_hash=content_hash,
                    question=question,
                    reference_answer=reference_answer,
                    key_points=key_points,
                    created_at=now,
                )
            )
        conn.execute(
            _drafts.insert().values(
                question_id=qid,
                bank_id=bank_id,
                position=position,
                question=question,
                reference_answer=reference_answer,
                key_points=key_points,
                draft_hash=content_hash,
                updated_at=now,
            )
        )
        conn.execute(
            _members.insert().values(
                bank_version_id=version_id, question_id=qid, content_hash=content_hash, position=position
            )
        )
    # No calibration version is stored for `llm`: like every bank it grades with the shipped calibration
    # (which moves with the scoring code) until an admin publishes one of its own.


def downgrade() -> None:
    with op.batch_alter_table("submissions", schema=None) as batch_op:
        batch_op.drop_constraint(
            batch_op.f("fk_submissions_question_id_reference_hash_reference_versions"), type_="foreignkey"
        )
        batch_op.drop_column("reference_hash")
    op.drop_table("calibration_versions")
    op.drop_table("bank_version_questions")
    with op.batch_alter_table("reference_versions", schema=None) as batch_op:
        batch_op.drop_column("question")
    op.drop_table("bank_versions")
    with op.batch_alter_table("bank_questions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_bank_questions_bank_id_position"))
    op.drop_table("bank_questions")
    op.drop_table("banks")
