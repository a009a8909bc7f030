"""Configuration from the environment (prefix `GRADER_`), read once through `get_settings()`.

Nothing here runs at import: tests and the CLI build `Settings()` themselves or clear the cache.
With nothing set, the grader runs on its embedded default: a SQLite file in the working directory
and grading in a background thread of the API process.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from grader.references import DEFAULT_DIR

DEV_SECRET = "dev-insecure-secret-change-me"


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

    @field_validator("database_url")
    @classmethod
    def _driver(cls, url: str) -> str:
        # Users write postgresql://user@host/db as psql takes it; SQLAlchemy needs the driver named.
        for prefix in ("postgresql://", "postgres://"):
            if url.startswith(prefix):
                return "postgresql+psycopg://" + url[len(prefix):]
        return url

    @property
    def embedded(self) -> bool:
        """No broker configured: grade in-process."""
        return self.redis_url is None


@lru_cache
def get_settings() -> Settings:
    return Settings()
