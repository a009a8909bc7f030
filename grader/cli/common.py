"""Helpers every command group shares."""

from __future__ import annotations

from datetime import datetime

from grader.settings import get_settings


def configure_logging(level: str) -> None:
    from grader.observability import configure_logging as configure

    configure(level, get_settings().log_format)


def safe_url(url: str) -> str:
    """The database URL without its password, for messages."""
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


def shown_time(value: datetime | None) -> str:
    """A time as the dashboard shows it: in GRADER_DISPLAY_TIMEZONE, named (`2026-11-29 16:05 (UTC+8)`),
    so a time read in the terminal and one read on a page agree."""
    from grader.dashboard.views import local_time
    from grader.settings import display_zone

    if value is None:
        return "-"
    return local_time(value, display_zone(get_settings().display_timezone))
