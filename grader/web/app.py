"""`create_app()`: the FastAPI application, wired for embedded mode or for Celery workers.

Embedded (no GRADER_REDIS_URL): a SQLite database is migrated at startup and a background thread grades,
so `grader serve` alone is a working system. With Redis, submissions go to Celery and migrations are the
job of `grader db upgrade` (the one-shot `migrate` service in docker-compose). Either way the queue
backend is built once, here in the lifespan (`grader.queue.build`).
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.responses import RedirectResponse

from grader.batches import api as batches
from grader.candidates import api as candidates
from grader.dashboard import pages as dashboard
from grader.db.session import get_session_factory
from grader.keys import api as keys
from grader.questions import api as questions
from grader.questions import bank_api as banks
from grader.queue.build import build_queue
from grader.review import api as review
from grader.settings import Settings, get_settings, with_secret
from grader.submissions import api as submissions
from grader.web import docs, errors, hardening, health
from grader.webhooks import api as webhooks

log = logging.getLogger(__name__)


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    settings: Settings = app.state.settings
    app.state.sessions = get_session_factory(settings.database_url)
    from grader.db.migrate import prepare_database  # alembic, imported only where it may run

    prepare_database(settings)
    app.state.queue = build_queue(settings, app.state.sessions)
    app.state.queue.start()
    try:
        yield
    finally:
        app.state.queue.stop()


def create_app(settings: Settings | None = None) -> FastAPI:
    app = FastAPI(
        title="Interview answer grader",
        version="1",
        summary="Grades answers to LLM-engineering interview questions against reference key points.",
        lifespan=lifespan,
        # Served from the package's own files, under the app's CSP (grader.web.docs): never from a CDN.
        docs_url=None,
        redoc_url=None,
    )
    app.state.settings = with_secret(settings or get_settings())
    errors.install(app)
    hardening.install(app, app.state.settings)
    for module in (health, submissions, candidates, questions, banks, keys, batches, webhooks):
        extra = {} if module is health else hardening.AUTH_RESPONSES
        app.include_router(module.router, responses={**hardening.COMMON_RESPONSES, **extra})
    app.include_router(review.router)
    dashboard.install(app)
    if app.state.settings.api_docs:
        docs.install(app)

    @app.get("/", include_in_schema=False)
    def home() -> RedirectResponse:  # a person opening the server's address lands on the dashboard
        return RedirectResponse("/dashboard/")

    return app
