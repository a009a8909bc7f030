"""Run the Alembic migrations in `migrations/` (next to `alembic.ini` at the project root), and the one rule
for when a door migrates by itself (`prepare_database`)."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING

from alembic import command
from alembic.config import Config

from grader.errors import GraderError

if TYPE_CHECKING:
    from grader.settings import Settings

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


_MIGRATION_LOGGER = "alembic.runtime.migration"


class _Steps(logging.Filter):
    """Keeps alembic's ~10 INFO lines per run (plugins, context, one per step) off the log; notes the steps."""

    def __init__(self) -> None:
        super().__init__()
        self.steps: list[str] = []

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if message.startswith("Running upgrade "):
            self.steps.append(message.removeprefix("Running upgrade ").split(",")[0].strip())
        return record.levelno >= logging.WARNING


def upgrade(url: str, revision: str = "head") -> None:
    """Migrate; logs one line when steps ran (alembic's own INFO lines only at DEBUG)."""
    log = logging.getLogger(__name__)
    if log.isEnabledFor(logging.DEBUG):
        command.upgrade(alembic_config(url), revision)
        return
    steps, alembic_log, migration_log = _Steps(), logging.getLogger("alembic"), logging.getLogger(_MIGRATION_LOGGER)
    levels = alembic_log.level, migration_log.level
    alembic_log.setLevel(logging.WARNING)  # plugins, dialect notes
    migration_log.setLevel(logging.INFO)  # its INFO records reach the filter, which notes the steps and drops them
    migration_log.addFilter(steps)
    try:
        command.upgrade(alembic_config(url), revision)
    finally:
        migration_log.removeFilter(steps)
        alembic_log.setLevel(levels[0])
        migration_log.setLevel(levels[1])
    if steps.steps:
        log.info("database migrated: %s", ", ".join(steps.steps))


def prepare_database(settings: Settings) -> None:
    """Every door's one rule before it opens a session (`grader serve`, `grader banks`, `grader batch`): the
    embedded default migrates its SQLite database on first use, so the default bank comes with the schema
    (migration 0005 loads it; nothing else to sync). With Redis, migrations are `grader db upgrade`'s job
    (the one-shot `migrate` service in docker-compose), never a server's or a command's."""
    if settings.embedded and settings.database_url.startswith("sqlite"):
        upgrade(settings.database_url)
