"""`alembic upgrade head` on an empty Postgres and an empty SQLite database, and models == migrations."""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from psycopg import sql
from sqlalchemy import inspect, text
from sqlalchemy.exc import DBAPIError

from grader.db.base import Base
from grader.db.migrate import alembic_config
from grader.db.session import make_engine
from grader.settings import Settings
from tests.support.services import PG_DEFAULT, with_path

pytestmark = pytest.mark.services

# The service's tables; other features (batches) add their own.
TABLES = {
    "alembic_version",
    "questions",
    "reference_versions",
    "submissions",
    "grades",
    "api_keys",
    "audit_log",
}


@pytest.fixture
def empty_postgres(pg_url: str) -> Iterator[str]:  # pg_url: fails loudly when Postgres is down
    admin_url = os.environ.get("GRADER_TEST_DATABASE_URL", PG_DEFAULT)
    name = f"grader_migrate_{secrets.token_hex(4)}"
    with psycopg.connect(admin_url, autocommit=True) as admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield Settings(database_url=with_path(admin_url, "/" + name)).database_url
    finally:
        with psycopg.connect(admin_url, autocommit=True) as admin:
            admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


def upgrade_and_compare(url: str) -> None:
    command.upgrade(alembic_config(url), "head")
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            assert set(inspect(conn).get_table_names()) >= TABLES
            context = MigrationContext.configure(conn, opts={"compare_type": True})
            assert compare_metadata(context, Base.metadata) == []
    finally:
        engine.dispose()
    # ... and back down to nothing, and up again.
    command.downgrade(alembic_config(url), "base")
    command.upgrade(alembic_config(url), "head")


def test_migrations_build_the_models_on_empty_postgres(empty_postgres: str) -> None:
    upgrade_and_compare(empty_postgres)


def test_migrations_build_the_models_on_empty_sqlite(tmp_path: Path) -> None:
    upgrade_and_compare(f"sqlite:///{tmp_path / 'grader.db'}")


def test_audit_log_is_append_only_on_postgres(pg_url: str) -> None:
    engine = make_engine(Settings(database_url=pg_url).database_url)
    try:
        with engine.begin() as conn:
            conn.execute(
                text(
                    "INSERT INTO audit_log (at, actor, action, entity_type, entity_id, details) "
                    "VALUES (now(), 'test', 'test.append', 'test', '1', '{}')"
                )
            )
        for statement in ("UPDATE audit_log SET actor = 'forged'", "DELETE FROM audit_log"):
            with pytest.raises(DBAPIError, match="append-only"), engine.begin() as conn:
                conn.execute(text(statement))
    finally:
        engine.dispose()
