"""Configuration from the environment (prefix `GRADER_`), read once through `get_settings()`.

Nothing here runs at import: tests and the CLI build `Settings()` themselves or clear the cache.
With nothing set, the grader runs on its embedded default: a SQLite file in the working directory
and grading in a background thread of the API process.
"""

from __future__ import annotations

import re
import zoneinfo
from datetime import UTC, timedelta, timezone, tzinfo
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from grader.questions.references import DEFAULT_DIR

DEV_SECRET = "dev-insecure-secret-change-me"
MIN_SECRET_CHARS = 32


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="GRADER_", env_file=".env", extra="ignore")

    database_url: str = "sqlite:///./grader.db"
    redis_url: str | None = None
    embedder: str = "use"
    references_dir: Path = DEFAULT_DIR
    calibration_file: Path = Field(default=DEFAULT_DIR / "calibration.json")
    secret_key: SecretStr = SecretStr(DEV_SECRET)
    max_answer_chars: int = 10_000
    # A grade below this confidence, or with any flag, goes to the reviewers' queue.
    review_confidence_below: float = 0.5
    # Submissions left pending/running longer than this are re-enqueued by the periodic sweep.
    stuck_after_seconds: int = 300
    task_time_limit_seconds: int = 120
    # Celery queue name: deployments (or test runs) sharing one Redis keep their work apart.
    celery_queue: str = "grader"
    # json: one object per line with the request id (what log shippers read); text: for a terminal.
    log_format: Literal["json", "text"] = "json"
    # Request bodies other than sheet uploads (JSON: a 10,000-character answer is well under 100 KB).
    max_body_bytes: int = 1024 * 1024
    # Per API key (per address without one): sustained requests per second and burst; 0 turns it off.
    rate_limit_per_second: float = 50.0
    rate_limit_burst: int = 200
    # Requests inside one API process at once, the rest wait their turn: below the database pool's 15
    # connections, so a burst can never leave every thread waiting for a connection (grader.web.limits).
    max_concurrent_requests: int = 12
    # The zone the dashboard shows times in, always with its label ("2026-11-29 16:05 (UTC+8)"): an IANA
    # name (Asia/Shanghai, UTC, Europe/Berlin) or a fixed offset (UTC+8, +08:00). The API and the
    # exports give ISO 8601 times with their offset whatever this says.
    display_timezone: str = "Asia/Shanghai"

    @field_validator("database_url")
    @classmethod
    def _driver(cls, url: str) -> str:
        # Users write postgresql://user@host/db as psql takes it; SQLAlchemy needs the driver named.
        for prefix in ("postgresql://", "postgres://"):
            if url.startswith(prefix):
                return "postgresql+psycopg://" + url[len(prefix) :]
        return url

    @field_validator("display_timezone")
    @classmethod
    def _known_zone(cls, name: str) -> str:
        display_zone(name)
        return name

    @model_validator(mode="after")
    def _no_default_secret(self) -> Settings:
        # The placeholder is for the embedded default on one machine; a deployment with a broker (or any
        # database server) serves a team and must not run on a secret that is printed in the source.
        deployed = not self.embedded or not self.database_url.startswith("sqlite")
        secret = self.secret_key.get_secret_value()
        if deployed and (secret == DEV_SECRET or len(secret) < MIN_SECRET_CHARS):
            raise ValueError(
                "GRADER_SECRET_KEY must be set to a random secret of at least "
                f"{MIN_SECRET_CHARS} characters when GRADER_REDIS_URL or a database server is configured "
                "(e.g. `openssl rand -hex 32`); the built-in placeholder is only accepted in the embedded "
                "default (SQLite, no Redis)"
            )
        return self

    @property
    def embedded(self) -> bool:
        """No broker configured: grade in-process."""
        return self.redis_url is None


# Zones people here use, for an image without a tz database (no DST in either: a fixed offset is exact).
_FIXED_ZONES = {"utc": UTC, "asia/shanghai": timezone(timedelta(hours=8)), "prc": timezone(timedelta(hours=8))}
_OFFSET_RE = re.compile(r"(?:utc|gmt)?\s*([+-])(\d{1,2})(?::?(\d{2}))?")


@lru_cache(maxsize=16)
def display_zone(name: str) -> tzinfo:
    """The zone `GRADER_DISPLAY_TIMEZONE` names; ValueError with the accepted forms when none."""
    key = name.strip()
    offset = _OFFSET_RE.fullmatch(key.lower())
    if offset:
        sign, hours, minutes = offset.groups()
        delta = timedelta(hours=int(hours), minutes=int(minutes or 0))
        if delta <= timedelta(hours=14):
            return timezone(-delta if sign == "-" else delta)
    try:
        return zoneinfo.ZoneInfo(key)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        if key.lower() in _FIXED_ZONES:
            return _FIXED_ZONES[key.lower()]
    raise ValueError(
        f"unknown time zone {name!r}: use an IANA name such as Asia/Shanghai or UTC, or an offset such as UTC+8"
    )


@lru_cache
def get_settings() -> Settings:
    return Settings()
