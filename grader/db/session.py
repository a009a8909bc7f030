"""Engines and sessions. Transactions are owned by the caller at the edge — the request dependency
(`grader.web.deps.get_db`), a task run, a CLI command — through `session_scope`; services never commit.

`on_commit(session, fn)` runs `fn` only after the surrounding transaction commits (and forgets it on
rollback): how a submission is enqueued only once its row is visible to the worker.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.orm import Session, sessionmaker

# Registers the ORM guard that keeps the audit log append-only on every session.
from grader.db import append_only as _append_only  # noqa: F401

# `Session` is re-exported: the doors (endpoints, pages) name the type of the session they hand to use
# cases without importing SQLAlchemy themselves.
__all__ = [
    "Session",
    "SessionFactory",
    "get_engine",
    "get_session_factory",
    "make_engine",
    "on_commit",
    "schema_revision",
    "session_scope",
]

log = logging.getLogger(__name__)

SessionFactory = sessionmaker[Session]


def make_engine(url: str) -> Engine:
    if url.startswith("sqlite"):
        _private_sqlite_file(url)
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30}, hide_parameters=True)
        _sqlite_transactions(engine)
        return engine
    # pre_ping: a worker idles for hours between bursts; a connection Postgres dropped is replaced.
    # hide_parameters: errors and logs show the SQL, never the values (candidate names, emails, answers).
    return create_engine(url, pool_pre_ping=True, pool_size=5, max_overflow=10, hide_parameters=True)


SQLITE_SIDE_FILES = ("", "-wal", "-shm", "-journal")


def _private_sqlite_file(url: str) -> None:
    """The embedded database holds answers, names and session ids: readable by its owner only (0600), like
    the secret beside it. SQLite creates its -wal and -shm files with the database file's own mode, so
    creating the file 0600 before SQLite opens it covers them; files an earlier version left 0644 are
    tightened."""
    prefix = "sqlite:///"
    if not url.startswith(prefix):
        return
    path = url[len(prefix) :].split("?", 1)[0]
    if not path or path == ":memory:" or path.startswith("file:"):
        return
    with contextlib.suppress(FileExistsError, FileNotFoundError):
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    for suffix in SQLITE_SIDE_FILES:
        with contextlib.suppress(FileNotFoundError):
            if os.stat(path + suffix).st_mode & 0o077:
                os.chmod(path + suffix, 0o600)


def _sqlite_transactions(engine: Engine) -> None:
    # pysqlite's own BEGIN handling breaks SAVEPOINT and lets two writers deadlock on a lock upgrade;
    # SQLAlchemy's documented recipe takes over, with BEGIN IMMEDIATE so writers queue on busy_timeout.
    @event.listens_for(engine, "connect")
    def _connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _begin(connection: Any) -> None:
        connection.exec_driver_sql("BEGIN IMMEDIATE")


_engines: dict[str, Engine] = {}
_engines_lock = threading.Lock()


def get_engine(url: str) -> Engine:
    """One engine per database URL for the process.

    Never evicted: an engine dropped from a bounded cache would be garbage-collected with its pooled
    connections still open (a process uses one URL; the test suite, dozens).
    """
    with _engines_lock:
        if url not in _engines:
            _engines[url] = make_engine(url)
        return _engines[url]


def get_session_factory(url: str) -> SessionFactory:
    # expire_on_commit=False: a committed row is still readable when building the response.
    return sessionmaker(get_engine(url), expire_on_commit=False)


@contextmanager
def session_scope(factory: SessionFactory) -> Iterator[Session]:
    """One transaction: commit when the block ends, roll back when it raises."""
    with factory() as session:
        try:
            yield session
        except BaseException:
            session.rollback()
            raise
        session.commit()


def on_commit(session: Session, callback: Callable[[], None]) -> None:
    session.info.setdefault("on_commit", []).append(callback)


@event.listens_for(Session, "after_commit")
def _run_on_commit(session: Session) -> None:
    # SQLAlchemy also fires after_commit when a SAVEPOINT (`begin_nested`) is released; the outer
    # transaction can still roll back then, so the callbacks wait for it.
    if session.in_nested_transaction():
        return
    callbacks: list[Callable[[], None]] = session.info.pop("on_commit", [])
    for callback in callbacks:
        try:
            callback()
        except Exception:
            # The row is committed; the periodic sweep re-enqueues whatever this failed to.
            log.exception("post-commit callback failed; the sweep will retry it")


@event.listens_for(Session, "after_rollback")
def _drop_on_commit(session: Session) -> None:
    session.info.pop("on_commit", None)


def schema_revision(session: Session) -> str | None:
    """The Alembic revision the database is at (without importing Alembic); raises when it was never
    migrated (no alembic_version table)."""
    version = session.execute(text("SELECT version_num FROM alembic_version")).scalar()
    return None if version is None else str(version)
