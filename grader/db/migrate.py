"""Run the Alembic migrations in `migrations/` (next to `alembic.ini` at the project root)."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config

from grader.errors import GraderError

PROJECT_ROOT = Path(__file__).resolve().parents[2]


def alembic_config(url: str, *, root: Path = PROJECT_ROOT) -> Config:
    ini = root / "alembic.ini"
    if not ini.is_file():
        raise GraderError(
            f"{ini} not found: run migrations from a checkout (or image) that has "
            "alembic.ini and migrations/ at its top level"
        )
    config = Config(str(ini))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    # Do not let alembic's fileConfig replace the logging of the process that calls us.
    config.attributes["configure_logging"] = False
    return config


def upgrade(url: str, revision: str = "head") -> None:
    command.upgrade(alembic_config(url), revision)
