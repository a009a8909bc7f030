"""Question banks. A bank's questions each hold a mutable draft (`bank_questions`); publishing turns
the drafts into a `BankVersion`: one immutable, content-addressed `reference_versions` row per
question (the table grades already point at) listed by `bank_version_questions`. Calibration belongs
to a bank and is versioned the same way.

Key points are stored as JSON, not normalised tables: a reference version is written once, read
whole (the grader needs all of it, hashed as a whole), never queried by key point, and its JSON is
exactly what `Reference` validates, so the stored version and its hash cannot drift apart.

Published rows never change: the content hash is their key, and the ORM refuses to flush an UPDATE
or DELETE of a published row (below), as it does for the audit log.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, ForeignKeyConstraint, Index, String, Text, UniqueConstraint, event, inspect
from sqlalchemy.orm import Mapped, Session, mapped_column

from grader.db.base import Base, utcnow
from grader.db.models import ReferenceVersion


class Bank(Base):
    __tablename__ = "banks"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)  # slug: llm, le, ads
    title: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class BankQuestion(Base):
    """A question's draft: what an import generated and admins edited, not yet (or again) published.
    Question ids are global (submissions name them), so a question belongs to one bank."""

    __tablename__ = "bank_questions"
    __table_args__ = (Index(None, "bank_id", "position"),)

    question_id: Mapped[str] = mapped_column(String(16), primary_key=True)
    bank_id: Mapped[int] = mapped_column(ForeignKey("banks.id", ondelete="CASCADE"))
    position: Mapped[int]
    question: Mapped[str] = mapped_column(Text)
    reference_answer: Mapped[str] = mapped_column(Text)
    key_points: Mapped[list[Any]]
    draft_hash: Mapped[str] = mapped_column(String(64))  # the content hash the draft would publish as
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class BankVersion(Base):
    __tablename__ = "bank_versions"
    __table_args__ = (UniqueConstraint("bank_id", "version"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    bank_id: Mapped[int] = mapped_column(ForeignKey("banks.id", ondelete="CASCADE"))
    version: Mapped[int]  # 1, 2, … per bank
    digest: Mapped[str] = mapped_column(String(64))  # over its (question id, content hash) pairs
    published_at: Mapped[datetime] = mapped_column(default=utcnow)
    published_by: Mapped[str] = mapped_column(String(200))


class BankVersionQuestion(Base):
    __tablename__ = "bank_version_questions"
    __table_args__ = (
        ForeignKeyConstraint(
            ["question_id", "content_hash"],
            ["reference_versions.question_id", "reference_versions.content_hash"],
            name="fk_bank_version_questions_reference_versions",
        ),
    )

    bank_version_id: Mapped[int] = mapped_column(ForeignKey("bank_versions.id", ondelete="CASCADE"), primary_key=True)
    # Indexed alone too: a submission's pin lookup reads the versions that hold its question.
    question_id: Mapped[str] = mapped_column(String(16), primary_key=True, index=True)
    content_hash: Mapped[str] = mapped_column(String(64))
    position: Mapped[int]


class CalibrationVersion(Base):
    """A bank's calibration (`grader.scoring.calibration.Calibration` as JSON). Unpublished while
    `published_at` is NULL; the latest published one grades the bank, the shipped file otherwise."""

    __tablename__ = "calibration_versions"
    __table_args__ = (UniqueConstraint("bank_id", "version"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    bank_id: Mapped[int] = mapped_column(ForeignKey("banks.id", ondelete="CASCADE"))
    version: Mapped[int]
    digest: Mapped[str] = mapped_column(String(64))
    params: Mapped[dict[str, Any]]
    source: Mapped[str] = mapped_column(String(200))  # what it was fitted on
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    published_at: Mapped[datetime | None]
    published_by: Mapped[str | None] = mapped_column(String(200))


class PublishedIsImmutable(RuntimeError):
    pass


_IMMUTABLE = (ReferenceVersion, BankVersion, BankVersionQuestion)


def _was_published(obj: CalibrationVersion) -> bool:
    history = inspect(obj).attrs.published_at.history
    before = history.deleted[0] if history.deleted else history.unchanged[0] if history.unchanged else None
    return before is not None


@event.listens_for(Session, "before_flush")
def _published_rows_stay(session: Session, _context: Any, _instances: Any) -> None:
    for obj in [*session.dirty, *session.deleted]:
        deleted = obj in session.deleted
        if isinstance(obj, _IMMUTABLE) and (deleted or session.is_modified(obj, include_collections=False)):
            raise PublishedIsImmutable(
                f"{type(obj).__tablename__} rows are published and immutable: "
                f"{'DELETE' if deleted else 'UPDATE'} refused; publish a new version"
            )
        if (
            isinstance(obj, CalibrationVersion)
            and _was_published(obj)
            and (deleted or session.is_modified(obj, include_collections=False))
        ):
            raise PublishedIsImmutable(
                f"calibration version {obj.version} is published and immutable; fit and publish a new version"
            )
