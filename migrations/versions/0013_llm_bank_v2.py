"""Bank `llm` version 2: q06's direction key points also name the words candidates use for them
(温度越大 / 调大 for "大于 1", 越平 / 变平 for the flatter distribution, 越小 / 调小 and 越尖 / 变尖 for the other
direction). A dev-set answer marked 8/10 ("T 越大分布越平、越随机，T 越小越尖、越确定") scored 49 because the
rubric knew 越高 and 更平 but not these; the reference answer and the other eleven questions are unchanged.

Published only on a bank as migration 0005 left it: latest version 1 with its frozen digest and q06's draft
unchanged. A bank an admin has published since, or whose q06 draft was edited, is left as it is (the new
key points reach it by `grader banks import llm reference_answers/` and a publish, as any change would).
The rows come from `0013_llm_bank_v2.json` beside this file, frozen as the grader computed them.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-05 09:00:00
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from alembic import context, op

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

FROZEN = Path(__file__).with_name("0013_llm_bank_v2.json")
PUBLISHED_BY = "migration 0013"

# Lightweight tables: the migration must not depend on the models as they evolve.
_banks = sa.table("banks", sa.column("id", sa.Integer), sa.column("name", sa.String))
_questions = sa.table(
    "questions",
    sa.column("id", sa.String),
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


def _latest(conn: sa.Connection, bank_id: int) -> Any:
    return conn.execute(
        sa.select(_bank_versions.c.id, _bank_versions.c.version, _bank_versions.c.digest, _bank_versions.c.published_by)
        .where(_bank_versions.c.bank_id == bank_id)
        .order_by(_bank_versions.c.version.desc())
        .limit(1)
    ).first()


def _draft_hash(conn: sa.Connection, bank_id: int, question_id: str) -> str | None:
    return conn.execute(
        sa.select(_drafts.c.draft_hash).where(_drafts.c.bank_id == bank_id, _drafts.c.question_id == question_id)
    ).scalar_one_or_none()


def upgrade() -> None:
    if context.is_offline_mode():
        return  # `alembic upgrade --sql` renders DDL only; run `grader db upgrade` to publish the version
    frozen: dict[str, Any] = json.loads(FROZEN.read_text(encoding="utf-8"))
    ref = frozen["question"]
    conn = op.get_bind()
    bank_id = conn.execute(sa.select(_banks.c.id).where(_banks.c.name == frozen["bank"])).scalar_one_or_none()
    if bank_id is None:
        return
    latest = _latest(conn, bank_id)
    if latest is None or (latest.version, latest.digest) != (frozen["from_version"], frozen["from_digest"]):
        return  # published by an admin since: their bank, their call
    if _draft_hash(conn, bank_id, ref["id"]) != ref["from_hash"]:
        return  # q06 edited in the drafts: publishing over it would drop the edit
    now = datetime.now(UTC)
    same = (_versions.c.question_id == ref["id"]) & (_versions.c.content_hash == ref["content_hash"])
    if not conn.execute(sa.select(_versions.c.question_id).where(same)).first():
        conn.execute(
            _versions.insert().values(
                question_id=ref["id"],
                content_hash=ref["content_hash"],
                question=ref["question"],
                reference_answer=ref["reference_answer"],
                key_points=ref["key_points"],
                created_at=now,
            )
        )
    conn.execute(
        _questions.update().where(_questions.c.id == ref["id"]).values(current_hash=ref["content_hash"], updated_at=now)
    )
    conn.execute(
        _drafts.update()
        .where(_drafts.c.bank_id == bank_id, _drafts.c.question_id == ref["id"])
        .values(key_points=ref["key_points"], draft_hash=ref["content_hash"], updated_at=now)
    )
    conn.execute(
        _bank_versions.insert().values(
            bank_id=bank_id,
            version=latest.version + 1,
            digest=frozen["digest"],
            published_at=now,
            published_by=PUBLISHED_BY,
        )
    )
    version_id = conn.execute(
        sa.select(_bank_versions.c.id).where(
            _bank_versions.c.bank_id == bank_id, _bank_versions.c.version == latest.version + 1
        )
    ).scalar_one()
    members = conn.execute(
        sa.select(_members.c.question_id, _members.c.content_hash, _members.c.position).where(
            _members.c.bank_version_id == latest.id
        )
    ).all()
    conn.execute(
        _members.insert(),
        [
            {
                "bank_version_id": version_id,
                "question_id": m.question_id,
                "content_hash": ref["content_hash"] if m.question_id == ref["id"] else m.content_hash,
                "position": m.position,
            }
            for m in members
        ],
    )


def downgrade() -> None:
    """Withdraws version 2 where this migration published it and nothing came after; the reference version
    row stays (grades may name it)."""
    if context.is_offline_mode():
        return
    frozen: dict[str, Any] = json.loads(FROZEN.read_text(encoding="utf-8"))
    ref = frozen["question"]
    conn = op.get_bind()
    bank_id = conn.execute(sa.select(_banks.c.id).where(_banks.c.name == frozen["bank"])).scalar_one_or_none()
    if bank_id is None:
        return
    latest = _latest(conn, bank_id)
    if latest is None or latest.published_by != PUBLISHED_BY:
        return
    now = datetime.now(UTC)
    conn.execute(_members.delete().where(_members.c.bank_version_id == latest.id))
    conn.execute(_bank_versions.delete().where(_bank_versions.c.id == latest.id))
    previous = conn.execute(
        sa.select(_versions.c.key_points).where(
            _versions.c.question_id == ref["id"], _versions.c.content_hash == ref["from_hash"]
        )
    ).scalar_one()
    if _draft_hash(conn, bank_id, ref["id"]) == ref["content_hash"]:
        conn.execute(
            _drafts.update()
            .where(_drafts.c.bank_id == bank_id, _drafts.c.question_id == ref["id"])
            .values(key_points=previous, draft_hash=ref["from_hash"], updated_at=now)
        )
    conn.execute(
        _questions.update().where(_questions.c.id == ref["id"]).values(current_hash=ref["from_hash"], updated_at=now)
    )
