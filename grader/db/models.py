"""Tables. Relationships are `lazy="raise"`: every query says what it loads, so no request or task
issues surprise queries (or touches a closed session) while building a response."""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    CheckConstraint,
    ForeignKey,
    ForeignKeyConstraint,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from grader.db.base import Base, utcnow


class Status(StrEnum):
    PENDING = "pending"
    RUNNING = "running"
    GRADED = "graded"
    FAILED = "failed"
    NEEDS_REVIEW = "needs_review"


class Role(StrEnum):
    RECRUITER = "recruiter"
    REVIEWER = "reviewer"
    ADMIN = "admin"


def _one_of(column: str, values: type[StrEnum]) -> str:
    return f"{column} IN ({', '.join(repr(v.value) for v in values)})"


class Question(Base):
    """A question as the bank last showed it; `current_hash` names its current reference version."""

    __tablename__ = "questions"

    id: Mapped[str] = mapped_column(String(16), primary_key=True)
    text: Mapped[str] = mapped_column(Text)
    current_hash: Mapped[str] = mapped_column(String(64))
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class ReferenceVersion(Base):
    """The reference exactly as it was graded against, kept for as long as any grade names it."""

    __tablename__ = "reference_versions"

    question_id: Mapped[str] = mapped_column(ForeignKey("questions.id"), primary_key=True)
    content_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    # NULL on versions stored by grading before banks existed; published bank versions always have it.
    question: Mapped[str | None] = mapped_column(Text)
    reference_answer: Mapped[str] = mapped_column(Text)
    key_points: Mapped[list[Any]]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class ApiKey(Base):
    __tablename__ = "api_keys"
    __table_args__ = (CheckConstraint(_one_of("role", Role), name="role"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(16))
    # sha256 of the whole key; the key itself is shown once and never stored.
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    prefix: Mapped[str] = mapped_column(String(16))  # lets an admin tell keys apart in listings
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    revoked_at: Mapped[datetime | None]


class DashboardSession(Base):
    """A signed-in dashboard session. The cookie names it; signing out or revoking the key sets
    `revoked_at`, after which the cookie is refused even though its signature is still good."""

    __tablename__ = "dashboard_sessions"
    __table_args__ = (Index(None, "key_id"),)

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    key_id: Mapped[int] = mapped_column(ForeignKey("api_keys.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    revoked_at: Mapped[datetime | None]


class Submission(Base):
    __tablename__ = "submissions"
    __table_args__ = (
        CheckConstraint(_one_of("status", Status), name="status"),
        # Idempotency keys are scoped to the API key that sent them; NULLs never collide.
        UniqueConstraint("submitted_by", "idempotency_key"),
        Index(None, "status", "updated_at"),
        Index(None, "status", "lease_until"),
        Index(None, "candidate_id"),
        Index(None, "question_id", "created_at"),
        Index(None, "created_at"),
        # The reference version the submission is graded against (pinned at submit time).
        ForeignKeyConstraint(
            ["question_id", "reference_hash"],
            ["reference_versions.question_id", "reference_versions.content_hash"],
        ),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    candidate_id: Mapped[str] = mapped_column(String(200))
    candidate_name: Mapped[str | None] = mapped_column(String(200))
    candidate_email: Mapped[str | None] = mapped_column(String(320))
    question_id: Mapped[str] = mapped_column(ForeignKey("questions.id"))
    answer: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16), default=Status.PENDING)
    failure_reason: Mapped[str | None] = mapped_column(Text)
    attempts: Mapped[int] = mapped_column(default=0)
    submitted_by: Mapped[int | None] = mapped_column(ForeignKey("api_keys.id"))
    idempotency_key: Mapped[str | None] = mapped_column(String(200))
    request_hash: Mapped[str | None] = mapped_column(String(64))
    reference_hash: Mapped[str | None] = mapped_column(String(64))  # NULL: submitted before pinning
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # Bumped on every status change and every re-enqueue: the sweep's clock.
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    graded_at: Mapped[datetime | None]
    # The lease of a running submission: which worker holds it (host:pid) and until when. Renewed while it
    # grades; a lease past its end means the worker is gone, and the lease sweep hands the work on.
    claimed_by: Mapped[str | None] = mapped_column(String(200))
    lease_until: Mapped[datetime | None]

    grades: Mapped[list[Grade]] = relationship(
        back_populates="submission", lazy="raise", order_by="Grade.created_at.desc()"
    )


class Grade(Base):
    """One engine run for one submission. Unique per (submission, scoring version, reference hash), so
    a task that runs twice writes one row, and a re-grade under a new engine or reference adds one."""

    __tablename__ = "grades"
    __table_args__ = (
        UniqueConstraint("submission_id", "scoring_version", "reference_hash"),
        ForeignKeyConstraint(
            ["question_id", "reference_hash"],
            ["reference_versions.question_id", "reference_versions.content_hash"],
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    submission_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("submissions.id", ondelete="CASCADE"))
    question_id: Mapped[str] = mapped_column(String(16))
    scoring_version: Mapped[str] = mapped_column(String(32))
    reference_hash: Mapped[str] = mapped_column(String(64))
    embedder: Mapped[str] = mapped_column(String(200))
    calibration: Mapped[str] = mapped_column(String(200))
    score: Mapped[float]
    confidence: Mapped[float]
    flags: Mapped[list[Any]]
    key_points: Mapped[list[Any]]  # per-key-point breakdown as ScoreResult.key_points dumps it
    feedback: Mapped[str] = mapped_column(Text)
    signals: Mapped[dict[str, Any]]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    submission: Mapped[Submission] = relationship(back_populates="grades", lazy="raise")


class AuditEntry(Base):
    """Append-only: the service only inserts, and on Postgres a trigger refuses UPDATE and DELETE."""

    __tablename__ = "audit_log"
    __table_args__ = (Index(None, "entity_type", "entity_id"), Index(None, "at"))

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[datetime] = mapped_column(default=utcnow)
    actor_key_id: Mapped[int | None] = mapped_column(ForeignKey("api_keys.id"))
    actor: Mapped[str] = mapped_column(String(200))  # key name, or "system"/"cli" — survives key deletion
    action: Mapped[str] = mapped_column(String(64))
    entity_type: Mapped[str] = mapped_column(String(32))
    entity_id: Mapped[str] = mapped_column(String(64))
    details: Mapped[dict[str, Any]]


# Batch uploads keep their tables in their own module; importing it registers them on the metadata.
from grader.db import bank_models as _bank_models  # noqa: E402, F401
from grader.db import batch_models as _batch_models  # noqa: E402, F401
from grader.db import candidate_models as _candidate_models  # noqa: E402, F401
from grader.db import review_models as _review_models  # noqa: E402, F401
from grader.db import webhook_models as _webhook_models  # noqa: E402, F401
