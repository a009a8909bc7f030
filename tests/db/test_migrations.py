"""`alembic upgrade head` on an empty Postgres and an empty SQLite database, and models == migrations;
the migrations carry the data they load (frozen beside them) and import no grader code."""

from __future__ import annotations

import ast
import json
import os
import secrets
import shutil
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import psycopg
import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from psycopg import sql
from sqlalchemy import Row, inspect, text
from sqlalchemy.exc import DBAPIError

from grader.db.base import Base
from grader.db.migrate import PROJECT_ROOT, alembic_config
from grader.db.session import make_engine
from grader.settings import Settings
from tests.support.services import PG_DEFAULT, with_path

VERSIONS = PROJECT_ROOT / "migrations" / "versions"
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


@pytest.mark.services
def test_migrations_build_the_models_on_empty_postgres(empty_postgres: str) -> None:
    upgrade_and_compare(empty_postgres)


def test_migrations_build_the_models_on_empty_sqlite(tmp_path: Path) -> None:
    upgrade_and_compare(f"sqlite:///{tmp_path / 'grader.db'}")


@pytest.mark.services
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


def test_migrations_import_no_grader_code() -> None:
    """A migration runs as it was written: what it needs of the grader is copied into it or frozen beside
    it, so the code moving on cannot change a database built from zero (env.py alone wires the models in)."""
    for path in sorted(VERSIONS.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else []
            if isinstance(node, ast.ImportFrom):
                names = [node.module or ""]
            assert not [n for n in names if n == "grader" or n.startswith("grader.")], path.name


def test_a_database_built_from_the_migrations_alone_holds_the_frozen_default_bank(tmp_path: Path) -> None:
    """Built from a copy of alembic.ini and migrations/ with no reference_answers/ beside them, the
    database holds bank `llm` version 1 exactly as frozen in 0005_banks.json, and version 2 (0013: q06's
    new key points) exactly as frozen in 0013_llm_bank_v2.json, which the drafts hold too."""
    root = tmp_path / "root"
    root.mkdir()
    shutil.copy(PROJECT_ROOT / "alembic.ini", root / "alembic.ini")
    shutil.copytree(PROJECT_ROOT / "migrations", root / "migrations", ignore=shutil.ignore_patterns("__pycache__"))
    url = f"sqlite:///{tmp_path / 'grader.db'}"
    command.upgrade(alembic_config(url, root=root), "head")
    v1 = json.loads((VERSIONS / "0005_banks.json").read_text(encoding="utf-8"))
    v2_change = json.loads((VERSIONS / "0013_llm_bank_v2.json").read_text(encoding="utf-8"))
    fields = ("id", "question", "reference_answer", "key_points", "content_hash")
    changed = {k: v2_change["question"][k] for k in fields}
    v2_questions = [changed if q["id"] == "q06" else q for q in v1["questions"]]
    v2 = {**v1, "digest": v2_change["digest"], "questions": v2_questions}
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            published = {}
            for version in (1, 2):
                digest = conn.execute(
                    text("SELECT digest FROM bank_versions WHERE version = :v"), {"v": version}
                ).scalar_one()
                rows = conn.execute(
                    text(
                        "SELECT r.question_id, r.question, r.reference_answer, r.key_points, m.content_hash "
                        "FROM bank_version_questions m JOIN bank_versions v ON v.id = m.bank_version_id "
                        "JOIN reference_versions r "
                        "ON r.question_id = m.question_id AND r.content_hash = m.content_hash "
                        "WHERE v.version = :v ORDER BY m.position"
                    ),
                    {"v": version},
                ).all()
                published[version] = (digest, _questions(rows))
            drafts = conn.execute(
                text(
                    "SELECT question_id, question, reference_answer, key_points, draft_hash AS content_hash "
                    "FROM bank_questions ORDER BY position"
                )
            ).all()
    finally:
        engine.dispose()
    assert published[1] == (v1["digest"], v1["questions"])
    assert published[2] == (v2["digest"], v2["questions"])
    assert _questions(drafts) == v2["questions"]


def _questions(rows: Sequence[Row[Any]]) -> list[dict[str, object]]:
    return [
        {
            "id": r.question_id,
            "question": r.question,
            "reference_answer": r.reference_answer,
            "key_points": json.loads(r.key_points),
            "content_hash": r.content_hash,
        }
        for r in rows
    ]
