"""Helpers every command group shares."""

from __future__ import annotations

from grader.settings import get_settings


def configure_logging(level: str) -> None:
    from grader.observability import configure_logging as configure

    configure(level, get_settings().log_format)


def safe_url(url: str) -> str:
    """The database URL without its password, for messages."""
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)
