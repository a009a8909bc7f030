"""Databases for the bank tests: SQLite copied from one migrated template per session (fast), and
throwaway Postgres databases at Alembic head (127.0.0.1:5432, trust auth), dropped afterwards."""

from __future__ import annotations

import os
import secrets
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg
import pytest
from psycopg import sql
from sqlalchemy.orm import Session

from grader.db.migrate import upgrade
from grader.db.session import make_engine
from grader.settings import Settings

PG_DEFAULT = "postgresql://postgres@127.0.0.1:5432/test"


@pytest.fixture(scope="session")
def migrated_sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("banks") / "template.db"
    upgrade(f"sqlite:///{path}")
    return path


@pytest.fixture
def sqlite_url(migrated_sqlite_template: Path, tmp_path: Path) -> str:
    path = tmp_path / "grader.db"
    shutil.copy(migrated_sqlite_template, path)
    return f"sqlite:///{path}"


@contextmanager
def session_for(url: str) -> Iterator[Session]:
    engine = make_engine(url)
    try:
        with Session(engine, expire_on_commit=False) as session:
            yield session
    finally:
        engine.dispose()


@pytest.fixture
def session(sqlite_url: str) -> Iterator[Session]:
    with session_for(sqlite_url) as s:
        yield s


@contextmanager
def postgres_database(prefix: str = "grader_banks") -> Iterator[str]:
    """An empty database on the test server (not migrated), dropped afterwards."""
    admin_url = os.environ.get("GRADER_TEST_DATABASE_URL", PG_DEFAULT)
    name = f"{prefix}_{secrets.token_hex(4)}"
    try:
        admin = psycopg.connect(admin_url, autocommit=True, connect_timeout=5)
    except psycopg.OperationalError as exc:
        pytest.fail(f"Postgres is not reachable at {admin_url} (GRADER_TEST_DATABASE_URL): {exc}", pytrace=False)
    with admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    parts = urlsplit(admin_url)
    url = urlunsplit((parts.scheme, parts.netloc, "/" + name, parts.query, parts.fragment))
    try:
        yield Settings(database_url=url).database_url
    finally:
        with psycopg.connect(admin_url, autocommit=True) as admin:
            admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


@pytest.fixture(scope="module")
def bank_pg_url() -> Iterator[str]:
    """A migrated Postgres database of this module's own (the banks tests write whole banks)."""
    with postgres_database() as url:
        upgrade(url)
        yield url
