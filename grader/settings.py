"""Configuration from the environment (prefix `GRADER_`), read once through `get_settings()`.

Nothing here runs at import: tests and the CLI build `Settings()` themselves or clear the cache.
With nothing set, the grader runs on its embedded default: a SQLite file in the working directory
and grading in a background thread of the API process.
"""

from __future__ import annotations

import contextlib
import os
import re
import secrets
import zoneinfo
from datetime import UTC, timedelta, timezone, tzinfo
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

# The shipped reference bank and calibration, beside the package (`grader.questions.references` reads it).
SHIPPED_REFERENCES = Path(__file__).resolve().parents[1] / "reference_answers"

# The placeholder an earlier version accepted in embedded mode; anyone could sign sessions with it, so
# it is refused everywhere. Kept only to refuse it (and for the test that forges a cookie with it).
DEV_SECRET = "dev-insecure-secret-change-me"
MIN_SECRET_CHARS = 32
SECRET_FILE_SUFFIX = ".secret"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="GRADER_", env_file=".env", extra="ignore")

    database_url: str = "sqlite:///./grader.db"
    redis_url: str | None = None
    embedder: str = "use"
    references_dir: Path = SHIPPED_REFERENCES
    calibration_file: Path = Field(default=SHIPPED_REFERENCES / "calibration.json")
    # Signs the dashboard's session cookies. Unset in the embedded default: a random one is made on first
    # start and kept beside the SQLite file (`embedded_secret`); required with Redis or a database server.
    secret_key: SecretStr | None = None
    max_answer_chars: int = 10_000
    # A grade below this confidence, or with any flag, goes to the reviewers' queue.
    review_confidence_below: float = 0.5
    # Submissions left pending/running longer than this are re-enqueued by the periodic sweep.
    stuck_after_seconds: int = 300
    # A claim is a lease of this many seconds, renewed while the worker grades; the sweep runs every
    # `lease_sweep_seconds` and hands out work whose lease ran out (a dead worker) within about a minute.
    lease_seconds: float = 20.0
    lease_sweep_seconds: int = 10
    task_time_limit_seconds: int = 120
    # Grading processes per `grader worker`: 0 is one per core of the machine it runs on. Each grades one
    # task at a time; the model is loaded once in the worker's main process before the pool forks, so
    # the processes share its weights read-only (copy-on-write) instead of loading one copy each.
    worker_concurrency: int = Field(default=0, ge=0)
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
    # Request bodies are read before admission, under an idle deadline between chunks and a total one
    # (408, connection closed): a client trickling a body holds a socket, never an admission slot.
    body_idle_timeout_seconds: float = 10.0
    body_total_timeout_seconds: float = 60.0
    upload_total_timeout_seconds: float = 300.0
    # Unknown API keys and dashboard sign-in attempts, per client address: refill per second and burst
    # (then 429). A fresh random key per request draws from the same address budget.
    auth_failures_per_second: float = 0.5
    auth_failures_burst: int = 20
    # `/metrics`: answered to these client addresses (CIDRs; loopback by default: a Prometheus on the same
    # host, or behind the proxy that terminates TLS), or to anyone sending `Authorization: Bearer <key>`.
    metrics_allow: list[str] = ["127.0.0.0/8", "::1/128"]
    metrics_key: SecretStr | None = None
    # Proxies whose X-Forwarded-For / X-Forwarded-Proto are believed (addresses or CIDRs, e.g. the load
    # balancer's); empty, the default, believes none: the client address is the socket's peer. Otherwise
    # any local process (or a loopback-facing proxy that passes the header through) could pick a fresh
    # address per request and escape the per-address budgets.
    trusted_proxies: list[str] = []
    # `/docs` and `/redoc`, served from the files of the installed `fastapi-offline` package (no CDN).
    api_docs: bool = True
    # Submissions by status are counted at most this often (a scrape between two counts reads the last).
    metrics_refresh_seconds: float = 15.0
    # Webhooks (grader.webhooks). Receivers on loopback, private or link-local addresses are refused
    # (a key holder must not make the service call into its own network) unless this allows them: tests,
    # and on-premises receivers inside the same network.
    webhook_allow_private: bool = False
    # Seconds to wait before each retry of a delivery that failed; the last retry is about 2 days after
    # the first attempt (receivers get at least a day to come back), then the delivery is marked failed.
    webhook_retry_seconds: list[float] = [30, 120, 600, 1800, 3600, 7200, 14400, 28800, 43200, 86400]
    # One attempt waits this long for the receiver's answer (its worker thread is the only thing held).
    webhook_timeout_seconds: float = 10.0
    # How often the dispatcher (on beat) sends due deliveries to the webhooks queue.
    webhook_dispatch_seconds: float = 5.0

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
    def _no_weak_secret(self) -> Settings:
        # A deployment with a broker (or any database server) serves a team and must be given its secret;
        # the embedded default makes its own. A secret printed in the source is refused everywhere.
        deployed = not self.embedded or not self.database_url.startswith("sqlite")
        secret = self.secret_key.get_secret_value() if self.secret_key is not None else None
        if secret is None and not deployed:
            return self
        if secret is None or secret == DEV_SECRET or len(secret) < MIN_SECRET_CHARS:
            raise ValueError(
                f"GRADER_SECRET_KEY must be a random secret of at least {MIN_SECRET_CHARS} characters "
                "(e.g. `openssl rand -hex 32`); it is required when GRADER_REDIS_URL or a database server is "
                "configured, and the old built-in placeholder is refused. Leave it unset in the embedded "
                "default (SQLite, no Redis): a random secret is then kept beside the database file"
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


def secret_file(database_url: str) -> Path | None:
    """Where the embedded default keeps its secret: beside the SQLite file (None for an in-memory one)."""
    prefix = "sqlite:///"
    if not database_url.startswith(prefix):
        return None
    path = database_url[len(prefix) :].split("?", 1)[0]
    if not path or path == ":memory:":
        return None
    return Path(path + SECRET_FILE_SUFFIX)


def embedded_secret(database_url: str) -> str:
    """The embedded default's session secret: read from beside the database, or made on first start.

    Created atomically and readable only by its owner: written to a private temporary file (0600) then
    hard-linked into place, so two processes starting at once agree on one secret and nobody ever reads a
    half-written file. Reused on restart, so sessions survive it. An in-memory database gets a secret for
    this process only.
    """
    path = secret_file(database_url)
    if path is None:
        return secrets.token_hex(32)
    if path.exists():
        return _read_secret(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w", encoding="ascii") as handle:
            handle.write(secrets.token_hex(32) + "\n")
            handle.flush()
            os.fsync(handle.fileno())
        with contextlib.suppress(FileExistsError):  # another process made it first: use theirs
            os.link(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return _read_secret(path)


def _read_secret(path: Path) -> str:
    if path.stat().st_mode & 0o077:
        os.chmod(path, 0o600)
    secret = path.read_text(encoding="ascii").strip()
    if len(secret) < MIN_SECRET_CHARS or secret == DEV_SECRET:
        raise ValueError(f"{path} does not hold a usable secret; delete it and a new one is made on start")
    return secret


def with_secret(settings: Settings) -> Settings:
    """`settings` with its session secret: the configured one, else the embedded default's own."""
    if settings.secret_key is not None:
        return settings
    return settings.model_copy(update={"secret_key": SecretStr(embedded_secret(settings.database_url))})


@lru_cache
def get_settings() -> Settings:
    return Settings()
