"""`grader db upgrade`: the database schema."""

from __future__ import annotations

from typing import Annotated

import typer

from grader.cli.common import configure_logging, safe_url
from grader.settings import get_settings

db_app = typer.Typer(help="Database schema.", no_args_is_help=True)


@db_app.command("upgrade")
def db_upgrade(revision: Annotated[str, typer.Argument(help="target revision")] = "head") -> None:
    """Apply the migrations in migrations/ to GRADER_DATABASE_URL (Postgres or SQLite)."""
    from grader.db.migrate import upgrade

    configure_logging("info")
    url = get_settings().database_url
    upgrade(url, revision)
    typer.echo(f"{safe_url(url)} is at {revision}", err=True)


def register(app: typer.Typer) -> None:
    app.add_typer(db_app, name="db")
