"""The database's copy of the reference bank: questions and every reference version ever graded against.

Files are the source of truth for the current bank; the database keeps each version a grade names, so
an old grade can always show what it was graded against. Two per-process caches skip statements on the
hot paths: `ensure_question` (submit) and `store_versions` (record). Functions take the caller's
session and never commit.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from functools import lru_cache
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from grader.db.base import Base, utcnow
from grader.db.models import Question, ReferenceVersion
from grader.db.session import on_commit
from grader.scoring.types import Reference


def _insert_ignore(session: Session, model: type[Any], values: dict[str, Any], keys: Sequence[str]) -> bool:
    """INSERT … ON CONFLICT DO NOTHING on Postgres and SQLite alike; True when a row was written."""
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    result = session.execute(insert(model).values(**values).on_conflict_do_nothing(index_elements=keys))
    return bool(getattr(result, "rowcount", 0))


def _store_reference_version(session: Session, ref: Reference) -> None:
    _insert_ignore(session, Question, {"id": ref.id, "text": ref.question, "current_hash": ref.content_hash}, ["id"])
    _insert_ignore(
        session,
        ReferenceVersion,
        {
            "question_id": ref.id,
            "content_hash": ref.content_hash,
            "reference_answer": ref.reference_answer,
            "key_points": ref.model_dump(mode="json")["key_points"],
        },
        ["question_id", "content_hash"],
    )


def sync_question(session: Session, ref: Reference) -> None:
    """Make the questions table show `ref` as current, keeping every earlier version for old grades."""
    _store_reference_version(session, ref)
    session.execute(
        update(Question)
        .where(Question.id == ref.id, Question.current_hash != ref.content_hash)
        .values(text=ref.question, current_hash=ref.content_hash, updated_at=utcnow())
    )


def sync_bank(session: Session, bank: Mapping[str, Reference]) -> None:
    for ref in bank.values():
        sync_question(session, ref)


# (database, reference hash) pairs this process has stored: submit skips three statements per request.
_stored: set[tuple[str, str]] = set()


def ensure_question(session: Session, ref: Reference) -> None:
    """`sync_question`, once per process, database and reference version."""
    marker = (str(session.get_bind().engine.url), ref.content_hash)
    if marker not in _stored:
        sync_question(session, ref)
        on_commit(session, lambda: _stored.add(marker))


# (database, question, reference hash) this process has stored; `store_versions` skips storing them again.
VersionMarker = tuple[str, str, str]
_stored_versions: set[VersionMarker] = set()


@lru_cache(maxsize=4)
def _insert_version(dialect: str) -> Any:
    # Built once per dialect: a grading run only binds its values (one multi-row statement).
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    return insert(Base.metadata.tables["reference_versions"]).on_conflict_do_nothing(
        index_elements=["question_id", "content_hash"]
    )


def store_versions(session: Session, refs: Iterable[Reference]) -> set[VersionMarker]:
    """Store the reference versions a grade names (the worker's bank may be newer than what submit stored;
    the question row exists: the submission refers to it). Once per process and version. Returns the
    markers, for `forget_versions` if the caller's transaction fails."""
    bind = session.get_bind()
    versions = {(str(bind.engine.url), ref.id, ref.content_hash): ref for ref in refs}
    missing = {marker: ref for marker, ref in versions.items() if marker not in _stored_versions}
    if missing:
        session.execute(
            _insert_version(bind.dialect.name),
            [
                {
                    "question_id": ref.id,
                    "content_hash": ref.content_hash,
                    "reference_answer": ref.reference_answer,
                    "key_points": ref.model_dump(mode="json")["key_points"],
                    "created_at": utcnow(),
                }
                for ref in missing.values()
            ],
        )
        on_commit(session, lambda: _stored_versions.update(missing))
    return set(versions)


def forget_versions(markers: Iterable[VersionMarker]) -> None:
    """A database recreated under a running worker would otherwise fail every grade on the foreign key:
    the retry stores the versions again."""
    _stored_versions.difference_update(markers)


def question_choices(session: Session) -> list[tuple[str, str]]:
    """(id, text) of every question the database knows, for filter menus."""
    return [(qid, text) for qid, text in session.execute(select(Question.id, Question.text).order_by(Question.id))]
