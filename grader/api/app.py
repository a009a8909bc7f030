"""`create_app()`: the FastAPI application, wired for embedded mode or for Celery workers.

Embedded (no GRADER_REDIS_URL): a SQLite database is migrated at startup and a background thread grades,
so `grader serve` alone is a working system. With Redis, submissions go to Celery and migrations are the
job of `grader db upgrade` (the one-shot `migrate` service in docker-compose).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from typing import TYPE_CHECKING

from fastapi import FastAPI
from fastapi.responses import RedirectResponse

from grader import service
from grader.api import batches, errors, hardening
from grader.api import results as review_api
from grader.api.routers import health, keys, questions, submissions
from grader.dashboard import pages as dashboard
from grader.db.session import get_session_factory, session_scope
from grader.references import cached_bank
from grader.settings import Settings, get_settings

if TYPE_CHECKING:
    from grader.grading import Grader

log = logging.getLogger(__name__)


class LazyGrader:
    """Builds the grader (and loads the model) on first use, in the thread that grades."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._grader: Grader | None = None
        self._lock = threading.Lock()

    def __call__(self) -> Grader:
        with self._lock:
            if self._grader is None:
                from grader.grading import build_grader

                self._grader = build_grader(self._settings)
            return self._grader


def _prepare_database(app: FastAPI, settings: Settings) -> None:
    if settings.embedded and settings.database_url.startswith("sqlite"):
        from grader.db.migrate import upgrade

        upgrade(settings.database_url)
    try:
        with session_scope(app.state.sessions) as session:
            service.sync_bank(session, cached_bank(settings.references_dir))
    except Exception:
        log.exception("could not record the reference bank in the database; is it migrated "
                      "(`grader db upgrade`)? /readyz reports the state")


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    settings: Settings = app.state.settings
    app.state.sessions = get_session_factory(settings.database_url)
    _prepare_database(app, settings)
    worker = None
    if settings.embedded:
        from grader.worker.embedded import EmbeddedWorker

        worker = EmbeddedWorker(app.state.sessions, LazyGrader(settings),
                                review_confidence_below=settings.review_confidence_below,
                                stuck_after=timedelta(seconds=settings.stuck_after_seconds))
        app.state.dispatcher = worker
        worker.start()
    else:
        from celery import Celery

        from grader.worker.celery_app import CeleryDispatcher, configure

        app.state.dispatcher = CeleryDispatcher(configure(Celery("grader-api"), settings))
    try:
        yield
    finally:
        if worker is not None:
            worker.stop()


def create_app(settings: Settings | None = None) -> FastAPI:
    app = FastAPI(
        title="Interview answer grader",
        version="1",
        summary="Grades answers to LLM-engineering interview questions against reference key points.",
        lifespan=lifespan,
    )
    app.state.settings = settings or get_settings()
    errors.install(app)
    hardening.install(app, app.state.settings)
    for module in (health, submissions, questions, keys, batches):
        extra = {} if module is health else hardening.AUTH_RESPONSES
        app.include_router(module.router, responses={**hardening.COMMON_RESPONSES, **extra})
    app.include_router(review_api.router)
    dashboard.install(app)

    @app.get("/", include_in_schema=False)
    def home() -> RedirectResponse:  # a person opening the server's address lands on the dashboard
        return RedirectResponse("/dashboard/")

    return app
