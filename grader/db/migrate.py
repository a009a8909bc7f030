"""Run the Alembic migrations in `migrations/` (next to `alembic.ini` at the project root)."""

from __future__ import annotations

import logging
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
